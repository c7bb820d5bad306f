"""Type raw string batches according to a contract, vectorised with Arrow.

A value that cannot be cast becomes null and its column is listed in ``_atlas_cast_errors`` for
that row, so the row can be quarantined as a validity failure instead of failing the whole load.
Casts are strict: ``2026-02-30`` is an error, not March 2nd.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from atlas_core.contracts.model import Column, ColumnType, Contract
from atlas_core.layout import CAST_ERRORS

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.DATE: pa.date32(),
    ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}

_INT_RE = r"^[+-]?\d{1,19}$"  # int64 overflow beyond 19 digits is caught by the cast
_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?$"
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TS_ZONED_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$"
_TS_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


def arrow_schema(contract: Contract) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in contract.columns])


def _nullify(values: pa.Array, null_values: list[str]) -> pa.Array:
    if not null_values:
        return values
    is_null_token = pc.is_in(values, value_set=pa.array(null_values, pa.string()))
    return pc.if_else(is_null_token, pa.scalar(None, pa.string()), values)


def _strict_cast(values: pa.Array, ok: pa.Array, target: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """Cast the values selected by ``ok``; values Arrow still rejects become null and not ok."""
    candidates = pc.if_else(ok, values, pa.scalar(None, pa.string()))
    try:
        return pc.cast(candidates, target), ok
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        typed = _cast_or_null(candidates, target)
        return typed, pc.and_(ok, pc.is_valid(typed))


def _cast_or_null(values: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast, with null for each value Arrow rejects, found by halving: a few bad values in a batch
    cost a few dozen casts of slices instead of one cast per value (casts are element-wise)."""
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) <= 1:
            return pa.nulls(len(values), target)
        middle = len(values) // 2
        return pa.concat_arrays([_cast_or_null(values.slice(0, middle), target),
                                 _cast_or_null(values.slice(middle), target)])


def _with_format(values: pa.Array, column: Column) -> tuple[pa.Array, pa.Array]:
    """Custom strptime formats are parsed one by one with Python's strict parser."""
    assert column.format is not None
    out: list[object] = []
    for value in values.to_pylist():
        if value is None:
            out.append(None)
            continue
        try:
            parsed = datetime.strptime(value.strip(), column.format)
        except ValueError:
            out.append(None)
            continue
        if column.type == ColumnType.DATE:
            out.append(parsed.date())
        else:
            out.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    result = pa.array(out, ARROW_TYPES[column.type])
    return result, pc.is_valid(result)


def cast_column(raw: pa.Array, column: Column, null_values: list[str]) -> tuple[pa.Array, pa.Array]:
    """Return (typed values, error mask). An error is a non-null input that did not cast."""
    values = _nullify(raw, null_values)
    present = pc.is_valid(values)
    if column.type == ColumnType.STRING:
        return values, pa.array([False] * len(values), pa.bool_())
    text = pc.utf8_trim_whitespace(values)
    if column.format and column.type in (ColumnType.DATE, ColumnType.TIMESTAMP):
        typed, ok = _with_format(text, column)
    elif column.type == ColumnType.INTEGER:
        unsigned = pc.replace_substring_regex(text, r"^\+", "")  # Arrow refuses an explicit "+"
        typed, ok = _strict_cast(unsigned, pc.match_substring_regex(text, _INT_RE), pa.int64())
    elif column.type == ColumnType.FLOAT:
        typed, ok = _strict_cast(text, pc.match_substring_regex(text, _FLOAT_RE), pa.float64())
        ok = pc.and_(ok, pc.fill_null(pc.is_finite(typed), False))  # 1e400 overflows to inf: an error
    elif column.type == ColumnType.BOOLEAN:
        lowered = pc.utf8_lower(text)
        is_true = pc.is_in(lowered, value_set=pa.array(_TRUE))
        is_false = pc.is_in(lowered, value_set=pa.array(_FALSE))
        ok = pc.or_(is_true, is_false)
        typed = pc.if_else(ok, is_true, pa.scalar(None, pa.bool_()))
    elif column.type == ColumnType.DATE:
        typed, ok = _strict_cast(text, pc.match_substring_regex(text, _DATE_RE), pa.date32())
    else:
        typed, ok = _cast_timestamp(text)
    ok = pc.fill_null(ok, False)
    errors = pc.and_(pc.fill_null(present, False), pc.invert(ok))
    typed = pc.if_else(ok, typed, pa.scalar(None, typed.type))
    return typed, errors


def _cast_timestamp(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    target = pa.timestamp("us", tz="UTC")
    zoned_ok = pc.fill_null(pc.match_substring_regex(text, _TS_ZONED_RE), False)
    naive_ok = pc.fill_null(pc.match_substring_regex(text, _TS_NAIVE_RE), False)
    zoned, zoned_ok = _strict_cast(text, zoned_ok, target)
    naive, naive_ok = _strict_cast(text, naive_ok, pa.timestamp("us"))
    naive_utc = pc.assume_timezone(naive, "UTC")
    typed = pc.if_else(zoned_ok, zoned, naive_utc)
    return typed, pc.or_(zoned_ok, pc.fill_null(naive_ok, False))


def cast_batch(batch: pa.RecordBatch, contract: Contract, passthrough: list[str] | None = None) -> pa.RecordBatch:
    """Typed contract columns, then ``passthrough`` columns unchanged, then ``_atlas_cast_errors``."""
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    masks: list[tuple[str, pa.Array]] = []
    for column in contract.columns:
        typed, errors = cast_column(batch.column(column.name), column, contract.null_values)
        arrays.append(typed)
        fields.append(pa.field(column.name, ARROW_TYPES[column.type]))
        masks.append((column.name, errors))
    for name in passthrough or []:
        arrays.append(batch.column(name))
        fields.append(batch.schema.field(name))
    arrays.append(_error_lists(masks, batch.num_rows))
    fields.append(pa.field(CAST_ERRORS, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _error_lists(masks: list[tuple[str, pa.Array]], n: int) -> pa.Array:
    """``col_a;col_b`` for rows with cast errors, null elsewhere (errors are rare: build them in Python)."""
    out: list[str | None] = [None] * n
    for name, mask in masks:
        for index in pc.indices_nonzero(mask).to_pylist():
            out[index] = name if out[index] is None else f"{out[index]};{name}"
    return pa.array(out, pa.string())


def parse_partition_dates(values: pa.Array, column: Column) -> pa.Array:
    """The UTC date (``YYYY-MM-DD``) of each raw value of a date/timestamp column, null if unparsable."""
    typed, _ = cast_column(values, column, [""])
    if pa.types.is_timestamp(typed.type):
        typed = pc.cast(typed, pa.date32())
    return pc.cast(typed, pa.string())  # ISO YYYY-MM-DD, 15x faster than strftime
