"""Atlas' own free-text detectors, run next to Presidio's recognizers on every analyzed text.

Street addresses (``addresses.py``), phone numbers in international formats (``phones.py``), places
from offline gazetteers (``places.py``), person names from census name lists, titles and cues
(``persons.py``) and postal codes after a cue ("ZIP: 1098"). Pure functions of the text and the NER
model's person spans; the gazetteers load on first use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from atlas_core.pii.addresses import find_addresses
from atlas_core.pii.analysis import Span
from atlas_core.pii.gazetteers import gazetteers
from atlas_core.pii.persons import find_persons
from atlas_core.pii.phones import find_phones
from atlas_core.pii.places import find_places

# Entities these detectors produce (a text asking for none of them is left alone).
PRODUCED = frozenset({"LOCATION", "PERSON", "PHONE_NUMBER"})
POSTAL_CUE = re.compile(
    r"\b(?:zip(?:\s*code)?|postal\s*code|post\s*code|postcode|plz|cep|c\.p\.|cap)\s*[:#]?\s*"
    r"((?:[A-Z]{1,2}-?)?\d{3,6}(?:-\d{3,4})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")


def detect(text: str, entities: Sequence[str], ner: Sequence[Span] = ()) -> list[Span]:
    """Spans of ``entities`` (of those in :data:`PRODUCED`) found in ``text``."""
    wanted = PRODUCED.intersection(entities)
    if not wanted or not text.strip():
        return []
    gaz = gazetteers()
    has_digit = bool(_DIGIT.search(text))
    spans: list[Span] = []
    if "LOCATION" in wanted:
        if has_digit:
            spans.extend(find_addresses(text, gaz))
            spans.extend(Span(m.start(1), m.end(1), "LOCATION", 0.6) for m in POSTAL_CUE.finditer(text))
        spans.extend(find_places(text, gaz))
    if "PHONE_NUMBER" in wanted and has_digit:
        spans.extend(find_phones(text))
    if "PERSON" in wanted:
        spans.extend(find_persons(text, gaz, ner))
    return spans
