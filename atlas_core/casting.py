"""Type raw string batches according to a contract, vectorised with Arrow.

A value that cannot be cast becomes null and its column is listed in ``_atlas_cast_errors`` for
that row, so the row can be quarantined as a validity failure instead of failing the whole load.
Casts are strict: ``2026-02-30`` is an error, not March 2nd.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from atlas_core.contracts.fields import ColumnType
from atlas_core.contracts.model import Column, Contract
from atlas_core.layout import CAST_ERRORS
from atlas_core.standardize import StandardizeCounts, standardize_column

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.DATE: pa.date32(),
    ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    ColumnType.TIME: pa.time64("us"),
}

_INT_RE = r"^[+-]?\d{1,19}$"  # int64 overflow beyond 19 digits is caught by the cast
_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?$"
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TS_ZONED_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$"
_TS_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$"
TRUE_TOKENS = ["true", "t", "yes", "y", "1", "on"]
FALSE_TOKENS = ["false", "f", "no", "n", "0", "off"]
# 7:10, 07:10:30, 19:10:30.25, 7:10 a.m., 7:10PM, 7 pm (after lower-casing and dropping dots and spaces)
_TIME_RE = r"^(?P<h>\d{1,2})(?::(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?)?(?P<ampm>am|pm)?$"


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
        return pa.concat_arrays(
            [_cast_or_null(values.slice(0, middle), target), _cast_or_null(values.slice(middle), target)]
        )


def _normal_text(values: pa.Array) -> pa.Array:
    """Lower-case, single spaces, no leading zeros in numbers: how a parsed value is compared to its text."""
    out = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    out = pc.replace_substring_regex(out, r"\s+", " ")
    return pc.replace_substring_regex(out, r"(^|[^0-9])0+([0-9])", r"\1\2")


def _strptime_python(values: list[str | None], fmt: str) -> list[datetime | None]:
    out: list[datetime | None] = []
    for value in values:
        try:
            out.append(None if value is None else datetime.strptime(value, fmt))
        except ValueError:
            out.append(None)
    return out


def _parse_format(text: pa.Array, fmt: str) -> pa.Array:
    """Timestamps (UTC) parsed with ``fmt``; null where the text does not follow it strictly.

    Arrow's strptime is vectorised but lenient (``2026-02-30`` becomes March 2nd): a parsed value is
    kept when formatting it back gives the same text (ignoring case, spacing and leading zeros). The
    few values that differ (e.g. with ``%z`` offsets, or invalid days) are parsed again with Python's
    strict parser: the documented per-value fallback, taken only for those rows.
    """
    parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    if parsed.type.tz is None:
        parsed = pc.assume_timezone(parsed, "UTC")
    else:
        parsed = pc.cast(parsed, pa.timestamp("us", tz="UTC"))
    try:
        back = pc.strftime(parsed, format=fmt)
        same = pc.fill_null(pc.equal(_normal_text(back), _normal_text(text)), False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        same = pa.array([False] * len(text), pa.bool_())
    recheck = pc.and_(pc.is_valid(text), pc.invert(same))
    indices = pc.indices_nonzero(recheck).to_pylist()
    if not indices:
        return parsed
    strict = _strptime_python(pc.take(text, pa.array(indices, pa.int64())).to_pylist(), fmt)
    fixed = [None if v is None else (v if v.tzinfo else v.replace(tzinfo=UTC)) for v in strict]
    values = parsed.to_pylist()  # only when some rows needed the strict parser
    for index, value in zip(indices, fixed, strict=True):
        values[index] = value
    return pa.array(values, pa.timestamp("us", tz="UTC"))


def _with_formats(text: pa.Array, column: Column) -> tuple[pa.Array, pa.Array]:
    """Date/timestamp/time values parsed with the column's formats, tried in order."""
    typed: pa.Array | None = None
    for fmt in column.accepted_formats:
        if column.type == ColumnType.TIME:
            parsed = _parse_format(pc.binary_join_element_wise("1970-01-01 ", text, ""), f"%Y-%m-%d {fmt}")
        else:
            parsed = _parse_format(text, fmt)
        typed = parsed if typed is None else pc.coalesce(typed, parsed)
    assert typed is not None
    if column.type == ColumnType.DATE:
        result = pc.cast(typed, pa.date32())
    elif column.type == ColumnType.TIME:
        micros = pc.subtract(pc.cast(typed, pa.int64()), 0)
        result = pc.cast(micros, pa.time64("us"))
    else:
        result = typed
    return result, pc.is_valid(result)


def _cast_time(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``7:10 a.m.``, ``7:10PM``, ``19:10``, ``19:10:30.5`` as time of day; 24-hour values have no am/pm."""
    compact = pc.replace_substring_regex(pc.utf8_lower(text), r"\s*([ap])\.?\s*(m\.?)?\s*$", r"\1m")
    compact = pc.replace_substring_regex(compact, r"\s", "")
    ok = pc.fill_null(pc.match_substring_regex(compact, _TIME_RE), False)
    parts = pc.extract_regex(pc.if_else(ok, compact, pa.scalar(None, pa.string())), _TIME_RE)

    def number(field: pa.Array, default: int) -> pa.Array:
        present = pc.and_(pc.is_valid(field), pc.not_equal(field, ""))
        return pc.if_else(
            pc.fill_null(present, False), pc.cast(pc.if_else(present, field, "0"), pa.int64()), default
        )

    hours = number(pc.struct_field(parts, "h"), 0)
    minutes = number(pc.struct_field(parts, "m"), 0)
    seconds = number(pc.struct_field(parts, "s"), 0)
    frac = pc.fill_null(pc.struct_field(parts, "f"), "")
    micros = number(pc.utf8_rpad(frac, 6, "0"), 0)
    ampm = pc.struct_field(parts, "ampm")
    has_ampm = pc.fill_null(pc.not_equal(ampm, ""), False)
    is_pm = pc.fill_null(pc.equal(ampm, "pm"), False)
    twelve = pc.equal(hours, 12)
    hours24 = pc.if_else(has_ampm, pc.add(pc.if_else(twelve, 0, hours), pc.if_else(is_pm, 12, 0)), hours)
    valid_hours = pc.if_else(
        has_ampm, pc.and_(pc.greater_equal(hours, 1), pc.less_equal(hours, 12)), pc.less(hours, 24)
    )
    has_minutes = pc.fill_null(pc.not_equal(pc.struct_field(parts, "m"), ""), False)
    ok = pc.and_(
        ok, pc.fill_null(pc.and_(valid_hours, pc.and_(pc.less(minutes, 60), pc.less(seconds, 60))), False)
    )
    ok = pc.and_(ok, pc.or_(has_minutes, has_ampm))  # a bare number is not a time
    total = pc.add(
        pc.multiply(pc.add(pc.multiply(pc.add(pc.multiply(hours24, 60), minutes), 60), seconds), 1_000_000),
        micros,
    )
    typed = pc.cast(pc.if_else(ok, total, pa.scalar(None, pa.int64())), pa.time64("us"))
    return typed, ok


def cast_column(
    raw: pa.Array, column: Column, null_values: list[str], counts: StandardizeCounts | None = None
) -> tuple[pa.Array, pa.Array]:
    """Return (typed values, error mask). An error is a non-null input that did not cast.

    The column's ``standardize`` steps run first, on the raw text, then null tokens apply.
    """
    values = _nullify(standardize_column(raw, column, counts), null_values)
    present = pc.is_valid(values)
    if column.type == ColumnType.STRING:
        return values, pa.array([False] * len(values), pa.bool_())
    text = pc.utf8_trim_whitespace(values)
    if column.accepted_formats and column.type in (ColumnType.DATE, ColumnType.TIMESTAMP, ColumnType.TIME):
        typed, ok = _with_formats(text, column)
    elif column.type == ColumnType.TIME:
        typed, ok = _cast_time(text)
    elif column.type == ColumnType.INTEGER:
        unsigned = pc.replace_substring_regex(text, r"^\+", "")  # Arrow refuses an explicit "+"
        typed, ok = _strict_cast(unsigned, pc.match_substring_regex(text, _INT_RE), pa.int64())
    elif column.type == ColumnType.FLOAT:
        typed, ok = _strict_cast(text, pc.match_substring_regex(text, _FLOAT_RE), pa.float64())
        ok = pc.and_(ok, pc.fill_null(pc.is_finite(typed), False))  # 1e400 overflows to inf: an error
    elif column.type == ColumnType.BOOLEAN:
        lowered = pc.utf8_lower(text)
        is_true = pc.is_in(lowered, value_set=pa.array(TRUE_TOKENS))
        is_false = pc.is_in(lowered, value_set=pa.array(FALSE_TOKENS))
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


def cast_batch(
    batch: pa.RecordBatch,
    contract: Contract,
    passthrough: list[str] | None = None,
    counts: StandardizeCounts | None = None,
) -> pa.RecordBatch:
    """Typed contract columns, then ``passthrough`` columns unchanged, then ``_atlas_cast_errors``.

    ``counts`` collects the cells each standardization step changed."""
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    masks: list[tuple[str, pa.Array]] = []
    for column in contract.columns:
        typed, errors = cast_column(batch.column(column.name), column, contract.null_values, counts)
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
