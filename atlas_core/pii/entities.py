"""The PII entities Atlas knows, their default strategies, and what column names say about them.

Entity names are Presidio's. Column-name evidence is deliberately conservative: a name can raise
the confidence of what the values already suggest, mark an empty column as PII, or veto entities
that a name makes implausible (an ``*_id`` column of digits is not a phone number; ``signup_ts`` is
an event time, not a birth date).
"""

from __future__ import annotations

import re
from typing import Literal

Strategy = Literal["replace", "redact", "mask", "hash", "encrypt", "keep"]
STRATEGIES: tuple[Strategy, ...] = ("replace", "redact", "mask", "hash", "encrypt", "keep")

PERSON = "PERSON"
LOCATION = "LOCATION"
DATE_TIME = "DATE_TIME"

# Entities detected by default (Presidio names plus the GPS recognizer shipped in pii/recognizers.yml).
DEFAULT_ENTITIES: tuple[str, ...] = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
    "CREDIT_CARD",
    "IBAN_CODE",
    "CRYPTO",
    "LOCATION",
    "IP_ADDRESS",
    "DATE_TIME",
    "US_PASSPORT",
    "US_DRIVER_LICENSE",
    "GPS_COORDINATES",
)

# Column defaults when neither the contract nor a custom recognizer names a strategy.
DEFAULT_STRATEGY: dict[str, Strategy] = {
    "PERSON": "replace",
    "EMAIL_ADDRESS": "hash",
    "PHONE_NUMBER": "mask",
    "US_SSN": "hash",
    "CREDIT_CARD": "mask",
    "IBAN_CODE": "mask",
    "CRYPTO": "hash",
    "LOCATION": "redact",
    "IP_ADDRESS": "hash",
    "DATE_TIME": "redact",
    "US_PASSPORT": "hash",
    "US_DRIVER_LICENSE": "hash",
    "GPS_COORDINATES": "redact",
}
FALLBACK_STRATEGY: Strategy = "hash"
FREE_TEXT_STRATEGY: Strategy = "replace"

# Entities whose recognizers validate a checksum or an unambiguous shape: believable in any column.
SELF_VALIDATING = frozenset(
    {"EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "CRYPTO", "IP_ADDRESS", "GPS_COORDINATES"}
)
# Entities a string of digits can imitate (ids, counters, codes).
# (A grouped SSN, 123-45-6789, is a shape ids rarely take: it stays believable in id-like columns.)
DIGIT_LOOKALIKES = frozenset({"PHONE_NUMBER", "US_PASSPORT", "US_DRIVER_LICENSE", DATE_TIME})

# Dates inside running text ("loyal since 2009", "next week") are not personal data on their own.
FREE_TEXT_EXCLUDED = frozenset({DATE_TIME})


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"(?:^|_)(?:" + "|".join(patterns) + r")(?:$|_)")


NAME_HINTS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL_ADDRESS", _words("e?mail", "email_address")),
    ("PHONE_NUMBER", _words("phone", "mobile", "cell", "tel", "telephone", "fax", "msisdn")),
    ("US_SSN", _words("ssn", "social_security(?:_number)?")),
    ("CREDIT_CARD", _words("credit_card", "card_number", "cc_number", "pan")),
    ("IBAN_CODE", _words("iban")),
    ("IP_ADDRESS", _words("ip", "ip_address", "ipv4", "ipv6")),
    ("CRYPTO", _words("wallet", "btc_address", "crypto_address")),
    ("US_PASSPORT", _words("passport(?:_number|_no)?")),
    ("US_DRIVER_LICENSE", _words("drivers?_licen[cs]e(?:_number)?", "dl_number")),
    ("GPS_COORDINATES", _words("gps", "coordinates", "lat_?lon", "lat_?lng", "geo_?point")),
    ("DATE_TIME", _words("dob", "birth", "birthday", "birthdate", "date_of_birth", "born", "birth_date")),
    (
        "LOCATION",
        _words(
            "address",
            "street",
            "street_address",
            "addr",
            "address_line_?\\d?",
            "home_address",
            "city",
            "town",
            "municipality",
            "place_of_birth",
        ),
    ),
    (
        "PERSON",
        _words(
            "first_?name",
            "last_?name",
            "full_?name",
            "given_?name",
            "surname",
            "family_?name",
            "middle_?name",
            "maiden_?name",
            "contact_?name",
            "customer_?name",
            "person",
            "patient",
            "vorname",
            "nachname",
            "prenom",
            "nom_de_famille",
            "nombre",
            "apellidos?",
            "cognome",
        ),
    ),
]

_EVENT_TIME = re.compile(
    r"(?:^|_)(?:ts|at|time|timestamp|datetime|created|updated|modified|deleted|inserted|loaded|signup|"
    r"signed_up|login|logout|event|occurred|processed|shipped|ordered|sent|received)(?:$|_)"
)
_ID_LIKE = re.compile(r"(?:^|_)(?:id|ids|key|sk|uuid|guid|sku|code|ref|reference|number|no|num|seq|hash)$")


def name_hint(column: str) -> str | None:
    """The entity a column name suggests, if any (``date_of_birth`` -> DATE_TIME)."""
    name = column.lower()
    for entity, pattern in NAME_HINTS:
        if pattern.search(name):
            return entity
    return None


def is_event_time_name(column: str) -> bool:
    """``signup_ts``, ``created_at``, ``updated_at``, ``event_time``: when something happened, not who."""
    name = column.lower()
    return bool(_EVENT_TIME.search(name)) and name_hint(name) != DATE_TIME


def is_id_like_name(column: str) -> bool:
    return bool(_ID_LIKE.search(column.lower())) and name_hint(column) is None


def default_strategy(entity: str, overrides: dict[str, Strategy] | None = None) -> Strategy:
    if overrides and entity in overrides:
        return overrides[entity]
    return DEFAULT_STRATEGY.get(entity, FALLBACK_STRATEGY)
