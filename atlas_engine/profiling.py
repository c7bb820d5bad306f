"""Column profiles computed in PostgreSQL (counts only, never values): for metadata and lineage facets."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from atlas_resources.warehouse import Table, Warehouse


def null_counts(
    wh: Warehouse,
    table: Table,
    columns: Sequence[str],
    where: sql.Composable | None = None,
    params: tuple = (),
) -> dict[str, int]:
    """NULLs per column in one scan (restricted by ``where``)."""
    if not columns or not wh.table_exists(table):
        return {}
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {} IS NULL)").format(sql.Identifier(c)) for c in columns
    )
    query = sql.SQL("SELECT {} FROM {}").format(counts, sql.Identifier(*table))
    if where is not None:
        query = sql.SQL("{} WHERE {}").format(query, where)
    rows = wh.fetch_all(query, params)
    return {c: int(n) for c, n in zip(columns, rows[0], strict=True)} if rows else {}
