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
from atlas_core.pii.persons import STOP, find_persons
from atlas_core.pii.phones import find_phones
from atlas_core.pii.places import find_cued_places, find_places
from atlas_core.pii.recognizers import luhn_valid

# Entities these detectors produce (a text asking for none of them is left alone).
PRODUCED = frozenset({"LOCATION", "PERSON", "PHONE_NUMBER", "CREDIT_CARD"})
POSTAL_CUE = re.compile(
    r"\b(?:zip(?:\s*code)?|postal\s*code|post\s*code|postcode|plz|cep|c\.p\.|cap)(?:\s+is)?\s*[:#]?\s*"
    r"((?:[A-Z]{1,2}-?)?\d{3,6}(?:-\d{3,4})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
# Card numbers of 12-19 digits (compact or grouped) that pass the Luhn check; Presidio's pattern
# knows fewer issuer ranges and lengths.
CARD = re.compile(r"(?<![\w-])\d{4}(?:[ -]?\d{2,4}){2,4}(?:[ -]?\d{1,3})?(?![\w-])")
CARD_CONTEXT = re.compile(
    r"\b(?:card|credit|debit|visa|mastercard|amex|maestro|jcb|diners|discover|cc)\b", re.IGNORECASE
)


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
        spans.extend(find_cued_places(text, STOP))
    if "PHONE_NUMBER" in wanted and has_digit:
        spans.extend(find_phones(text))
    if "CREDIT_CARD" in wanted and has_digit:
        for m in CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if (
                12 <= len(digits) <= 19
                and luhn_valid(digits)
                and (len(digits) >= 15 or CARD_CONTEXT.search(text[max(0, m.start() - 40) : m.start()]))
            ):
                spans.append(Span(m.start(), m.end(), "CREDIT_CARD", 0.6))
    if "PERSON" in wanted:
        spans.extend(find_persons(text, gaz, ner))
    return spans
