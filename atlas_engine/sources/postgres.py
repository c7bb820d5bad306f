"""``postgres`` source: a table or query in another PostgreSQL database, pulled incrementally.

With ``watermark_column`` each pull takes the rows whose watermark is above the one committed last
time, up to the maximum seen at the start of the pull (both read in one REPEATABLE READ snapshot),
and stores the new watermark in ``atlas_meta.source_watermarks`` in the same transaction as the
bronze rows: a failed pull leaves the watermark where it was. Rows stream out with COPY into a
temporary CSV file that then goes through the same bronze path as any file (raw copy kept, sha256
idempotency, partition mapping, quarantine).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import psycopg
from psycopg import sql

from atlas_core.contracts import Contract
from atlas_core.contracts.sources import PostgresSource
from atlas_core.errors import AtlasError, ServiceUnavailable
from atlas_core.identifiers import check_identifier
from atlas_engine.bronze import BeforeCommit, IngestionRecord
from atlas_resources import breakers, pgurl
from atlas_resources.warehouse import Warehouse

TIMESTAMPTZ_OID, TIMESTAMP_OID = 1184, 1114


def _relation(source: PostgresSource) -> sql.Composable:
    if source.table is not None:
        parts = source.table.split(".")
        if len(parts) > 2:
            raise AtlasError(f"source.table {source.table!r}: use table or schema.table")
        return sql.Identifier(*(check_identifier(p, "source.table") for p in parts))
    assert source.query is not None
    # The query comes from the contract (reviewed configuration), never from data or requests.
    return sql.SQL("({})").format(sql.SQL(source.query.strip().rstrip(";")))


def _select_list(conn: psycopg.Connection, relation: sql.Composable, columns: list[str]) -> sql.Composable:
    """Contract columns as text Atlas' casts accept (timestamps in ISO 8601 with an explicit zone)."""
    probe = sql.SQL("SELECT {} FROM {} AS src LIMIT 0").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), relation
    )
    cursor = conn.execute(probe)
    items = []
    for column, desc in zip(columns, cursor.description or [], strict=True):
        ident = sql.Identifier(column)
        item: sql.Composable
        if desc.type_code == TIMESTAMPTZ_OID:
            item = sql.SQL(
                """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS {}"""
            ).format(ident, ident)
        elif desc.type_code == TIMESTAMP_OID:
            item = sql.SQL("""to_char({}, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS {}""").format(ident, ident)
        else:
            item = ident
        items.append(item)
    return sql.SQL(", ").join(items)


def read_watermark(wh: Warehouse, dataset: str) -> str | None:
    rows = wh.fetch_all("SELECT watermark FROM atlas_meta.source_watermarks WHERE dataset = %s", (dataset,))
    return rows[0][0] if rows else None


def _save_watermark(conn: psycopg.Connection, dataset: str, watermark: str | None, rows: int) -> None:
    conn.execute(
        "INSERT INTO atlas_meta.source_watermarks (dataset, source_kind, watermark, rows_pulled, updated_at) "
        "VALUES (%s, 'postgres', %s, %s, now()) ON CONFLICT (dataset) "
        "DO UPDATE SET watermark = EXCLUDED.watermark, "
        "rows_pulled = atlas_meta.source_watermarks.rows_pulled + EXCLUDED.rows_pulled, updated_at = now()",
        (dataset, watermark, rows),
    )


def write_snapshot(
    wh: Warehouse, contract: Contract, source: PostgresSource, path: Path, env: Mapping[str, str] | None
) -> tuple[int, BeforeCommit]:
    """Write the new rows to ``path`` as CSV with a header; returns their number and the hook that
    stores the new watermark in the transaction publishing them to bronze."""
    environ = os.environ if env is None else env
    url = environ.get(source.url_env)
    if not url:
        raise AtlasError(
            f"{contract.dataset}: environment variable {source.url_env} (source.url_env) is not set"
        )
    url = pgurl.for_psycopg(url)
    relation = _relation(source)
    last = read_watermark(wh, contract.dataset) if source.watermark_column else None
    high, rows = _extract(url, relation, contract, source, last, path)

    def advance(conn: psycopg.Connection, record: IngestionRecord) -> None:
        if source.watermark_column:
            _save_watermark(conn, contract.dataset, high, record.rows_bronze)

    return rows, advance


def _extract(
    url: str,
    relation: sql.Composable,
    contract: Contract,
    source: PostgresSource,
    last: str | None,
    path: Path,
) -> tuple[str | None, int]:
    """COPY the new rows to ``path`` as CSV with a header; returns (new watermark, rows)."""
    target = pgurl.describe_host(url)
    try:
        conn = breakers.guarded(
            "PostgreSQL",
            target,
            psycopg.connect,
            url,
            connect_timeout=10,
            options="-c TimeZone=UTC -c DateStyle=ISO",
        )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(
            f"source PostgreSQL at {pgurl.redact(url)} is unreachable: {str(exc).strip()[:200]}"
        ) from exc
    with conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        columns = _select_list(conn, relation, contract.column_names)
        where: sql.Composable = sql.SQL("TRUE")
        high: str | None = None
        order: sql.Composable = sql.SQL("")
        if source.watermark_column:
            wm = sql.Identifier(check_identifier(source.watermark_column, "source.watermark_column"))
            above = sql.SQL("{} > {}").format(wm, sql.Literal(last)) if last is not None else sql.SQL("TRUE")
            row = conn.execute(
                sql.SQL("SELECT max({})::text FROM {} AS src WHERE {}").format(wm, relation, above)
            ).fetchone()
            high = row[0] if row else None
            if high is None:
                return last, 0
            where = sql.SQL("{} AND {} <= {}").format(above, wm, sql.Literal(high))
            order = sql.SQL(" ORDER BY {}").format(wm)
        copy = sql.SQL(
            "COPY (SELECT {} FROM {} AS src WHERE {}{}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        ).format(columns, relation, where, order)
        rows = 0
        with open(path, "wb") as out, conn.cursor() as cur, cur.copy(copy) as stream:
            for chunk in stream:
                data = bytes(chunk)
                rows += data.count(b"\n")
                out.write(data)
    return high, max(rows - 1, 0)
