"""DDL for the per-dataset tables of bronze, silver and quarantine, created or extended on demand."""

from __future__ import annotations

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
) -> None:
    """Create the table, or add columns a newer contract declares. A changed type is an error.

    ``unlogged`` skips the write-ahead log, for scratch tables (staging) that a crash may lose."""
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
        for column in index_on or []:
            conn.execute(
                sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(f"{table}_{column.strip('_')}_idx"[:63]), target, sql.Identifier(column)
                )
            )
        return
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
