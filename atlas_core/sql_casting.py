"""Type raw text columns inside PostgreSQL, with the strict semantics of :mod:`atlas_core.casting`.

Silver's rows never leave the server to be typed: ``INSERT ... SELECT`` reads bronze's text
columns and writes typed values plus ``_atlas_cast_errors`` into staging. The checks are the Arrow
caster's, written in SQL: the accepted characters or shape (every digit turned into ``9`` and looked
up in the list of accepted shapes: a fraction of the cost of a regular expression), then
``pg_input_is_valid`` (PostgreSQL 16 and later) for what a shape cannot say (``2026-02-30``, an
integer beyond int64). On older servers, and for columns whose typing has no SQL form here
(``standardize:`` steps, ``format``/``formats``, ``time`` columns), silver types with Arrow instead.

Known differences from the Arrow caster, all on values no real file should hold: PostgreSQL refuses
year ``0000`` and UTC offsets beyond ±15:59, which Arrow accepts.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from atlas_core.casting import FALSE_TOKENS, TRUE_TOKENS
from atlas_core.contracts.fields import ColumnType
from atlas_core.contracts.model import Column, Contract
from atlas_core.layout import CAST_ERRORS

MIN_SERVER_VERSION = 160000
"""``pg_input_is_valid`` first shipped with PostgreSQL 16."""

# What Arrow's utf8_trim_whitespace removes (measured over every code point).
WHITESPACE = "".join(
    chr(c)
    for c in (
        *range(0x09, 0x0E),
        *range(0x1C, 0x21),
        0x85,
        0xA0,
        0x1680,
        *range(0x2000, 0x200B),
        0x2028,
        0x2029,
        0x202F,
        0x205F,
        0x3000,
    )
)
DIGITS = "0123456789"
# Shapes after every digit became 9: translate() and a hashed IN list cost a fraction of a regex match.
_DAY = "9999-99-99"
_CLOCKS = ["99:99", "99:99:99", *("99:99:99." + "9" * n for n in range(1, 7))]
_STAMPS = [f"{_DAY}{sep}{clock}" for sep in ("T", " ") for clock in _CLOCKS]
ZONED_SHAPES = [f"{stamp}{zone}" for stamp in _STAMPS for zone in ("Z", "+99:99", "+9999", "-99:99", "-9999")]
NAIVE_SHAPES = [_DAY, *_STAMPS]
EXPONENT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"


def sql_typable(contract: Contract) -> bool:
    """Whether every column of ``contract`` can be typed by :func:`typed_rows`."""
    return all(_typable(c) for c in contract.columns)


def _typable(column: Column) -> bool:
    return not column.standardize and not column.accepted_formats and column.type != ColumnType.TIME


def typed_rows(
    contract: Contract, source: sql.Composable, where: sql.Composable, passthrough: list[str]
) -> sql.Composed:
    """``SELECT`` the contract's columns typed, then ``passthrough`` columns, then ``_atlas_cast_errors``.

    Three nested levels, each kept apart with ``OFFSET 0`` so PostgreSQL does not inline one into
    the next (it would repeat the trim in every check and every check in the error list): the text
    after null tokens and trimming, the typed values with a flag for present values, the error list.
    """
    columns = contract.columns
    assert sql_typable(contract), "a column needs the Arrow caster"
    nulls = sql.SQL(", ").join(sql.Literal(v) for v in contract.null_values)
    text = []
    for c in columns:
        raw = sql.SQL("b.{}").format(sql.Identifier(c.name))
        value = (
            raw
            if c.type == ColumnType.STRING
            else sql.SQL("btrim({}, {})").format(raw, sql.Literal(WHITESPACE))
        )
        if contract.null_values:
            value = sql.SQL("CASE WHEN {} IN ({}) THEN NULL ELSE {} END").format(raw, nulls, value)
        text.append(sql.SQL("{} AS {}").format(value, sql.Identifier(c.name)))
    keep = [sql.Identifier(p) for p in passthrough]
    level1 = sql.SQL("SELECT {}, {} FROM {} AS b WHERE {} OFFSET 0").format(
        sql.SQL(", ").join(text), sql.SQL(", ").join(sql.SQL("b.{}").format(p) for p in keep), source, where
    )
    typed, flags, errors = [], [], []
    for c in columns:
        name = sql.Identifier(c.name)
        typed.append(sql.SQL("{} AS {}").format(_typed(c, sql.SQL("t.{}").format(name)), name))
        if c.type != ColumnType.STRING:
            flag = sql.Identifier(f"{c.name}__present")
            flags.append(sql.SQL("t.{} IS NOT NULL AS {}").format(name, flag))
            errors.append(
                sql.SQL("CASE WHEN s.{} AND s.{} IS NULL THEN {} END").format(flag, name, sql.Literal(c.name))
            )
    level2 = sql.SQL("SELECT {} FROM ({}) AS t OFFSET 0").format(
        sql.SQL(", ").join([*typed, *flags, *(sql.SQL("t.{}").format(p) for p in keep)]), level1
    )
    error_list = (
        sql.SQL("NULLIF(concat_ws(';', {}), '')").format(sql.SQL(", ").join(errors))
        if errors
        else sql.SQL("NULL::text")
    )
    return sql.SQL("SELECT {}, {} AS {} FROM ({}) AS s").format(
        sql.SQL(", ").join(
            sql.SQL("s.{}").format(sql.Identifier(n)) for n in [*contract.column_names, *passthrough]
        ),
        error_list,
        sql.Identifier(CAST_ERRORS),
        level2,
    )


def _typed(column: Column, t: sql.Composable) -> sql.Composable:
    """The typed value of trimmed text ``t``: NULL when absent or when it does not cast strictly.

    A cheap test of the characters or the shape comes first, because ``pg_input_is_valid`` also takes
    what the Arrow caster refuses (``0x1F``, ``1_000``, ``NaN``, ``20260228``, ``24:00``, leap seconds).
    """
    kind = column.type
    if kind == ColumnType.STRING:
        return t
    if kind == ColumnType.BOOLEAN:
        return sql.SQL(
            "CASE WHEN lower({t}) IN ({yes}) THEN true WHEN lower({t}) IN ({no}) THEN false END"
        ).format(t=t, yes=_literals(TRUE_TOKENS), no=_literals(FALSE_TOKENS))
    # The first branch of integers and floats takes the common plain value (at most 18 digits; digits with
    # at most one point, 30 characters) that always casts: it is parsed once instead of twice.
    if kind == ColumnType.INTEGER:
        return sql.SQL(
            "CASE WHEN length({t}) BETWEEN 1 AND 18 AND btrim({t}, {digits}) = '' THEN {t}::int8 "
            "WHEN btrim({t}, {chars}) = '' AND length(ltrim({t}, '+-')) <= 19 "
            "AND pg_input_is_valid({t}, 'int8') THEN {t}::int8 END"
        ).format(t=t, digits=sql.Literal(DIGITS), chars=sql.Literal("+-" + DIGITS))
    if kind == ColumnType.FLOAT:
        # Arrow reads a value too small for float8 (1e-400) as 0; PostgreSQL calls it out of range.
        shaped = sql.SQL(
            "btrim({t}, {chars}) = '' AND (strpos(upper({t}), 'E') = 0 OR {t} ~ {exponent})"
        ).format(t=t, chars=sql.Literal("+-.eE" + DIGITS), exponent=sql.Literal(EXPONENT))
        return sql.SQL(
            "CASE WHEN length({t}) BETWEEN 1 AND 30 AND {t} <> '.' "
            "AND translate({t}, {digits}, '') IN ('', '.') THEN {t}::float8 "
            "WHEN {shaped} AND pg_input_is_valid({t}, 'float8') THEN {t}::float8 "
            "WHEN {shaped} AND pg_input_is_valid({t}, 'numeric') AND abs({t}::numeric) < 1 THEN 0::float8 END"
        ).format(shaped=shaped, t=t, digits=sql.Literal(DIGITS))
    shape = sql.SQL("translate({}, {}, '9999999999')").format(t, sql.Literal(DIGITS))
    if kind == ColumnType.DATE:
        return sql.SQL("CASE WHEN {} = {} AND pg_input_is_valid({t}, 'date') THEN {t}::date END").format(
            shape, sql.Literal(_DAY), t=t
        )
    # Hours below 24, minutes and seconds below 60: PostgreSQL takes 24:00:00 and 23:59:60.
    clock = sql.SQL(
        "substr({t}, 12, 2) COLLATE \"C\" < '24' AND substr({t}, 15, 2) COLLATE \"C\" < '60' "
        "AND (substr({t}, 17, 1) <> ':' OR substr({t}, 18, 2) COLLATE \"C\" < '60')"
    ).format(t=t)
    return sql.SQL(
        "CASE WHEN {shape} IN ({zoned}) AND {clock} AND pg_input_is_valid({t}, 'timestamptz') "
        "THEN {t}::timestamptz "
        "WHEN {shape} IN ({naive}) AND {clock} AND pg_input_is_valid({t}, 'timestamp') "
        "THEN {t}::timestamp AT TIME ZONE 'UTC' END"
    ).format(shape=shape, zoned=_literals(ZONED_SHAPES), naive=_literals(NAIVE_SHAPES), clock=clock, t=t)


def _literals(values: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Literal, values))
