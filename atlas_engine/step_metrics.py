"""Record one asset step attempt in ``atlas_meta.step_metrics`` (names and counts only, never values).

Written from whichever process ran the step; the API's ``/metrics`` aggregates the table, so the
counters add up across CLI runs, Dagster run workers and Celery workers (docs/observability.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from atlas_resources import pgurl

CONNECT_TIMEOUT_SECONDS = 3  # never hold a finished step for long when the warehouse is gone


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    step_key: str
    asset_key: str
    layer: str
    dataset: str
    partition_start: str | None
    partition_end: str | None
    partition_count: int
    attempt: int
    status: str  # success | failure
    retryable: bool
    error_type: str | None
    rows_processed: int | None
    rows_written: int | None
    rows_quarantined: int | None
    duration_seconds: float
    trace_id: str | None
    started_at: datetime


_COLUMNS = tuple(StepRecord.__dataclass_fields__)
_INSERT = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
    sql.Identifier("atlas_meta", "step_metrics"),
    sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
    sql.SQL(", ").join(map(sql.Placeholder, _COLUMNS)),
)


def record_step(postgres_url: str, record: StepRecord) -> None:
    """Insert ``record`` on a short-lived connection of its own (outside the step's transactions).

    It bypasses the warehouse client's circuit breaker on purpose: bookkeeping must not count as a
    failure of the step's own work, nor be refused because that work tripped the breaker.
    """
    with psycopg.connect(
        pgurl.for_psycopg(postgres_url), connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True
    ) as conn:
        conn.execute(_INSERT, asdict(record))
