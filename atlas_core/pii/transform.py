"""Apply a :class:`PiiPolicy` to Arrow record batches (the silver ``BatchTransform``).

Structured PII columns are rewritten column-wise (per distinct value); free-text columns go through
the analyzer in one batch per record batch (distinct texts only) and are rewritten span by span;
every other column is passed through as the very same Arrow array.
"""

from __future__ import annotations

import pyarrow as pa

from atlas_core.pii.analysis import Span, TextAnalyzer
from atlas_core.pii.classify import FREE_TEXT_MIN_SCORE, ColumnDecision
from atlas_core.pii.entities import FREE_TEXT_EXCLUDED
from atlas_core.pii.freetext import anonymize_text, known_value_spans
from atlas_core.pii.policy import PiiPolicy
from atlas_core.pii.strategies import Anonymizer, Rule

SPAN_CACHE_LIMIT = 200_000


class PiiTransform:
    """``output_schema`` + ``__call__`` as ``atlas_engine.silver.BatchTransform`` expects."""

    def __init__(self, policy: PiiPolicy, anonymizer: Anonymizer, analyzer: TextAnalyzer | None) -> None:
        self.policy = policy
        self.anonymizer = anonymizer
        self.analyzer = analyzer
        self.rows = 0
        self._spans: dict[str, list[Span]] = {}
        if analyzer is None and any(d.free_text and d.is_pii for d in policy.decisions.values()):
            raise ValueError("free-text PII columns need an analyzer")

    # -- BatchTransform -------------------------------------------------------------------------------
    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        fields = []
        for f in schema:
            decision = self.policy.decisions.get(f.name)
            if (
                decision is not None
                and decision.is_pii
                and (decision.free_text or _rule(decision).output_is_text)
            ):
                fields.append(pa.field(f.name, pa.string()))
            else:
                fields.append(f)
        return pa.schema(fields)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns: list[pa.Array] = []
        known = self._known_values(batch)
        for name in batch.schema.names:
            values = batch.column(name)
            decision = self.policy.decisions.get(name)
            if decision is None or not decision.is_pii or decision.strategy == "keep":
                columns.append(values)
            elif decision.free_text:
                out, changed = self._free_text(values, decision, known)
                decision.cells_changed += changed
                columns.append(out)
            else:
                out, changed = self.anonymizer.apply_column(values, _rule(decision))
                decision.cells_changed += changed
                columns.append(out)
        self.rows += batch.num_rows
        return pa.RecordBatch.from_arrays(columns, schema=self.output_schema(batch.schema))

    def passes_through(self) -> bool:
        """True when the policy rewrites no column: every batch would come back unchanged."""
        return not self.policy.anonymized_columns

    # -- free text ------------------------------------------------------------------------------------
    def _known_values(self, batch: pa.RecordBatch) -> list[list[tuple[str, str]]] | None:
        """Per row, the (entity, value) pairs of its structured PII columns (to find them in free text)."""
        if not any(d.free_text and d.is_pii for d in self.policy.decisions.values()):
            return None
        sources = [
            (d.entity, batch.column(name).to_pylist())
            for name, d in self.policy.decisions.items()
            if d.is_pii and not d.free_text and d.entity and name in batch.schema.names
        ]
        rows: list[list[tuple[str, str]]] = [[] for _ in range(batch.num_rows)]
        for entity, values in sources:
            for i, value in enumerate(values):
                if value is not None:
                    rows[i].append((entity, value if isinstance(value, str) else _text(value)))
        return rows

    def _free_text(
        self, values: pa.Array, decision: ColumnDecision, known: list[list[tuple[str, str]]] | None
    ) -> tuple[pa.Array, int]:
        assert self.analyzer is not None
        texts = values.to_pylist()
        todo = sorted({t for t in texts if t and t.strip() and t not in self._spans})
        if todo:
            if len(self._spans) + len(todo) > SPAN_CACHE_LIMIT:
                self._spans.clear()
            entities = [e for e in self.analyzer.entities if e not in FREE_TEXT_EXCLUDED]
            for text, spans in zip(todo, self.analyzer.analyze_texts(todo, entities), strict=True):
                self._spans[text] = spans
        out: list[str | None] = []
        changed = 0
        for i, text in enumerate(texts):
            if not text or not text.strip():
                out.append(text)
                continue
            spans = [s for s in self._spans.get(text) or [] if s.score >= FREE_TEXT_MIN_SCORE]
            if known is not None and known[i]:
                spans.extend(known_value_spans(text, known[i]))
            if not spans:
                out.append(text)
                continue
            new = anonymize_text(
                text, spans, lambda span, original: self._replace_span(span, original, decision)
            )
            changed += new != text
            out.append(new)
        return pa.array(out, pa.string()), changed

    def _replace_span(self, span: Span, original: str, decision: ColumnDecision) -> str:
        strategy = decision.entity_strategies.get(span.entity, decision.strategy or "replace")
        if strategy == "keep":
            return original
        rule = Rule(span.entity, strategy, decision.pseudonym, decision.deterministic, decision.key_id)
        return self.anonymizer.apply(original, rule) or ""


def _rule(decision: ColumnDecision) -> Rule:
    assert decision.entity is not None and decision.strategy is not None
    return Rule(
        decision.entity, decision.strategy, decision.pseudonym, decision.deterministic, decision.key_id
    )


def _text(value: object) -> str:
    iso = getattr(value, "isoformat", None)
    return iso() if callable(iso) else str(value)
