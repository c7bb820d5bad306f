"""Warehouse reads behind the data, quality and PII endpoints (identifiers quoted, values bound).

Tables owned by other parts of Atlas (``quality_results``, ``pii_reports``) are read when present
and treated as empty when missing.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

from psycopg import sql
from psycopg.rows import DictRow

from atlas_api.core.db import Conn, table_exists
from atlas_core import layout
from atlas_core.anomalies import TrendPoint, trends
from atlas_core.contracts import Contract
from atlas_core.contracts.fields import Dimension
from atlas_engine.anomalies import TREND_SQL
from atlas_resources.warehouse import COLUMNS_QUERY

DIMENSIONS = [d.value for d in Dimension]
HISTORY_RUNS = 50


def json_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


async def table_columns(conn: Conn, schema: str, table: str) -> list[tuple[str, str]]:
    cur = await conn.execute(COLUMNS_QUERY, (schema, table))
    return [(r["column_name"], r["data_type"]) for r in await cur.fetchall()]


def declared_pii_columns(contract: Contract | None) -> dict[str, dict[str, Any]]:
    if contract is None:
        return {}
    return {c.name: {"entity": c.pii.entity, "strategy": c.pii.strategy} for c in contract.columns if c.pii}


async def reported_pii_columns(conn: Conn, dataset: str) -> dict[str, str | None]:
    """Columns the latest PII report of ``dataset`` found to hold PII → the strategy applied in silver.

    Report entries are ``{column: {"entity", "strategy", ...}}`` (``atlas_engine.pii``); no entity, no PII.
    """
    reports = await pii_reports(conn, dataset, limit=1)
    found: dict[str, str | None] = {}
    for report in reports:
        columns = report.get("columns")
        if isinstance(columns, dict):
            for name, entry in columns.items():
                if isinstance(entry, dict) and entry.get("entity"):
                    found[str(name)] = entry.get("strategy")
    return found


async def read_page(
    conn: Conn, layer: str, table: str, limit: int, offset: int, masked: set[str]
) -> dict[str, Any]:
    """One page of ``atlas_<layer>.<table>``, ordered by its first column, with ``masked`` columns nulled."""
    schema = layout.Layer(layer).schema
    columns = await table_columns(conn, schema, table)
    if not columns:
        return {"columns": [], "rows": [], "next_offset": None, "masked_columns": []}
    names = [c for c, _ in columns]
    hidden = sorted(n for n in names if n in masked)
    select = sql.SQL(", ").join(
        sql.SQL("NULL AS {}").format(sql.Identifier(n)) if n in masked else sql.Identifier(n) for n in names
    )
    query = sql.SQL("SELECT {cols} FROM {table} ORDER BY {order} LIMIT %s OFFSET %s").format(
        cols=select,
        table=sql.Identifier(schema, table),
        order=sql.Identifier(names[0]),
    )
    cur = await conn.execute(query, (limit + 1, offset))
    rows = [{k: json_value(v) for k, v in r.items()} for r in await cur.fetchall()]
    more = len(rows) > limit
    return {
        "columns": [{"name": n, "type": t} for n, t in columns],
        "rows": rows[:limit],
        "next_offset": offset + limit if more else None,
        "masked_columns": hidden,
    }


async def _meta_rows(
    conn: Conn, table: str, query: LiteralString, params: Sequence[Any] | Mapping[str, Any] | None = None
) -> list[DictRow]:
    """The rows of a query on ``atlas_meta.<table>``; none while that table does not exist yet."""
    if not await table_exists(conn, layout.META_SCHEMA, table):
        return []
    cur = await conn.execute(query, params)
    return list(await cur.fetchall())


async def quality_latest(conn: Conn, dataset: str) -> list[dict[str, Any]]:
    """Per dimension: the latest result of every partition, combined (row-weighted score)."""
    return await _meta_rows(
        conn,
        "quality_results",
        "SELECT dimension, "
        "  CASE WHEN sum(rows_evaluated) > 0 THEN sum(score * rows_evaluated) / sum(rows_evaluated) "
        "       ELSE avg(score) END::float8 AS score, "
        "  max(threshold)::float8 AS threshold, bool_and(passed) AS passed, "
        "  sum(rows_evaluated)::bigint AS rows_evaluated, sum(failed_rows)::bigint AS failed_rows, "
        "  max(evaluated_at) AS evaluated_at "
        "FROM (SELECT DISTINCT ON (dimension, partition_key) * FROM atlas_meta.quality_results "
        "      WHERE dataset = %s ORDER BY dimension, partition_key, evaluated_at DESC) latest "
        "GROUP BY dimension",
        (dataset,),
    )


async def quality_history(conn: Conn, dataset: str) -> list[dict[str, Any]]:
    rows = await _meta_rows(
        conn,
        "quality_results",
        "WITH runs AS (SELECT run_id, max(evaluated_at) AS at "
        "FROM atlas_meta.quality_results WHERE dataset = %s "
        "              GROUP BY run_id ORDER BY at DESC LIMIT %s) "
        "SELECT q.run_id, r.at, q.dimension, avg(q.score)::float8 AS score, bool_and(q.passed) AS passed "
        "FROM atlas_meta.quality_results q JOIN runs r ON r.run_id = q.run_id WHERE q.dataset = %s "
        "GROUP BY q.run_id, r.at, q.dimension ORDER BY r.at DESC, q.dimension",
        (dataset, HISTORY_RUNS, dataset),
    )
    history: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry: Any = history.setdefault(
            row["run_id"], {"run_id": row["run_id"], "evaluated_at": row["at"], "scores": {}, "passed": True}
        )
        entry["scores"][row["dimension"]] = row["score"]
        entry["passed"] = entry["passed"] and bool(row["passed"])
    return list(history.values())


async def quality_trend(conn: Conn, dataset: str, loads: int) -> list[dict[str, Any]]:
    """Per dimension, the scores of the last ``loads`` loads (oldest first), their trailing median and the
    latest score's distance from it (``atlas_core.anomalies``)."""
    rows = await _meta_rows(
        conn, "quality_results", TREND_SQL, {"dataset": dataset, "until": None, "loads": loads}
    )
    points: dict[str, list[TrendPoint]] = {}
    for row in rows:
        points.setdefault(row["dimension"], []).append(
            TrendPoint(row["run_id"], row["at"], float(row["score"]))
        )
    return [t.as_dict() for t in trends(points, loads)]


async def quality_scores(conn: Conn) -> dict[str, float]:
    """Dataset → mean of its latest per-dimension scores (for the asset list)."""
    rows = await _meta_rows(
        conn,
        "quality_results",
        "SELECT dataset, avg(score)::float8 AS score FROM ("
        "  SELECT DISTINCT ON (dataset, dimension, partition_key) "
        "dataset, score FROM atlas_meta.quality_results "
        "  ORDER BY dataset, dimension, partition_key, evaluated_at DESC) latest GROUP BY dataset",
    )
    return {r["dataset"]: r["score"] for r in rows}


async def pii_reports(conn: Conn, dataset: str, limit: int = 5) -> list[dict[str, Any]]:
    rows = await _meta_rows(
        conn,
        "pii_reports",
        "SELECT report_id, dataset, partition_key, run_id, columns, created_at FROM atlas_meta.pii_reports "
        "WHERE dataset = %s ORDER BY created_at DESC LIMIT %s",
        (dataset, limit),
    )
    return [{k: json_value(v) for k, v in r.items()} for r in rows]
