"""Column classification on tricky columns, with the real Presidio engine and spaCy model."""

from __future__ import annotations

import random

import pytest
from faker import Faker

from atlas_core.contracts.model import PiiSpec
from atlas_core.pii.classify import ColumnInput, infer_kind, looks_like_free_text
from atlas_core.pii.policy import classify_columns


def _phone_shaped(rng: random.Random, n: int, sep: str = "-") -> list[str]:
    return [
        f"{rng.randint(200, 999)}{sep}{rng.randint(200, 999)}{sep}{rng.randint(1000, 9999)}" for _ in range(n)
    ]


@pytest.fixture(scope="module")
def tricky(presidio_engine):
    rng = random.Random(7)
    fakers = [Faker(locale) for locale in ("de_DE", "fr_FR", "pl_PL", "es_ES", "da_DK", "cs_CZ", "tr_TR")]
    for i, fake in enumerate(fakers):
        fake.seed_instance(i)
    full_names = [f.name() for f in fakers for _ in range(25)]
    first_names = [f.first_name() for f in fakers for _ in range(25)]
    columns = [
        ColumnInput("signup_ts", "timestamp", ["2024-11-30 13:59:08+00", "2025-01-30 04:42:42+00"]),
        ColumnInput("created_at", "string", ["2024-11-30T13:59:08Z", "2025-01-30T04:42:42Z"] * 20),
        ColumnInput("order_date", "date", ["2026-10-01", "2026-10-02"]),
        ColumnInput("date_of_birth", "date", ["1960-11-18", "1992-08-15"]),
        ColumnInput("dob", "string", ["1960-11-18", "1992-08-15", "1977-03-04"] * 10),
        ColumnInput("account_id", "string", _phone_shaped(rng, 200)),
        ColumnInput("order_number", "string", _phone_shaped(rng, 200, "")),
        ColumnInput("reference", "string", _phone_shaped(rng, 200)),
        ColumnInput("mobile", "string", _phone_shaped(rng, 200)),
        ColumnInput("ssn", "string", []),
        ColumnInput("misc", "string", []),
        ColumnInput("backup_contact", "string", ["ann@example.com", "zoë@exämple.de", "x_y@corp.io"]),
        ColumnInput("contact", "string", full_names),
        ColumnInput("first_name", "string", first_names),
        ColumnInput(
            "product_name",
            "string",
            ["Red Word Book", "Lavender Thank Toy", "Blue Garden Hose", "Ivory Lamp"] * 20,
        ),
        ColumnInput("status", "string", ["placed", "shipped", "delivered"]),
        ColumnInput("quantity", "integer", ["1", "2", "3"]),
        ColumnInput("marketing_consent", "boolean", ["true", "false"]),
        ColumnInput("card", "string", ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"] * 5),
        ColumnInput("bank", "string", ["DE89370400440532013000", "GB82WEST12345698765432"] * 5),
        ColumnInput("badge", "string", ["EMP-123456", "EMP-654321"] * 5),
        ColumnInput("position", "string", ["48.85837, 2.29448", "-33.8688,151.2093"] * 5),
        ColumnInput(
            "comments",
            "string",
            [
                "Customer asked about the refund status, nothing else to add.",
                "Meeting with Jürgen Weiß at the Berlin office next week.",
                "Please send the invoice again to the usual address.",
                "No issues were reported by the customer today.",
            ]
            * 10,
        ),
        ColumnInput(
            "notes_opt_out", "string", ["Call Jürgen Weiß at 030 1234567 please"] * 5, declared=False
        ),
        ColumnInput(
            "code_name", "string", ["alpha", "beta"], declared=PiiSpec(entity="PERSON", strategy="hash")
        ),
    ]
    return classify_columns(columns, presidio_engine).decisions


def test_event_timestamps_pass_through_but_birth_dates_are_pii(tricky) -> None:
    for name in ("signup_ts", "created_at", "order_date"):
        assert tricky[name].entity is None and tricky[name].strategy is None, name
    assert tricky["signup_ts"].source == "event_time"
    assert tricky["created_at"].source == "event_time"  # text holding timestamps, event-time name
    for name in ("date_of_birth", "dob"):
        assert tricky[name].entity == "DATE_TIME" and tricky[name].strategy == "redact", name


def test_ids_that_look_like_phone_numbers_are_not_phones(tricky) -> None:
    for name in ("account_id", "order_number", "reference"):
        assert tricky[name].entity is None, name
    # the very same values in a column named like a phone are phone numbers
    assert tricky["mobile"].entity == "PHONE_NUMBER" and tricky["mobile"].strategy == "mask"


def test_empty_and_sparse_columns(tricky) -> None:
    assert tricky["ssn"].entity == "US_SSN" and tricky["ssn"].source == "name"  # empty, but named like SSNs
    assert tricky["ssn"].confidence == 0.5
    assert tricky["misc"].entity is None
    # three values only, all e-mail addresses (one non-ASCII): detected from the values
    assert (
        tricky["backup_contact"].entity == "EMAIL_ADDRESS" and tricky["backup_contact"].source == "detected"
    )


def test_non_ascii_names(tricky) -> None:
    assert tricky["contact"].entity == "PERSON" and tricky["contact"].source == "detected"
    assert tricky["contact"].confidence >= 0.5
    assert tricky["first_name"].entity == "PERSON"
    assert tricky["product_name"].entity is None


def test_types_and_contract_decide_without_analysis(tricky) -> None:
    assert tricky["quantity"].source == "type" and tricky["marketing_consent"].source == "type"
    assert tricky["status"].entity is None
    assert tricky["notes_opt_out"].source == "opt_out" and tricky["notes_opt_out"].strategy is None
    assert tricky["code_name"].source == "contract" and tricky["code_name"].strategy == "hash"


def test_checksummed_and_custom_entities(tricky) -> None:
    assert tricky["card"].entity == "CREDIT_CARD"
    assert tricky["bank"].entity == "IBAN_CODE"
    assert (
        tricky["badge"].entity == "EMPLOYEE_ID" and tricky["badge"].strategy == "hash"
    )  # from recognizers.yml
    assert tricky["position"].entity == "GPS_COORDINATES" and tricky["position"].strategy == "redact"


def test_free_text_is_recognised_as_such(tricky) -> None:
    assert tricky["comments"].free_text and tricky["comments"].entity == "PERSON"
    assert tricky["comments"].strategy == "replace"
    assert not looks_like_free_text(["28585 Jasmine Pike", "464 Trevor Bypass Suite 622"])
    assert not looks_like_free_text(["Red Word Book", "Lavender Thank Toy"])


def test_infer_kind_of_text_columns() -> None:
    assert infer_kind(["1", "22", ""]) == "integer"
    assert infer_kind(["1.5", "2"]) == "float"
    assert infer_kind(["2024-11-30T13:59:08Z"]) == "timestamp"
    assert infer_kind(["1960-11-18", "03/04/1977"]) == "date"
    assert infer_kind(["true", "no"]) == "boolean"
    assert infer_kind(["Casey"]) == "string"


def test_drift_is_a_detected_pii_column_the_contract_does_not_declare() -> None:
    from atlas_core.contracts.loader import parse_contract
    from atlas_engine.pii import pii_drift

    contract = parse_contract(
        {
            "dataset": "people",
            "source": {"kind": "file", "path": "x.csv"},
            "columns": [
                {"name": "id", "type": "integer"},
                {"name": "email", "pii": {"entity": "EMAIL_ADDRESS"}},
                {"name": "contact"},
                {"name": "nickname", "pii": False},
                {"name": "status"},
            ],
        },
        "people.yml",
    )
    report = {
        "id": {"entity": None, "confidence": 1.0},
        "email": {"entity": "EMAIL_ADDRESS", "confidence": 1.0},
        "contact": {"entity": "PHONE_NUMBER", "confidence": 0.93},
        "nickname": {"entity": None, "confidence": 1.0},
        "status": {"entity": None, "confidence": 0.0},
    }
    assert pii_drift(contract, report) == {"contact": {"entity": "PHONE_NUMBER", "confidence": 0.93}}
    assert contract.pii.drift_severity == "warn"
