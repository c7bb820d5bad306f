"""Pooled connections to Dagster's PostgreSQL storage that survive a server restart.

A pooled connection outlives the server process it was opened to: after a restart its first use fails,
and Dagster stores events without retrying a failed statement (it retries failed *connects*). Pinging
each connection as it leaves the pool (SQLAlchemy's pessimistic disconnect handling, on the ``checkout``
pool event) turns a dead connection into a reconnect inside ``engine.connect()``, which Dagster retries
while the server is down, as it does for the connection-per-query storages.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.pool import Pool


def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        if not getattr(dbapi_connection, "autocommit", True):
            dbapi_connection.rollback()  # the ping must not leave the caller inside a transaction
    except Exception as exc:  # any failure: the pool discards the connection and opens a new one
        raise sqlalchemy.exc.DisconnectionError(f"stale pooled connection ({type(exc).__name__})") from exc


def ping_pooled_connections() -> None:
    """Ping every SQLAlchemy pooled connection of this process on checkout (idempotent)."""
    if not event.contains(Pool, "checkout", _ping):
        event.listen(Pool, "checkout", _ping)
