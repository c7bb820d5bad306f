"""Standardize steps, accepted formats and the time type: pure Arrow, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pyarrow as pa
import pytest

from atlas_core.casting import cast_batch
from atlas_core.contracts.loader import contract_json_schema, parse_contract
from atlas_core.errors import ContractError
from atlas_core.standardize import StandardizeCounts


def _cast(
    column: dict[str, Any], values: list[str | None], null_values: list[str] | None = None
) -> tuple[list[Any], list[str | None], StandardizeCounts]:
    contract = parse_contract(
        {"dataset": "t", "columns": [column], "null_values": null_values or [""]}, "t.yml"
    )
    counts = StandardizeCounts()
    batch = cast_batch(
        pa.RecordBatch.from_pydict({column["name"]: pa.array(values, pa.string())}), contract, counts=counts
    )
    return batch.column(0).to_pylist(), batch.column(1).to_pylist(), counts


@pytest.mark.parametrize(
    ("column", "raw", "expected"),
    [
        (
            {"name": "a", "standardize": ["trim", "collapse_spaces"]},
            [" San   Francisco ", None],
            ["San Francisco", None],
        ),
        ({"name": "a", "standardize": ["lower"]}, ["MALE"], ["male"]),
        ({"name": "a", "standardize": ["upper"]}, ["ca"], ["CA"]),
        ({"name": "a", "standardize": ["title"]}, ["san francisco"], ["San Francisco"]),
        (
            {"name": "a", "standardize": [{"replace": {"pattern": r"\s+[A-Z]{2}$", "with": ""}}]},
            ["San Francisco CA", "Bend"],
            ["San Francisco", "Bend"],
        ),
        (
            {"name": "a", "standardize": [{"replace": {"pattern": r"(\d+)-(\d+)", "with": r"\2-\1"}}]},
            ["12-34"],
            ["34-12"],
        ),
        ({"name": "a", "standardize": [{"extract": r"(\d+) oz"}]}, ["a 12 oz can", "none"], ["12", "none"]),
        ({"name": "a", "standardize": [{"extract": r"\d+"}]}, ["abc 42 x"], ["42"]),
        (
            {"name": "a", "standardize": [{"map": {"M": "male", "Male": "male", "F": "female"}}]},
            ["m", "MALE ", "f", "x"],
            ["male", "male", "female", "x"],
        ),
        (
            {"name": "a", "type": "float", "standardize": [{"strip_units": ["oz", "oz.", "ounce", "%"]}]},
            ["12.0 oz", "12.0 OZ.", "16ounce", "0.09%", "12 oz can"],
            [12.0, 12.0, 16.0, 0.09, None],
        ),
        (
            {"name": "a", "type": "float", "standardize": [{"number": {"decimal": ",", "thousands": "."}}]},
            ["1.234,5", "-3,25", "7"],
            [1234.5, -3.25, 7.0],
        ),
        (
            {"name": "a", "type": "float", "standardize": ["currency"]},
            ["$1299.00", "12 EUR", "€ 5", "-$3"],
            [1299.0, 12.0, 5.0, -3.0],
        ),
        ({"name": "a", "type": "float", "standardize": ["percent"]}, ["5%", "0.5"], [0.05, 0.5]),
        (
            {
                "name": "a",
                "type": "boolean",
                "standardize": [{"boolean": {"true": ["ja"], "false": ["nein"]}}],
            },
            ["JA", "nein", "on", "Off"],
            [True, False, True, False],
        ),
        (
            {"name": "a", "type": "time"},
            ["7:10 a.m.", "7:10PM", "12:15 a.m.", "19:10:30.25", "7 pm"],
            [time(7, 10), time(19, 10), time(0, 15), time(19, 10, 30, 250000), time(19, 0)],
        ),
        (
            {"name": "a", "type": "date", "formats": ["%Y-%m-%d", "%m/%d/%Y", "%d %b %Y"]},
            ["2026-02-28", "12/1/2011", "1 Feb 2020", "2/30/2011"],
            [date(2026, 2, 28), date(2011, 12, 1), date(2020, 2, 1), None],
        ),
        (
            {"name": "a", "type": "timestamp", "formats": ["%m/%d/%Y %I:%M %p", "%Y-%m-%d %H:%M:%S%z"]},
            ["12/1/2011 7:10 PM", "2011-12-01 07:10:00+0200"],
            [datetime(2011, 12, 1, 19, 10, tzinfo=UTC), datetime(2011, 12, 1, 5, 10, tzinfo=UTC)],
        ),
    ],
)
def test_steps(column: dict[str, Any], raw: list[str | None], expected: list[Any]) -> None:
    values, _, _ = _cast(column, raw)
    assert values == expected


def test_invalid_times_are_type_errors() -> None:
    values, errors, _ = _cast({"name": "t", "type": "time"}, ["25:00", "13:10 p.m.", "7", "7:61", ""])
    assert values == [None] * 5
    assert errors == ["t", "t", "t", "t", None]


def test_steps_run_before_null_tokens_and_count_changed_cells() -> None:
    values, errors, counts = _cast(
        {"name": "n", "type": "integer", "standardize": ["trim"]}, [" N/A ", "4", " 5"], ["N/A"]
    )
    assert values == [None, 4, 5] and errors == [None, None, None]
    assert counts.as_dict() == {"n": {"trim": 2}}


def test_repeated_step_names_are_numbered() -> None:
    steps = [{"replace": {"pattern": "a", "with": "b"}}, {"replace": {"pattern": "b", "with": "c"}}]
    _, _, counts = _cast({"name": "s", "standardize": steps}, ["a", "b", "x"])
    assert counts.as_dict() == {"s": {"replace#1": 1, "replace#2": 2}}


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            {"name": "a", "standardize": [{"replace": {"pattern": "(", "with": ""}}]},
            "x.yml: columns.0.standardize.0.replace.pattern: invalid regular expression '('",
        ),
        (
            {"name": "a", "standardize": ["trim", "explode"]},
            "x.yml: columns.0.standardize.1: unknown step 'explode'",
        ),
        (
            {"name": "a", "standardize": [{"strip_units": ["oz"]}]},
            "x.yml: columns.0.standardize.0: step 'strip_units' does not apply to a string column",
        ),
        (
            {"name": "a", "type": "float", "standardize": ["lower"]},
            "x.yml: columns.0.standardize.0: step 'lower' does not apply to a float column",
        ),
        (
            {"name": "a", "type": "float", "standardize": [{"number": {"decimal": ",", "thousands": ","}}]},
            "x.yml: columns.0.standardize.0.number: decimal and thousands separators must differ",
        ),
        ({"name": "a", "standardize": [{"map": {"a": "b", "A": "c"}}]}, "'A' maps to two values"),
        ({"name": "a", "standardize": [{"trim": None}]}, "write it as the plain name 'trim'"),
        (
            {"name": "a", "formats": ["%Y"]},
            "x.yml: columns.0: format/formats apply to date, timestamp or time columns",
        ),
    ],
)
def test_bad_steps_are_one_line_errors(column: dict[str, Any], message: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_contract({"dataset": "x", "columns": [column]}, "x.yml")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_source_is_optional_and_the_schema_describes_every_step() -> None:
    contract = parse_contract({"dataset": "x", "columns": [{"name": "a"}]}, "x.yml")
    assert contract.source is None
    schema = contract_json_schema()
    for step in (
        "trim",
        "collapse_spaces",
        "lower",
        "upper",
        "title",
        "replace",
        "extract",
        "strip_units",
        "map",
        "number",
        "currency",
        "percent",
        "boolean",
    ):
        assert f"{step}: " in schema
    assert '"repair"' in schema
