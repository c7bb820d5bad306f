"""Pooled connections to Dagster's PostgreSQL storage that survive a server restart.

A pooled connection outlives the server process it was opened to: after a restart its first use fails,
and Dagster stores events without retrying a failed statement (it retries failed *connects*). Pinging
each connection as it leaves the pool (SQLAlchemy's pessimistic disconnect handling, on the ``checkout``
pool event) turns a dead connection into a reconnect inside ``engine.connect()``, which Dagster retries
while the server is down, as it does for the connection-per-query storages.

The ping is a round trip, so it is sent only when the idle connection's socket has something to read
or has been closed: a healthy idle session receives nothing, while one the server ended (restart,
``pg_terminate_backend``, idle timeout) has its termination notice or end-of-file waiting.
"""

from __future__ import annotations

import select
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.pool import Pool

_NEWS = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLRDHUP


def _has_news(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket is readable, hung up or closed (a healthy one is silent)."""
    if getattr(dbapi_connection, "closed", False):
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), _NEWS)
        return bool(poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True


def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    if not _has_news(dbapi_connection):
        return
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
