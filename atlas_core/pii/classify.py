"""Column classification: which entity (if any) a column holds, from sampled values, its name and type.

Evidence, strongest first:

1. the contract: ``pii: {entity: ...}`` decides, ``pii: false`` opts out;
2. the type and name: booleans and numbers without a PII-like name are not analyzed; timestamps and
   event-time names (``signup_ts``, ``created_at``) pass through; a date column is PII only when its
   name says birth (``date_of_birth``, ``dob``);
3. the values: the share of sampled values a recognizer matches (covering most of the value), with
   digit look-alikes (phone, SSN, passport...) ignored in id-like columns (``order_id``, ``*_key``);
4. the name again: a PII-like name raises the confidence of a matching detection, and marks an
   empty column (or one of names the NER model does not know) as PII.

A column whose values read like sentences is *free text*: PII there is anonymized span by span.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from atlas_core.pii import entities as E
from atlas_core.pii.analysis import Span
from atlas_core.pii.entities import Strategy

THRESHOLD = 0.5
COVERAGE = 0.6
MIN_CELL_SCORE = 0.3
FREE_TEXT_MIN_TOKENS = 4.0
FREE_TEXT_LOWER_RATIO = 0.35
FREE_TEXT_PII_SHARE = 0.03
FREE_TEXT_MIN_SCORE = 0.35

KINDS = ("string", "integer", "float", "boolean", "date", "timestamp")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}/\d{1,2}/\d{2,4}$|^\d{1,2}\.\d{1,2}\.\d{4}$")
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_INT_RE = re.compile(r"^[+-]?\d{1,18}$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$")
_BOOL = {"true", "false", "t", "f", "yes", "no", "y", "n"}
_WORD = re.compile(r"^[a-z]+[.,;:!?)]*$")


@dataclass
class ColumnInput:
    """A column to classify: its name, kind (``KINDS``), sampled non-null values and contract declaration."""

    name: str
    kind: str
    values: list[str]
    declared: object = None  # a contracts.model.PiiSpec, False (opt-out) or None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass
class ColumnDecision:
    """The policy for one column (the ``columns`` entry of a PII report, plus how to apply it)."""

    column: str
    entity: str | None
    confidence: float
    strategy: Strategy | None
    free_text: bool = False
    source: str = "none"  # contract | opt_out | detected | name | event_time | type | none
    pseudonym: bool = False
    deterministic: bool = False
    key_id: str | None = None
    entity_strategies: dict[str, Strategy] = field(default_factory=dict)
    cells_changed: int = 0

    @property
    def is_pii(self) -> bool:
        return self.entity is not None and self.strategy is not None

    def report(self) -> dict[str, object]:
        return {
            "entity": self.entity,
            "confidence": round(self.confidence, 3),
            "strategy": self.strategy,
            "free_text": self.free_text,
            "cells_changed": self.cells_changed,
        }


def infer_kind(values: Sequence[str]) -> str:
    """The kind of a text column from its values (CSV files scanned without a contract)."""
    present = [v.strip() for v in values if v and v.strip()]
    if not present:
        return "string"
    if all(v.lower() in _BOOL for v in present):
        return "boolean"
    if all(_INT_RE.match(v) for v in present):
        return "integer"
    if all(_INT_RE.match(v) or _FLOAT_RE.match(v) for v in present):
        return "float"
    if all(_TS_RE.match(v) for v in present):
        return "timestamp"
    if all(_DATE_RE.match(v) for v in present):
        return "date"
    return "string"


def looks_like_free_text(values: Sequence[str]) -> bool:
    """Sentences rather than single values: several words, a good share of them lower-case words."""
    present = [v for v in values if v and v.strip()]
    if not present:
        return False
    tokens = [v.split() for v in present]
    mean_tokens = sum(len(t) for t in tokens) / len(tokens)
    words = [w for t in tokens for w in t]
    lower = sum(1 for w in words if _WORD.match(w)) / max(1, len(words))
    return mean_tokens >= FREE_TEXT_MIN_TOKENS and lower >= FREE_TEXT_LOWER_RATIO


def _from_contract(name: str, declared: object, strategies: dict[str, Strategy]) -> ColumnDecision:
    entity = declared.entity  # type: ignore[attr-defined]
    strategy = declared.strategy  # type: ignore[attr-defined]
    free_text = bool(declared.free_text)  # type: ignore[attr-defined]
    per_entity = dict(getattr(declared, "strategies", None) or {})
    if strategy is None:
        strategy = E.FREE_TEXT_STRATEGY if free_text else E.default_strategy(entity, strategies)
    return ColumnDecision(
        name,
        entity,
        1.0,
        strategy,
        free_text,
        "contract",
        pseudonym=bool(declared.pseudonym),  # type: ignore[attr-defined]
        deterministic=bool(declared.deterministic),  # type: ignore[attr-defined]
        key_id=getattr(declared, "key_id", None),
        entity_strategies=per_entity,
    )


def needs_values(column: ColumnInput) -> bool:
    """Whether classification has to look at values (many columns are decided by contract, type or name)."""
    return pre_decision(column, {}) is None


def pre_decision(column: ColumnInput, strategies: dict[str, Strategy]) -> ColumnDecision | None:
    """A decision that needs no analyzer, or ``None`` when the values must be analyzed."""
    name, kind, declared = column.name, column.kind, column.declared
    if declared is False:
        return ColumnDecision(name, None, 1.0, None, source="opt_out")
    if declared is not None:
        return _from_contract(name, declared, strategies)
    hint = E.name_hint(name)
    if kind == "boolean":
        return ColumnDecision(name, None, 1.0, None, source="type")
    if kind in ("date", "timestamp") or (
        kind == "string" and E.is_event_time_name(name) and infer_kind(column.values) in ("date", "timestamp")
    ):
        if hint == E.DATE_TIME:
            share = 1.0 if column.values else 0.5
            return ColumnDecision(
                name,
                E.DATE_TIME,
                0.5 + 0.5 * share,
                E.default_strategy(E.DATE_TIME, strategies),
                source="name",
            )
        return ColumnDecision(
            name, None, 1.0, None, source="event_time" if E.is_event_time_name(name) else "type"
        )
    if kind in ("integer", "float") and hint is None:
        return ColumnDecision(name, None, 1.0, None, source="type")
    if not column.values:
        if hint is not None:
            return ColumnDecision(name, hint, 0.5, E.default_strategy(hint, strategies), source="name")
        return ColumnDecision(name, None, 0.0, None, source="none")
    return None


def cell_entity(value: str, spans: Sequence[Span], allowed: set[str], hint: str | None = None) -> str | None:
    """The entity of a structured cell: the longest span covering most of the value.

    Weak pattern matches (a nine-digit passport number scores 0.05) count only when the column
    name names that entity, and the named entity wins a tie between spans of the same length (a
    passport number ``A12345678`` also matches the driver's licence pattern, with a higher score).
    """
    length = len(value.strip()) or 1
    best: Span | None = None
    for span in spans:
        if span.entity not in allowed or (span.end - span.start) / length < COVERAGE:
            continue
        if span.score < MIN_CELL_SCORE and span.entity != hint:
            continue
        # the span covering more of the value wins; then the entity the name names; then the score
        if best is None or _rank(span, hint) > _rank(best, hint):
            best = span
    return best.entity if best else None


def _rank(span: Span, hint: str | None) -> tuple[int, bool, float]:
    return span.end - span.start, span.entity == hint, span.score


def decide(
    column: ColumnInput,
    detections: Sequence[Sequence[Span]],
    known_entities: Sequence[str],
    strategies: dict[str, Strategy] | None = None,
    threshold: float = THRESHOLD,
) -> ColumnDecision:
    """Classify ``column`` from the spans detected in each of its sampled values (same order)."""
    strategies = strategies or {}
    early = pre_decision(column, strategies)
    if early is not None:
        return early
    name, values = column.name, column.values
    hint = E.name_hint(name)
    if looks_like_free_text(values):
        return _free_text_decision(name, values, detections, known_entities)
    allowed = set(known_entities) - {E.DATE_TIME}
    if E.is_id_like_name(name):
        allowed -= E.DIGIT_LOOKALIKES
    if hint == E.DATE_TIME:
        allowed.add(E.DATE_TIME)
    counts: Counter[str] = Counter()
    for value, spans in zip(values, detections, strict=True):
        entity = cell_entity(value, spans, allowed, hint)
        if entity:
            counts[entity] += 1
    shares = {e: n / len(values) for e, n in counts.items()}
    best, best_share = max(shares.items(), key=lambda kv: kv[1]) if shares else (None, 0.0)
    if hint is not None:
        hinted = shares.get(hint, 0.0)
        name_like = hint in (E.PERSON, E.LOCATION) and _mostly_words(values)
        dominated = best is not None and best != hint and best_share >= max(threshold, hinted + 0.3)
        if (hinted >= 0.1 or name_like) and not dominated:
            return ColumnDecision(
                name, hint, 0.5 + 0.5 * hinted, E.default_strategy(hint, strategies), source="name"
            )
    if best is not None and best_share >= threshold:
        return ColumnDecision(name, best, best_share, E.default_strategy(best, strategies), source="detected")
    return ColumnDecision(name, None, best_share, None, source="none")


def _mostly_words(values: Sequence[str]) -> bool:
    alpha = sum(1 for v in values if any(ch.isalpha() for ch in v))
    return alpha / max(1, len(values)) >= 0.8


def _free_text_decision(
    name: str,
    values: Sequence[str],
    detections: Sequence[Sequence[Span]],
    known_entities: Sequence[str],
) -> ColumnDecision:
    allowed = set(known_entities) - E.FREE_TEXT_EXCLUDED
    with_pii = 0
    scores: dict[str, list[float]] = {}
    for spans in detections:
        hits = [s for s in spans if s.entity in allowed and s.score >= FREE_TEXT_MIN_SCORE]
        if hits:
            with_pii += 1
        for span in hits:
            scores.setdefault(span.entity, []).append(span.score)
    share = with_pii / max(1, len(values))
    if not scores or share < FREE_TEXT_PII_SHARE:
        return ColumnDecision(name, None, share, None, free_text=True, source="none")
    entity = max(scores, key=lambda e: len(scores[e]))
    confidence = sum(scores[entity]) / len(scores[entity])
    return ColumnDecision(name, entity, confidence, E.FREE_TEXT_STRATEGY, free_text=True, source="detected")
