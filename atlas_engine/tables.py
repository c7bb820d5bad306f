"""DDL for the per-dataset tables of bronze, silver and quarantine, created or extended on demand."""

from __future__ import annotations

from typing import Literal

import psycopg
import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.errors import AtlasError
from atlas_resources.arrowpg import pg_type
from atlas_resources.warehouse import column_types


def bronze_schema(contract: Contract) -> pa.Schema:
    return pa.schema(
        [
            *(pa.field(name, pa.string()) for name in contract.column_names),
            pa.field(layout.INGESTION_ID, pa.int64()),
            pa.field(layout.ROW_NUMBER, pa.int64()),
            pa.field(layout.PARTITION, pa.string()),
            pa.field(layout.RAW_LINE, pa.string()),
            pa.field(layout.INGESTED_AT, pa.timestamp("us", tz="UTC")),
        ]
    )


def bronze_load_schema(contract: Contract) -> pa.Schema:
    """The bronze columns a load sends: all but ``_atlas_ingested_at``, which the table fills itself
    (:func:`ensure_bronze_table`)."""
    schema = bronze_schema(contract)
    return schema.remove(schema.get_field_index(layout.INGESTED_AT))


ARRAY_COLUMNS = {layout.RULE_IDS, layout.DIMENSIONS}


def _lock(conn: psycopg.Connection, schema: str, table: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ddl:{schema}.{table}",))


def existing_columns(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    return column_types(conn, (schema, table))


_PG_TYPE_NAMES = {
    "text": "text",
    "bigint": "bigint",
    "integer": "integer",
    "double precision": "double precision",
    "boolean": "boolean",
    "date": "date",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "text[]": "ARRAY",
}


def ensure_table(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    arrow_schema: pa.Schema,
    *,
    index_on: list[str] | None = None,
    unlogged: bool = False,
    defer_index: bool = False,
) -> bool:
    """Create the table, or add columns a newer contract declares. A changed type is an error. Returns
    whether the table was created.

    ``unlogged`` skips the write-ahead log, for scratch tables (staging) that a crash may lose.
    ``defer_index`` leaves a new table's indexes to :func:`create_indexes`, for a caller that fills the
    table in the same transaction: one sorted build after the rows costs less than maintaining the index
    row by row (a million bronze rows: 1.6 s loaded with the index, 0.8 s + 0.5 s without it), and no
    other session sees the table before the commit."""
    _lock(conn, schema, table)
    wanted = {f.name: ("text[]" if f.name in ARRAY_COLUMNS else pg_type(f.type)) for f in arrow_schema}
    current = existing_columns(conn, schema, table)
    target = sql.Identifier(schema, table)
    if not current:
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pgt)) for name, pgt in wanted.items()
        )
        create = sql.SQL("CREATE UNLOGGED TABLE {} ({})") if unlogged else sql.SQL("CREATE TABLE {} ({})")
        conn.execute(create.format(target, columns))
        if not defer_index:
            create_indexes(conn, schema, table, index_on or [])
        return True
    for name, pgt in wanted.items():
        if name not in current:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(target, sql.Identifier(name), sql.SQL(pgt))
            )
        elif current[name] != _PG_TYPE_NAMES[pgt]:
            raise AtlasError(
                f"{schema}.{table}.{name} is {current[name]} but the contract now makes it {pgt}; "
                f"drop the table or rename the column to change a type"
            )
    return False


def analyze_table(conn: psycopg.Connection, table: tuple[str, str]) -> None:
    """Give the planner statistics for a table just filled in bulk and read again at once (staging,
    verdicts). Autovacuum comes too late; without statistics PostgreSQL sorts a million staged rows on
    disk for an anti-join that a hash join does in memory (docs/BENCHMARKS.md §5g)."""
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(*table)))


IndexMethod = Literal["btree", "brin"]
_INDEX_METHODS: dict[IndexMethod, sql.SQL] = {"btree": sql.SQL("btree"), "brin": sql.SQL("brin")}


def create_indexes(
    conn: psycopg.Connection, schema: str, table: str, columns: list[str], method: IndexMethod = "btree"
) -> None:
    """The single-column indexes that :func:`ensure_table` gives a new table (``index_on``). An index
    that already exists is kept whatever its method (a bronze table created before BRIN keeps its
    B-tree)."""
    for column in columns:
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING {} ({})").format(
                sql.Identifier(f"{table}_{column.strip('_')}_idx"[:63]),
                sql.Identifier(schema, table),
                _INDEX_METHODS[method],
                sql.Identifier(column),
            )
        )


def ensure_bronze_table(conn: psycopg.Connection, contract: Contract, *, defer_index: bool = False) -> bool:
    """:func:`ensure_table` for the contract's bronze table, whose partition column gets a BRIN index.

    Bronze is append-only and mostly arrives a day at a time, so block ranges follow the partitions and
    a BRIN index prunes a daily read as well as a B-tree would. When a file mixes days on every page, a
    B-tree does not help either: its bitmap scan reads nearly every page. A BRIN index is built in one
    pass without sorting, and appends barely update it (docs/BENCHMARKS.md §5g).

    ``_atlas_ingested_at`` defaults to ``now()``, the start of the loading transaction: the instant the
    ingestion's row in ``atlas_meta.ingestions`` records, written in that transaction. A load leaves the
    column to the default (:func:`bronze_load_schema`) instead of sending the same timestamp with every
    row, which PostgreSQL parsed a million times (0.3 s of a 1M-row COPY)."""
    created = ensure_table(
        conn, layout.Layer.BRONZE.schema, contract.dataset, bronze_schema(contract), defer_index=True
    )
    if created or not _has_default(conn, layout.Layer.BRONZE.schema, contract.dataset, layout.INGESTED_AT):
        # a new table, or one created before the default existed
        conn.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT now()").format(
                sql.Identifier(layout.Layer.BRONZE.schema, contract.dataset),
                sql.Identifier(layout.INGESTED_AT),
            )
        )
    if created and not defer_index:
        create_bronze_indexes(conn, contract)
    return created


def _has_default(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    found = conn.execute(
        "SELECT column_default IS NOT NULL FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (schema, table, column),
    ).fetchone()
    return bool(found and found[0])


def create_bronze_indexes(conn: psycopg.Connection, contract: Contract) -> None:
    create_indexes(conn, layout.Layer.BRONZE.schema, contract.dataset, [layout.PARTITION], "brin")
