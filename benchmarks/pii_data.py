"""Generated, labeled PII data for the PII benchmarks (Faker, fixed seeds: the same data every run).

- ``mixed_table(rows)``: a table of 14 columns (names in several locales, e-mails, phones in several
  national formats, SSNs, birth dates, street addresses, cities, cards in several formats, IBANs of
  several countries, IPs, an event timestamp, an amount) plus a free-text ``notes`` column;
  about 8 % of the cells are empty.
- ``labeled_texts(n)``: sentences built from templates, with the character spans of every PII value.
- ``labeled_columns()``: columns with the entity they hold (or ``None``), for classification accuracy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import pyarrow as pa
from faker import Faker

from atlas_core.samples import REFERENCE_DATE, date_of_birth

LOCALES = ["en_US", "de_DE", "fr_FR", "es_ES", "pl_PL", "da_DK", "cs_CZ", "tr_TR", "pt_BR", "it_IT"]
IBAN_COUNTRIES = ["DE", "GB", "FR", "ES", "NL", "IT", "PL"]
EMPTY_SHARE = 0.08
# Dates are drawn relative to the samples' fixed reference day, never the clock (same data on any day).
REFERENCE_NOW = datetime.combine(REFERENCE_DATE, time.min)
THREE_YEARS_BEFORE = REFERENCE_NOW - timedelta(days=3 * 365)


def _fakers(seed: int) -> list[Faker]:
    out = []
    for i, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed + i)
        out.append(fake)
    return out


def phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice(
        [
            f"({a}) {b}-{c:04d}",
            f"{a}-{b}-{c:04d}",
            f"{a}.{b}.{c:04d}",
            f"+1 {a} {b} {c:04d}",
            f"+44 20 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}",
            f"+49 30 {rng.randint(10000000, 99999999)}",
            f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        ]
    )


def card(fake: Faker, rng: random.Random) -> str:
    number = fake.credit_card_number(card_type=rng.choice(["visa16", "mastercard", "amex", "discover"]))
    style = rng.randint(0, 2)
    if style == 0 or len(number) != 16:
        return number
    groups = [number[i : i + 4] for i in range(0, 16, 4)]
    return (" " if style == 1 else "-").join(groups)


_IBAN_LOCALES = {
    "DE": "de_DE",
    "GB": "en_GB",
    "FR": "fr_FR",
    "ES": "es_ES",
    "NL": "nl_NL",
    "IT": "it_IT",
    "PL": "pl_PL",
}
_IBAN_FAKERS: dict[str, Faker] = {}
_US = Faker("en_US")


def iban(rng: random.Random) -> str:
    """An IBAN of one of several countries, compact or in groups of four."""
    country = rng.choice(IBAN_COUNTRIES)
    fake = _IBAN_FAKERS.get(country)
    if fake is None:
        fake = _IBAN_FAKERS[country] = Faker(_IBAN_LOCALES[country])
    fake.seed_instance(rng.getrandbits(32))  # drawn from the caller's rng: the same data on every call
    value = fake.iban()
    if rng.random() < 0.4:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


@dataclass
class LabeledText:
    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[tuple[int, int, str]] = []
        self.length = 0

    def add(self, text: str, entity: str | None = None) -> None:
        if entity is not None:
            self.spans.append((self.length, self.length + len(text), entity))
        self.parts.append(text)
        self.length += len(text)

    def build(self) -> LabeledText:
        return LabeledText("".join(self.parts), self.spans)


def _note(fake: Faker, rng: random.Random) -> LabeledText:
    b = _Builder()
    kind = rng.randint(0, 11)
    name = f"{fake.first_name()} {fake.last_name()}"  # no titles ("Frau", "pan"): they are not the name
    if kind == 0:
        (
            b.add("Called from "),
            b.add(phone(rng), "PHONE_NUMBER"),
            b.add(" about a late delivery; asked to be emailed at "),
        )
        b.add(fake.email(), "EMAIL_ADDRESS"), b.add(".")
    elif kind == 1:
        b.add(name, "PERSON"), b.add(" requested a copy of the last invoice.")
    elif kind == 2:
        b.add("Spoke with "), b.add(name, "PERSON"), b.add(" on the phone; follow up next week.")
    elif kind == 3:
        b.add("Card on file "), b.add(card(fake, rng), "CREDIT_CARD"), b.add(" was declined twice.")
    elif kind == 4:
        b.add("Refund to IBAN "), b.add(iban(rng), "IBAN_CODE"), b.add(" approved by finance.")
    elif kind == 5:
        (
            b.add("Customer moved to "),
            b.add(" ".join(fake.street_address().split()), "LOCATION"),
            b.add(", please update the records."),
        )
    elif kind == 6:
        _US.seed_instance(rng.getrandbits(32))  # drawn from the caller's rng: the same data on every call
        b.add("Verified identity with SSN "), b.add(_US.ssn(), "US_SSN")
        b.add(" and sent the form.")
    elif kind == 7:
        b.add("Login from "), b.add(fake.ipv4() if rng.random() < 0.7 else fake.ipv6(), "IP_ADDRESS")
        b.add(" looked suspicious.")
    elif kind == 8:
        b.add("VIP customer, handle with care.")
    elif kind == 9:
        b.add("Package left with neighbour; no further action needed.")
    elif kind == 10:
        (
            b.add("Please ask "),
            b.add(name, "PERSON"),
            b.add(" to call back at "),
            b.add(phone(rng), "PHONE_NUMBER"),
        )
        b.add(" before Friday.")
    else:
        b.add("")
    return b.build()


def labeled_texts(n: int, seed: int = 42) -> list[LabeledText]:
    rng = random.Random(seed)
    fakers = _fakers(seed)
    return [_note(rng.choice(fakers), rng) for _ in range(n)]


STRUCTURED_COLUMNS = [
    "full_name",
    "email",
    "phone",
    "ssn",
    "date_of_birth",
    "street_address",
    "credit_card",
    "iban",
    "ip_address",
]
"""The throughput table's structured PII columns (one entity each)."""


def mixed_table(rows: int, seed: int = 20261001) -> tuple[pa.Table, list[LabeledText]]:
    """The throughput table (and the labels of its notes)."""
    rng = random.Random(seed)
    fakers = _fakers(seed)
    us = fakers[0]
    data: dict[str, list[str]] = {
        k: [] for k in ("customer_id", *STRUCTURED_COLUMNS, "city", "signup_ts", "amount", "notes")
    }
    notes: list[LabeledText] = []
    for i in range(rows):
        fake = rng.choice(fakers)
        note = _note(fake, rng)
        notes.append(note)
        row = {
            "customer_id": str(100000 + i),
            "full_name": fake.name(),
            "email": fake.email(),
            "phone": phone(rng),
            "ssn": us.ssn(),
            "date_of_birth": date_of_birth(fake, 18, 90).isoformat(),
            "street_address": us.street_address(),
            "city": fake.city(),
            "credit_card": card(us, rng),
            "iban": iban(rng),
            "ip_address": fake.ipv4() if rng.random() < 0.8 else fake.ipv6(),
            "signup_ts": us.date_time_between(THREE_YEARS_BEFORE, REFERENCE_NOW).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "amount": f"{rng.uniform(1, 999):.2f}",
            "notes": note.text,
        }
        for key, value in row.items():
            empty = key not in ("customer_id", "notes") and rng.random() < EMPTY_SHARE
            data[key].append("" if empty else value)
    return pa.table({k: pa.array(v, pa.string()) for k, v in data.items()}), notes


def labeled_columns(seed: int = 7) -> list[tuple[str, str, list[str], str | None]]:
    """(column name, kind, values, expected entity) for classification accuracy."""
    rng = random.Random(seed)
    fakers = _fakers(seed)
    us = fakers[0]

    def many(fn, n: int = 200) -> list[str]:
        return [fn() for _ in range(n)]

    def pick() -> Faker:
        return rng.choice(fakers)

    def one_of(*options: str) -> list[str]:
        return many(lambda: rng.choice(options))

    def product_name() -> str:
        return f"{us.color_name()} {us.word().title()} {rng.choice(['Lamp', 'Book', 'Toy', 'Hose'])}"

    def ids_like_phones() -> str:
        return f"{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"

    columns: list[tuple[str, str, list[str], str | None]] = [
        ("full_name", "string", many(lambda: pick().name()), "PERSON"),
        ("contact", "string", many(lambda: pick().name()), "PERSON"),
        ("first_name", "string", many(lambda: pick().first_name()), "PERSON"),
        ("last_name", "string", many(lambda: pick().last_name()), "PERSON"),
        ("email", "string", many(lambda: pick().email()), "EMAIL_ADDRESS"),
        ("reply_to", "string", many(lambda: pick().email()), "EMAIL_ADDRESS"),
        ("phone", "string", many(lambda: phone(rng)), "PHONE_NUMBER"),
        ("mobile_number", "string", many(lambda: phone(rng)), "PHONE_NUMBER"),
        ("ssn", "string", many(us.ssn), "US_SSN"),
        ("tax_ref", "string", many(us.ssn), "US_SSN"),
        ("date_of_birth", "date", many(lambda: date_of_birth(us, 0, 115).isoformat()), "DATE_TIME"),
        ("dob", "string", many(lambda: date_of_birth(us, 0, 115).strftime("%m/%d/%Y")), "DATE_TIME"),
        ("street_address", "string", many(us.street_address), "LOCATION"),
        ("shipping_line", "string", many(us.street_address), "LOCATION"),
        ("city", "string", many(lambda: pick().city()), "LOCATION"),
        ("card_number", "string", many(lambda: card(us, rng)), "CREDIT_CARD"),
        ("payment_ref", "string", many(lambda: card(us, rng)), "CREDIT_CARD"),
        ("iban", "string", many(lambda: iban(rng)), "IBAN_CODE"),
        ("account", "string", many(lambda: iban(rng)), "IBAN_CODE"),
        ("ip_address", "string", many(us.ipv4), "IP_ADDRESS"),
        ("client", "string", many(us.ipv4), "IP_ADDRESS"),
        (
            "wallet",
            "string",
            one_of(
                "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            ),
            "CRYPTO",
        ),
        (
            "position",
            "string",
            many(lambda: f"{rng.uniform(-80, 80):.5f}, {rng.uniform(-170, 170):.5f}"),
            "GPS_COORDINATES",
        ),
        ("badge", "string", many(lambda: f"EMP-{rng.randint(100000, 999999)}"), "EMPLOYEE_ID"),
        ("notes", "string", [t.text for t in labeled_texts(200, seed) if t.text], "FREE_TEXT"),
        # not PII
        ("customer_id", "integer", many(lambda: str(rng.randint(1, 10**6))), None),
        ("account_id", "string", many(ids_like_phones), None),
        ("order_number", "string", many(lambda: str(rng.randint(2_000_000_000, 9_999_999_999))), None),
        (
            "signup_ts",
            "timestamp",
            many(lambda: us.date_time_between(THREE_YEARS_BEFORE, REFERENCE_NOW).isoformat()),
            None,
        ),
        (
            "created_at",
            "string",
            many(
                lambda: us.date_time_between(THREE_YEARS_BEFORE, REFERENCE_NOW).strftime("%Y-%m-%dT%H:%M:%SZ")
            ),
            None,
        ),
        (
            "order_date",
            "date",
            many(lambda: us.date_between(REFERENCE_DATE - timedelta(days=365), REFERENCE_DATE).isoformat()),
            None,
        ),
        ("amount", "float", many(lambda: f"{rng.uniform(1, 999):.2f}"), None),
        ("status", "string", one_of("placed", "shipped", "delivered", "cancelled"), None),
        ("product_name", "string", many(product_name), None),
        ("sku", "string", many(lambda: f"SKU-{rng.randint(1, 99999):05d}"), None),
        ("category", "string", one_of("books", "garden", "toys", "home"), None),
        (
            "comment",
            "string",
            one_of(
                "Great product, would buy again.",
                "Arrived late but works fine.",
                "The colour is slightly different from the photo.",
                "Packaging was damaged, contents fine.",
            ),
            None,
        ),
        ("empty_column", "string", [], None),
        ("active", "boolean", one_of("true", "false"), None),
        ("zip", "string", many(us.zipcode), None),
    ]
    return columns
