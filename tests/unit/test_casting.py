"""Strict, vectorised casts from raw strings: what is accepted, and what becomes a cast error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from atlas_core.casting import arrow_schema, cast_batch, cast_column, parse_partition_dates
from atlas_core.contracts import Contract
from atlas_core.contracts.fields import ColumnType
from atlas_core.contracts.model import Column
from atlas_core.layout import CAST_ERRORS


def cast(
    kind: str, raw: Sequence[str | None], null_values: list[str] | None = None, **options: object
) -> list:
    """``(value, is_error)`` per input."""
    column = Column(name="x", type=ColumnType(kind), **options)  # type: ignore[arg-type]
    typed, errors = cast_column(
        pa.array(list(raw), pa.string()), column, null_values if null_values is not None else [""]
    )
    assert len(typed) == len(errors) == len(raw)
    return list(zip(typed.to_pylist(), errors.to_pylist(), strict=True))


def ok(value: object) -> tuple[object, bool]:
    return (value, False)


ERROR = (None, True)
NULL = (None, False)


def test_integers_are_strict() -> None:
    raw = ["1", "-2", "+3", " 4 ", "007", "", None, "1.0", "1e3", "abc", "0x10", "1_000", "１２", "+-3"]
    assert cast("integer", raw) == [
        ok(1),
        ok(-2),
        ok(3),
        ok(4),
        ok(7),
        NULL,
        NULL,
        *[ERROR] * 7,
    ]


def test_integer_overflow_is_an_error() -> None:
    raw = [
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "5",
    ]
    assert cast("integer", raw) == [
        ok(2**63 - 1),
        ok(-(2**63)),
        ERROR,
        ERROR,
        ERROR,
        ok(5),
    ]


def test_floats() -> None:
    raw = ["1.5", "-2", ".5", "5.", "1e3", "1E-3", "+2.5", "1,5", "nan", "inf", "1e400", "-1e400", "", "x"]
    assert cast("float", raw) == [
        ok(1.5),
        ok(-2.0),
        ok(0.5),
        ok(5.0),
        ok(1000.0),
        ok(0.001),
        ok(2.5),
        *[ERROR] * 5,
        NULL,
        ERROR,
    ]


def test_booleans() -> None:
    raw = ["true", "False", "T", "f", "YES", "no", "y", "N", "1", "0", "maybe", "2", ""]
    assert cast("boolean", raw) == [
        ok(True),
        ok(False),
        ok(True),
        ok(False),
        ok(True),
        ok(False),
        ok(True),
        ok(False),
        ok(True),
        ok(False),
        ERROR,
        ERROR,
        NULL,
    ]


def test_dates_are_calendar_checked() -> None:
    raw = [
        "2026-02-28",
        "2024-02-29",
        "2026-02-30",
        "2023-02-29",
        "2026-13-01",
        "2026-1-1",
        "20260101",
        "2026-02-28T00:00:00",
        " 2026-10-01 ",
    ]
    assert cast("date", raw) == [
        ok(date(2026, 2, 28)),
        ok(date(2024, 2, 29)),
        *[ERROR] * 6,
        ok(date(2026, 10, 1)),
    ]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_iso_timestamps_with_z_offsets_and_naive_values() -> None:
    raw = [
        "2026-10-01T12:00:00Z",
        "2026-10-01T12:00:00+02:00",
        "2026-10-01T12:00:00-0530",
        "2026-10-01 12:00:00",  # naive: taken as UTC
        "2026-10-01T12:00",
        "2026-10-01",
        "2026-10-01T12:00:00.123456Z",
        "2026-02-30T00:00:00Z",
        "2026-10-01T25:00:00Z",
        "2026-10-01T12:00:00 CEST",
        "yesterday",
    ]
    result = cast("timestamp", raw)
    expected = [
        ok(utc(2026, 10, 1, 12)),
        ok(utc(2026, 10, 1, 10)),
        ok(utc(2026, 10, 1, 17, 30)),
        ok(utc(2026, 10, 1, 12)),
        ok(utc(2026, 10, 1, 12)),
        ok(utc(2026, 10, 1)),
        ok(utc(2026, 10, 1, 12, 0, 0, 123456)),
        *[ERROR] * 4,
    ]
    assert result == expected
    assert all(v is None or v.utcoffset() == timedelta(0) for v, _ in result)


def test_custom_formats() -> None:
    assert cast("date", ["01/02/2026", "31/02/2026", "2026-01-02", ""], format="%d/%m/%Y") == [
        ok(date(2026, 2, 1)),
        ERROR,
        ERROR,
        NULL,
    ]
    assert cast("timestamp", ["01/02/2026 10:11", "01/02/2026 25:11"], format="%d/%m/%Y %H:%M") == [
        ok(utc(2026, 2, 1, 10, 11)),
        ERROR,
    ]
    zoned = cast("timestamp", ["2026-10-01 10:11 +0200"], format="%Y-%m-%d %H:%M %z")
    assert zoned == [ok(datetime(2026, 10, 1, 10, 11, tzinfo=timezone(timedelta(hours=2))))]


def test_null_tokens_come_from_the_contract() -> None:
    assert cast("integer", ["NULL", "", "n/a", "1"], null_values=["NULL", "n/a"]) == [
        NULL,
        ERROR,
        NULL,
        ok(1),
    ]
    # Strings are never cast: only the null tokens become null.
    assert cast("string", ["NULL", "", " x "], null_values=["NULL"]) == [NULL, ok(""), ok(" x ")]


def contract() -> Contract:
    return Contract.model_validate(
        {
            "dataset": "t",
            "source": {"kind": "file", "path": "t.csv"},
            "columns": [
                {"name": "id", "type": "integer"},
                {"name": "price", "type": "float"},
                {"name": "day", "type": "date"},
                {"name": "label"},
            ],
        }
    )


def test_cast_batch_lists_the_failing_columns_per_row() -> None:
    raw = pa.record_batch(
        {
            "id": pa.array(["1", "x", "3"]),
            "price": pa.array(["1.5", "2", "y"]),
            "day": pa.array(["2026-10-01", "2026-02-30", "2026-10-03"]),
            "label": pa.array(["a", "b", "c"]),
            "_atlas_row_number": pa.array([1, 2, 3], pa.int64()),
        }
    )
    typed = cast_batch(raw, contract(), passthrough=["_atlas_row_number"])
    assert typed.schema.names == ["id", "price", "day", "label", "_atlas_row_number", CAST_ERRORS]
    assert typed.schema.field("id").type == pa.int64()
    assert typed.schema.field("day").type == pa.date32()
    assert typed.column(CAST_ERRORS).to_pylist() == [None, "id;day", "price"]
    assert typed.column("_atlas_row_number").to_pylist() == [1, 2, 3]
    assert arrow_schema(contract()).names == ["id", "price", "day", "label"]


def test_partition_dates_are_utc_days() -> None:
    column = Column(name="ts", type=ColumnType.TIMESTAMP)
    raw = pa.array(["2026-10-01T23:30:00-02:00", "2026-10-02T00:00:00Z", "bad", None])
    assert parse_partition_dates(raw, column).to_pylist() == ["2026-10-02", "2026-10-02", None, None]


@pytest.mark.parametrize("kind", ["integer", "float", "boolean", "date", "timestamp"])
def test_all_null_and_empty_inputs(kind: str) -> None:
    assert cast(kind, []) == []
    assert cast(kind, [None, None]) == [NULL, NULL]
