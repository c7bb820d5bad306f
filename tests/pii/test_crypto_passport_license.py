"""CRYPTO, US_PASSPORT and US_DRIVER_LICENSE: detected by the real Presidio engine (spaCy model), classified
per column, and anonymized with their default strategies. Every value below is written by hand: Bitcoin
addresses from the Bitcoin wiki's examples (checksums valid), the same with one character changed
(checksums broken), passport numbers in the old nine-digit and the current letter-plus-eight-digit format,
licence numbers in common state formats."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pytest

from atlas_core.pii.classify import ColumnInput
from atlas_core.pii.entities import DEFAULT_ENTITIES, DEFAULT_STRATEGY, name_hint
from atlas_core.pii.keys import PURPOSE_HASH, KeyRing
from atlas_core.pii.policy import classify_columns
from atlas_core.pii.strategies import Anonymizer
from atlas_core.pii.transform import PiiTransform

WALLETS = [
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",  # P2PKH
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",  # P2SH
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",  # bech32
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
]
BROKEN_WALLETS = ["1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz"]
OLD_PASSPORTS = ["912803456", "340020013", "505296412"]
NEXT_GEN_PASSPORTS = ["A12345678", "C03005988", "Z98765432", "E00419273"]
LICENSES = ["D1234567", "F2550781", "X9876543", "B7730215"]
ENTITIES = ("CRYPTO", "US_PASSPORT", "US_DRIVER_LICENSE")


def _spans(engine, text: str) -> set[tuple[str, str]]:
    (spans,) = engine.analyze_texts([text], engine.entities)
    return {(s.entity, text[s.start : s.end]) for s in spans}


def _scores(engine, text: str, entity: str) -> list[float]:
    (spans,) = engine.analyze_texts([text], engine.entities)
    return [s.score for s in spans if s.entity == entity]


def test_the_three_entities_are_known_and_hashed_by_default(presidio_engine) -> None:
    assert set(ENTITIES) <= set(DEFAULT_ENTITIES) and set(ENTITIES) <= set(presidio_engine.entities)
    assert {e: DEFAULT_STRATEGY[e] for e in ENTITIES} == dict.fromkeys(ENTITIES, "hash")
    assert [name_hint(n) for n in ("wallet", "btc_address", "crypto_address", "payout_wallet")] == [
        "CRYPTO"
    ] * 4
    assert [name_hint(n) for n in ("passport", "passport_number", "passport_no")] == ["US_PASSPORT"] * 3
    assert [name_hint(n) for n in ("driver_license", "drivers_licence_number", "dl_number")] == [
        "US_DRIVER_LICENSE"
    ] * 3


def test_bitcoin_addresses_are_detected_only_with_a_valid_checksum(presidio_engine) -> None:
    for wallet in WALLETS:
        assert _spans(presidio_engine, wallet) == {("CRYPTO", wallet)}
        assert _scores(presidio_engine, wallet, "CRYPTO") == [1.0]
    for broken in BROKEN_WALLETS:
        assert not any(entity == "CRYPTO" for entity, _ in _spans(presidio_engine, broken)), broken
    text = f"Please refund to wallet {WALLETS[0]} today."
    assert ("CRYPTO", WALLETS[0]) in _spans(presidio_engine, text)


def test_passport_and_licence_numbers_need_their_context_words(presidio_engine) -> None:
    # Alone, the patterns are weak (a nine-digit number is many things); a context word raises them.
    assert _scores(presidio_engine, "912803456", "US_PASSPORT") == [0.05]
    assert _scores(presidio_engine, "Her passport number is 912803456.", "US_PASSPORT") == [
        pytest.approx(0.4)
    ]
    assert _scores(presidio_engine, "A12345678", "US_PASSPORT") == [0.1]
    assert _scores(presidio_engine, "Traveller passport A12345678 at the gate", "US_PASSPORT") == [
        pytest.approx(0.45)
    ]
    assert _scores(presidio_engine, "D1234567", "US_DRIVER_LICENSE") == [0.3]
    assert _scores(presidio_engine, "His driver license D1234567 expired", "US_DRIVER_LICENSE") == [
        pytest.approx(0.65)
    ]


def test_columns_are_classified_by_values_and_names(presidio_engine) -> None:
    columns = [
        ColumnInput("wallet", "string", WALLETS * 5),
        ColumnInput("payout_to", "string", WALLETS * 5),  # no telling name: the checksum is evidence enough
        ColumnInput("payout_code", "string", BROKEN_WALLETS * 5),
        ColumnInput("passport_no", "string", OLD_PASSPORTS * 5),
        ColumnInput("passport_number", "string", NEXT_GEN_PASSPORTS * 5),
        ColumnInput("passport", "string", []),  # empty, but named like passports
        ColumnInput("order_number", "string", OLD_PASSPORTS * 5),  # an id-like name vetoes digit look-alikes
        ColumnInput("drivers_license", "string", LICENSES * 5),
        ColumnInput("dl_number", "string", LICENSES * 5),
    ]
    got = {
        n: (d.entity, d.strategy, d.source, round(d.confidence, 3))
        for n, d in classify_columns(columns, presidio_engine).decisions.items()
    }
    assert got == {
        "wallet": ("CRYPTO", "hash", "name", 1.0),
        "payout_to": ("CRYPTO", "hash", "detected", 1.0),
        "payout_code": (None, None, "none", 0.0),
        "passport_no": ("US_PASSPORT", "hash", "name", 1.0),
        # A12345678 matches the licence pattern too (scoring higher): the name settles the tie.
        "passport_number": ("US_PASSPORT", "hash", "name", 1.0),
        "passport": ("US_PASSPORT", "hash", "name", 0.5),
        "order_number": (None, None, "none", 0.0),
        "drivers_license": ("US_DRIVER_LICENSE", "hash", "name", 1.0),
        "dl_number": ("US_DRIVER_LICENSE", "hash", "name", 1.0),
    }


def test_values_are_replaced_by_keyed_hashes_and_named_in_free_text(presidio_engine, keys: KeyRing) -> None:
    batch = pa.record_batch(
        {
            "wallet": [WALLETS[0], WALLETS[1], WALLETS[0], WALLETS[1]],
            "passport_no": [*OLD_PASSPORTS, "287654321"],
            "drivers_license": LICENSES,
            "notes": [
                f"Refund sent to wallet {WALLETS[2]} as agreed with the customer.",
                f"Second refund went to {WALLETS[3]} by mistake.",
                "The passport A12345678 was checked at the gate.",
                "A new driver license D1234567 was issued to the customer.",
            ],
        }
    )
    columns = [
        ColumnInput(name, "string", [str(v) for v in batch.column(name).to_pylist()])
        for name in batch.schema.names
    ]
    policy = classify_columns(columns, presidio_engine)
    assert {n: d.entity for n, d in policy.decisions.items()} == {
        "wallet": "CRYPTO",
        "passport_no": "US_PASSPORT",
        "drivers_license": "US_DRIVER_LICENSE",
        "notes": "CRYPTO",
    }
    assert policy.decisions["notes"].free_text
    out = PiiTransform(policy, Anonymizer(keys), presidio_engine)(batch)

    subkey = keys.active.subkey(PURPOSE_HASH)
    for name in ("wallet", "passport_no", "drivers_license"):
        raw = batch.column(name).to_pylist()
        assert out.column(name).to_pylist() == [
            hmac.new(subkey, v.encode(), hashlib.sha256).hexdigest() for v in raw
        ], name
    assert out.column("notes").to_pylist() == [
        "Refund sent to wallet <CRYPTO> as agreed with the customer.",
        "Second refund went to <CRYPTO> by mistake.",
        "The passport <US_PASSPORT> was checked at the gate.",
        "A new driver license <US_DRIVER_LICENSE> was issued to the customer.",
    ]
    text = str(out.to_pydict())
    assert not any(v in text for v in [*WALLETS, *OLD_PASSPORTS, *LICENSES, "287654321", "A12345678"])
