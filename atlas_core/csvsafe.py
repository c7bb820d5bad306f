"""Neutralise spreadsheet formulas in the CSV files Atlas writes for people (CSV injection, CWE-1236).

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by
spreadsheet programs (``=cmd|' /C calc'!A0``, ``@SUM(...)``, ``-2+3``). Atlas keeps such values
verbatim where they are data (bronze, silver, gold, Parquet, API JSON) and prefixes them with a single
quote in the CSV files it exports (``atlas quality check --quarantine``, ``atlas pii scan --out``), the
OWASP recommendation. Plain numbers (``-12.5``, ``+3``, ``1e-3``) are left alone, so numeric columns
stay numeric. The same two patterns are used in Arrow (RE2) and in PostgreSQL (ARE) regexes.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
PREFIX = "'"
_START = re.compile(FORMULA_START)
_NUMBER = re.compile(PLAIN_NUMBER)


def is_formula(value: str) -> bool:
    return bool(_START.match(value)) and not _NUMBER.match(value)


def neutralise(value: str) -> str:
    return PREFIX + value if is_formula(value) else value


def neutralise_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``neutralise`` over a string array (nulls stay null)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    formula = pc.and_(
        pc.match_substring_regex(values, FORMULA_START),
        pc.invert(pc.match_substring_regex(values, PLAIN_NUMBER)),
    )
    if not pc.any(formula).as_py():
        return values
    prefixed = pc.binary_join_element_wise(pa.scalar(PREFIX, values.type), values, pa.scalar("", values.type))
    return pc.if_else(pc.fill_null(formula, False), prefixed, values)


def neutralised_sql(column: sql.Composable) -> sql.Composable:
    """The SQL expression of ``column`` (text) neutralised the same way, NULL kept."""
    return sql.SQL("CASE WHEN {c} ~ {start} AND {c} !~ {number} THEN {prefix} || {c} ELSE {c} END").format(
        c=column,
        start=sql.Literal(FORMULA_START),
        number=sql.Literal(PLAIN_NUMBER),
        prefix=sql.Literal(PREFIX),
    )
