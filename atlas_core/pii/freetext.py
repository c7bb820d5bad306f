"""Free text: anonymize detected spans in place, keeping the rest of the sentence.

Overlapping detections are merged into one span (so a partial match can never leave a fragment of
a value behind), and values the same row holds in its structured PII columns are searched for
verbatim: a note that repeats the customer's own name or e-mail is caught even when the NER model
misses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from atlas_core.pii.analysis import Span

MIN_KNOWN_VALUE = 3


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Union overlapping spans; the merged span takes the entity of its best (score, length) member."""
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    for span in ordered:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            best = max((last, span), key=lambda s: (s.score, s.end - s.start))
            merged[-1] = Span(last.start, max(last.end, span.end), best.entity, max(last.score, span.score))
        else:
            merged.append(span)
    return merged


def known_value_spans(text: str, known: Sequence[tuple[str, str]]) -> list[Span]:
    """Occurrences of the row's own PII values (entity, value) in ``text``, on word boundaries."""
    spans: list[Span] = []
    for entity, value in known:
        value = value.strip()
        if len(value) < MIN_KNOWN_VALUE or value not in text and value.lower() not in text.lower():
            continue
        pattern = re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)", re.IGNORECASE)
        spans.extend(Span(m.start(), m.end(), entity, 1.0) for m in pattern.finditer(text))
    return spans


def anonymize_text(text: str, spans: Sequence[Span], replace: Callable[[Span, str], str]) -> str:
    """Replace every (merged) span, right to left, with ``replace(span, original)``."""
    out = text
    for span in sorted(merge_spans(spans), key=lambda s: s.start, reverse=True):
        out = out[: span.start] + replace(span, text[span.start : span.end]) + out[span.end :]
    return out
