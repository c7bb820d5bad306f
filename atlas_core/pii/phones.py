"""Phone numbers in international formats: ``+41 (0)62 585 51 90``, ``0487 98 11 92``,
``(64) 3591-3246``, ``07700 063 966``, ``345-899-3560x4587``, ``5403926876``.

A candidate is a run of digit groups (optional ``+`` country code, a bracketed area code, spaces,
dots or hyphens between groups, an extension) with 7 to 15 digits. It is kept when

- ``phonenumbers`` (libphonenumber's metadata, shipped offline) finds it a possible number for one of
  several regions, or it starts with ``+``, ``00`` or a bracketed area code; and
- it is not shaped like a date, a time, an amount or a version, and either a context word ("phone",
  "call", "tel", "mobile", "fax", "whatsapp", "reach", "text", "at" ...) precedes it within 40
  characters, or it has an international prefix, or it is grouped like a phone number (3+ groups).
"""

from __future__ import annotations

import re

import phonenumbers

from atlas_core.pii.analysis import Span

PHONE = "PHONE_NUMBER"
REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "IT",
    "ES",
    "NL",
    "BE",
    "CH",
    "AT",
    "SE",
    "NO",
    "DK",
    "FI",
    "PL",
    "CZ",
    "PT",
    "IE",
    "BR",
    "MX",
    "AU",
    "IN",
    "CA",
    "NZ",
    "ZA",
    "IS",
)
CANDIDATE = re.compile(
    r"(?<![\w+.,/-])(?:\+|00)?\d{0,4}[ .-]?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]\d{1,6}){0,5}"
    r"(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?(?![\w/]|-\d|[.,]\d)",
    re.IGNORECASE,
)
CONTEXT = re.compile(
    r"\b(?:phone|phones|telephone|tel|mobile|cell|cellphone|fax|call|calls|called|calling|ring|reach|reached|text|"
    r"sms|whatsapp|contact|number|no|nr|dial|dialed|answering|hotline|at|on|tlf|telefon|telefono|teléfono|"
    r"téléphone|handy|mob)\b\W{0,6}(?:[\w]+\W+){0,3}$",
    re.IGNORECASE,
)
_DATE_LIKE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$|^\d{1,2}:\d{2}|^\d{1,3}(?:\.\d{1,3}){3}$")
_ISO_DATE = re.compile(r"^(?:19|20)\d\d\s?[-./]\s?[01]?\d\s?[-./]\s?[0-3]?\d(?!\d)")
_GROUPS = re.compile(r"\d+")
SCORE = 0.6
WEAK_SCORE = 0.4


def find_phones(text: str) -> list[Span]:
    spans = []
    for m in CANDIDATE.finditer(text):
        raw = m.group().strip()
        digits = re.sub(r"\D", "", raw.split("x")[0].split("X")[0].split("ext")[0])
        if not 7 <= len(digits) <= 15 or _DATE_LIKE.match(raw) or _ISO_DATE.match(raw):
            continue
        groups = _GROUPS.findall(raw)
        international = raw.startswith(("+", "00"))
        bracketed = "(" in raw
        context = bool(CONTEXT.search(text[max(0, m.start() - 40) : m.start()]))
        if not (international or bracketed or context or len(groups) >= 3 or len(digits) in (10, 11)):
            continue
        if len(groups) == 1 and not context and not international:
            # a bare run of digits is an id, an amount or a code unless a phone word says otherwise
            if not _possible(raw, ("US", "GB", "DE", "FR", "BR", "IN")):
                continue
            score = WEAK_SCORE
        elif not (international or bracketed or context or _possible(raw, REGIONS)):
            continue
        else:
            score = SCORE
        start = m.start() + (len(m.group()) - len(m.group().lstrip()))
        spans.append(Span(start, m.start() + len(m.group().rstrip()), PHONE, score))
    return spans


def _possible(raw: str, regions: tuple[str, ...]) -> bool:
    for region in regions:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return True
    return False
