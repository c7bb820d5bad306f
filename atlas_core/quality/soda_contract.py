"""Generate a Soda Core v4 data contract (a plain dict, dumped as YAML) from an Atlas contract.

Every generated check carries ``attributes: {dimension: <dimension>, atlas_check: <id>}`` so its
outcome is folded into the right quality dimension. Thresholds are derived from the contract's
dimension thresholds: a column may have at most ``(1 - threshold)`` of its rows missing, invalid or
duplicated. The contract's ``quality.soda`` checks are appended unchanged (a missing dimension
attribute defaults to validity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atlas_core import layout
from atlas_core.contracts.fields import ColumnType, Dimension
from atlas_core.contracts.model import Column, Contract

WINDOW_END_VARIABLE = "ATLAS_WINDOW_END"
"""Soda variable holding the end of the newest partition of a load: the ``now`` of partitioned freshness."""

SODA_DATA_TYPES = {
    ColumnType.STRING: "text",
    ColumnType.INTEGER: "bigint",
    ColumnType.FLOAT: "double precision",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date",
    ColumnType.TIMESTAMP: "timestamp with time zone",
    ColumnType.TIME: "time without time zone",
}


@dataclass(frozen=True)
class ReferenceData:
    """A single-column reference whose target table exists: checked by Soda's ``valid_reference_data``."""

    column: str
    dataset_qualified_name: str
    ref_column: str
    dimension: Dimension
    check_id: str


def passthrough_dimension(item: dict[str, Any]) -> Dimension:
    body = next(iter(item.values())) or {}
    return Dimension((body.get("attributes") or {}).get("dimension", Dimension.VALIDITY.value))


def _percent_allowed(contract: Contract, dimension: Dimension) -> float:
    return round((1.0 - contract.quality.thresholds[dimension]) * 100.0, 6)


def _tag(dimension: Dimension, check_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**(extra or {}), "attributes": {"dimension": dimension.value, "atlas_check": check_id}}


def _percent(contract: Contract, dimension: Dimension) -> dict[str, Any]:
    return {
        "threshold": {
            "metric": "percent",
            "must_be_less_than_or_equal": _percent_allowed(contract, dimension),
        }
    }


def _validity(column: Column) -> dict[str, Any]:
    valid: dict[str, Any] = {}
    if column.pattern is not None:
        valid["valid_format"] = {"name": f"{column.name} pattern", "regex": column.pattern}
    values = column.allowed_values
    if values is not None and column.type in (ColumnType.STRING, ColumnType.INTEGER, ColumnType.FLOAT):
        if column.type == ColumnType.STRING:
            valid["valid_values"] = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            valid["valid_values"] = list(values)
    if column.min is not None:
        valid["valid_min"] = column.min
    if column.max is not None:
        valid["valid_max"] = column.max
    if column.type == ColumnType.STRING:
        if column.min_length is not None:
            valid["valid_min_length"] = column.min_length
        if column.max_length is not None:
            valid["valid_max_length"] = column.max_length
    return valid


def column_checks(
    contract: Contract, column: Column, references: list[ReferenceData]
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    name = column.name
    if column.required or name in contract.primary_key:
        body = _percent(contract, Dimension.COMPLETENESS)
        if column.type != ColumnType.STRING:
            # A present value that did not cast is null in staging: a validity failure, not a missing value.
            body["filter"] = (
                f"\"{layout.CAST_ERRORS}\" IS NULL OR strpos(';' || "
                f"\"{layout.CAST_ERRORS}\" || ';', ';{name};') = 0"
            )
        checks.append({"missing": _tag(Dimension.COMPLETENESS, f"{name}.missing", body)})
    valid = _validity(column)
    if valid:
        checks.append(
            {
                "invalid": _tag(
                    Dimension.VALIDITY, f"{name}.invalid", {**valid, **_percent(contract, Dimension.VALIDITY)}
                )
            }
        )
    if column.unique or contract.primary_key == [name]:
        checks.append(
            {
                "duplicate": _tag(
                    Dimension.UNIQUENESS, f"{name}.duplicate", _percent(contract, Dimension.UNIQUENESS)
                )
            }
        )
    for ref in references:
        if ref.column == name:
            body = {
                "qualifier": "ref",
                "valid_reference_data": {"dataset": ref.dataset_qualified_name, "column": ref.ref_column},
                **_percent(contract, ref.dimension),
            }
            checks.append({"invalid": _tag(ref.dimension, ref.check_id, body)})
    return checks


def dataset_checks(contract: Contract, *, partitioned_freshness: bool) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [
        {"row_count": _tag(Dimension.COMPLETENESS, "row_count", {"threshold": {"must_be_greater_than": 0}})},
        {"schema": _tag(Dimension.VALIDITY, "schema", {"allow_extra_columns": True})},
        {
            "failed_rows": _tag(
                Dimension.VALIDITY,
                "type_casts",
                {
                    "name": "values cast to their declared types",
                    "expression": f'"{layout.CAST_ERRORS}" IS NOT NULL',
                    **_percent(contract, Dimension.VALIDITY),
                },
            )
        },
    ]
    if len(contract.primary_key) > 1:
        checks.append(
            {
                "duplicate": _tag(
                    Dimension.UNIQUENESS,
                    "primary_key.duplicate",
                    {
                        "columns": list(contract.primary_key),
                        **_percent(contract, Dimension.UNIQUENESS),
                    },
                )
            }
        )
    for column in contract.columns:
        window = column.freshness_window
        if window is None:
            continue
        hours = window.total_seconds() / 3600.0
        body: dict[str, Any] = {"column": column.name}
        if partitioned_freshness:
            # "now" is the end of the newest partition: its newest row must be inside that day (+ allowance).
            body["now_variable"] = WINDOW_END_VARIABLE
            hours += 24.0
        body["threshold"] = {"unit": "hour", "must_be_less_than": hours}
        checks.append({"freshness": _tag(Dimension.TIMELINESS, f"{column.name}.freshness", body)})
    for expr in contract.rules.expressions:
        checks.append(
            {
                "failed_rows": _tag(
                    expr.dimension,
                    f"expr.{expr.name}",
                    {
                        "name": expr.name,
                        "qualifier": expr.name,
                        "expression": f"NOT ({expr.sql})",
                        **_percent(contract, expr.dimension),
                    },
                )
            }
        )
    for index, item in enumerate(contract.quality.soda):
        ((check_type, body_in),) = item.items()
        body_out = dict(body_in or {})
        # A qualifier keeps a pass-through check distinct from a generated one of the same type.
        body_out.setdefault("qualifier", f"extra{index}")
        attributes = dict(body_out.get("attributes") or {})
        attributes.setdefault("dimension", Dimension.VALIDITY.value)
        attributes.setdefault("atlas_check", f"soda.{check_type}.{body_out['qualifier']}")
        body_out["attributes"] = attributes
        checks.append({check_type: body_out})
    return checks


def soda_contract(
    contract: Contract,
    dataset_qualified_name: str,
    *,
    references: list[ReferenceData] | None = None,
) -> dict[str, Any]:
    """The Soda contract for a staging table of ``contract`` (contract columns + Atlas bookkeeping)."""
    refs = references or []
    columns: list[dict[str, Any]] = []
    for column in contract.columns:
        entry: dict[str, Any] = {"name": column.name, "data_type": SODA_DATA_TYPES[column.type]}
        checks = column_checks(contract, column, refs)
        if checks:
            entry["checks"] = checks
        columns.append(entry)
    columns.append({"name": layout.PARTITION, "data_type": "text"})
    document: dict[str, Any] = {"dataset": dataset_qualified_name}
    if contract.is_partitioned and any(c.freshness for c in contract.columns):
        document["variables"] = {WINDOW_END_VARIABLE: None}
    document["checks"] = dataset_checks(contract, partitioned_freshness=contract.is_partitioned)
    document["columns"] = columns
    return document
