"""The ingestion ledger (``atlas_meta.ingestions``) as plain records for the CLI and the API."""

from __future__ import annotations

from psycopg import sql

from atlas_resources.warehouse import Warehouse

FIELDS = (
    "dataset",
    "file",
    "sha256",
    "status",
    "reason",
    "rows_bronze",
    "rows_silver",
    "rows_quarantined",
    "ingested_at",
)


def ingestion_json(row: tuple) -> dict[str, object]:
    dataset, file, sha, status, reason, bronze, silver, quarantined, at = row
    return {
        "dataset": dataset,
        "file": file,
        "sha256": sha,
        "status": status,
        "reason": reason,
        "rows_bronze": int(bronze),
        "rows_silver": None if silver is None else int(silver),
        "rows_quarantined": None if quarantined is None else int(quarantined),
        "ingested_at": at.isoformat(),
    }


_SELECT = sql.SQL(
    "SELECT dataset, source_file, sha256, status, reason, "
    "rows_bronze, rows_silver, rows_quarantined, ingested_at "
    "FROM atlas_meta.ingestions"
)


def list_ingestions(
    wh: Warehouse, dataset: str | None = None, limit: int | None = None
) -> list[dict[str, object]]:
    """Records oldest first (``limit``: the newest ``limit`` ones)."""
    where = sql.SQL(" WHERE dataset = %s") if dataset else sql.SQL("")
    params: list[object] = [dataset] if dataset else []
    query = sql.Composed([_SELECT, where, sql.SQL(" ORDER BY ingested_at DESC, ingestion_id DESC")])
    if limit is not None:
        query += sql.SQL(" LIMIT %s")
        params.append(limit)
    rows = wh.fetch_all(query, params)
    return [ingestion_json(r) for r in reversed(rows)]


def get_ingestion(wh: Warehouse, ingestion_id: int) -> dict[str, object] | None:
    rows = wh.fetch_all(_SELECT + sql.SQL(" WHERE ingestion_id = %s"), (ingestion_id,))
    return ingestion_json(rows[0]) if rows else None
