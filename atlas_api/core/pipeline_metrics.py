"""Read the pipeline's bookkeeping for ``/metrics`` (see ``atlas_core.pipeline_metrics``)."""

from __future__ import annotations

import time

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from psycopg_pool import AsyncConnectionPool

from atlas_api.core.db import Conn
from atlas_core.pipeline_metrics import QUERIES, PipelineCollector, PipelineSnapshot

STATEMENT_TIMEOUT_MS = 5000
log = structlog.get_logger("atlas.api.metrics")


async def read_snapshot(pool: AsyncConnectionPool[Conn]) -> PipelineSnapshot:
    """One consistent read of every aggregate (a read-only snapshot transaction, bounded in time)."""
    started = time.perf_counter()
    snapshot = PipelineSnapshot()
    try:
        async with pool.connection(timeout=STATEMENT_TIMEOUT_MS / 1000) as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            await conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (str(STATEMENT_TIMEOUT_MS),)
            )
            for name, query in QUERIES.items():
                cursor = await conn.execute(query.encode())
                snapshot.rows[name] = await cursor.fetchall()
    except Exception as exc:  # metrics of the API itself must still be served
        log.warning("pipeline_metrics_unavailable", error_type=type(exc).__name__)
        snapshot = PipelineSnapshot(up=False)
    snapshot.seconds = time.perf_counter() - started
    return snapshot


async def pipeline_metrics_text(pool: AsyncConnectionPool[Conn]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(await read_snapshot(pool)))
    return generate_latest(registry)
