"""Build a dataset's PII policy: classify every column from a sample, with as little analysis as possible.

Columns decided by the contract, their type or their name are never analyzed. The others are
analyzed in two rounds through one batched analyzer call per round: a first slice of the sample
(``first_round`` values per column) settles clear-cut columns; only ambiguous ones get the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from atlas_core.pii.analysis import Span, TextAnalyzer
from atlas_core.pii.classify import ColumnDecision, ColumnInput, decide, pre_decision
from atlas_core.pii.entities import Strategy

DEFAULT_SAMPLE_SIZE = 500
FIRST_ROUND = 100
SETTLED_HIGH = 0.85
SETTLED_LOW = 0.05


@dataclass
class PiiPolicy:
    """Per column decisions, in column order."""

    decisions: dict[str, ColumnDecision]

    @property
    def pii_columns(self) -> dict[str, str]:
        return {name: d.entity for name, d in self.decisions.items() if d.is_pii and d.entity}

    @property
    def anonymized_columns(self) -> list[str]:
        return [name for name, d in self.decisions.items() if d.is_pii and d.strategy != "keep"]

    def report(self) -> dict[str, dict[str, object]]:
        """``{column: {entity, confidence, strategy, free_text, cells_changed}}``: names and counts only."""
        return {name: d.report() for name, d in self.decisions.items()}


def _settled(decision: ColumnDecision) -> bool:
    if decision.free_text:
        return decision.entity is not None
    return decision.confidence >= SETTLED_HIGH or decision.confidence <= SETTLED_LOW


def _analyze(analyzer: TextAnalyzer, values_by_column: dict[str, list[str]]) -> dict[str, list[list[Span]]]:
    flat = [v for values in values_by_column.values() for v in values]
    spans = analyzer.analyze_texts(flat, analyzer.entities) if flat else []
    out: dict[str, list[list[Span]]] = {}
    i = 0
    for name, values in values_by_column.items():
        out[name] = spans[i : i + len(values)]
        i += len(values)
    return out


def classify_columns(
    columns: Sequence[ColumnInput],
    analyzer: TextAnalyzer,
    *,
    threshold: float = 0.5,
    first_round: int = FIRST_ROUND,
) -> PiiPolicy:
    """Decide every column of ``columns`` (each carrying its sampled non-null values)."""
    strategies: dict[str, Strategy] = dict(analyzer.custom_strategies)  # type: ignore[arg-type]
    decisions: dict[str, ColumnDecision] = {}
    pending: dict[str, ColumnInput] = {}
    for column in columns:
        early = pre_decision(column, strategies)
        if early is None:
            pending[column.name] = column
        decisions[column.name] = early  # type: ignore[assignment]
    entities = analyzer.entities
    first = _analyze(analyzer, {n: c.values[:first_round] for n, c in pending.items()})
    second_round: dict[str, ColumnInput] = {}
    for name, column in pending.items():
        partial = ColumnInput(name, column.kind, column.values[:first_round], column.declared)
        decision = decide(partial, first[name], entities, strategies, threshold)
        if len(column.values) <= first_round or _settled(decision):
            decisions[name] = decision
        else:
            second_round[name] = column
    rest = _analyze(analyzer, {n: c.values[first_round:] for n, c in second_round.items()})
    for name, column in second_round.items():
        decisions[name] = decide(column, first[name] + rest[name], entities, strategies, threshold)
    return PiiPolicy({c.name: decisions[c.name] for c in columns})
