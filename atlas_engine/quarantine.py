"""Quarantine tables (``atlas_quarantine.<dataset>``): a failing row keeps its raw values, where it came
from (ingestion, row number, partition, raw line) and why (rule ids, quality dimensions, run, time).

Rows land here from two places: bronze, for rows no partition can be derived for or with the wrong field
count, and silver, for rows failing a rule with ``on_fail: quarantine``. Both use :func:`insert_head`.
"""

from __future__ import annotations

import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract

BOOKKEEPING = [
    pa.field(layout.INGESTION_ID, pa.int64()),
    pa.field(layout.ROW_NUMBER, pa.int64()),
    pa.field(layout.PARTITION, pa.string()),
    pa.field(layout.RAW_LINE, pa.string()),
    pa.field(layout.RULE_IDS, pa.string()),  # text[] in the table, see tables.ensure_table
    pa.field(layout.DIMENSIONS, pa.string()),  # text[] too
    pa.field(layout.RUN_ID, pa.string()),
    pa.field(layout.QUARANTINED_AT, pa.timestamp("us", tz="UTC")),
]


def quarantine_table(contract: Contract) -> tuple[str, str]:
    return (layout.QUARANTINE_SCHEMA, contract.dataset)


def quarantine_schema(contract: Contract) -> pa.Schema:
    """The contract's columns as raw text, then the bookkeeping columns."""
    return pa.schema([*(pa.field(name, pa.string()) for name in contract.column_names), *BOOKKEEPING])


def insert_head(table: tuple[str, str], columns: list[str]) -> sql.Composed:
    """``INSERT INTO table (columns, bookkeeping columns) ``: the caller's SELECT yields them in this
    order."""
    names = [*columns, *(f.name for f in BOOKKEEPING)]
    return sql.SQL("INSERT INTO {} ({}) ").format(
        sql.Identifier(*table), sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )
