"""Pooled storage connections that the server dropped are replaced when taken from the pool."""

from __future__ import annotations

import time

import psycopg
import pytest
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.pool import Pool

from atlas_resources import dagster_pool
from atlas_resources.dagster_pool import ping_pooled_connections


def _one_connection_pool(url: str) -> sqlalchemy.engine.Engine:
    """An autocommit engine whose pool holds one session, so each checkout takes the same one."""
    return sqlalchemy.create_engine(url, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")


def _backend_pid(engine: sqlalchemy.engine.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        # waits (up to 5 s) until the session is gone, as it is long before a restarted server is back
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def _last_statement(url: str, pid: int) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_connection_the_server_dropped_is_replaced_on_checkout(warehouse_url: str) -> None:
    ping_pooled_connections()
    ping_pooled_connections()  # idempotent: one listener
    engine = _one_connection_pool(warehouse_url)
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # pooled: the same session serves the next checkout
        _terminate(warehouse_url, first)  # what a server restart does to every pooled session
        second = _backend_pid(engine)
        assert second != first
        assert _backend_pid(engine) == second
    finally:
        engine.dispose()


def test_without_the_ping_the_dropped_connection_fails_its_next_statement(warehouse_url: str) -> None:
    event.remove(Pool, "checkout", dagster_pool._ping)
    engine = _one_connection_pool(warehouse_url)
    try:
        _terminate(warehouse_url, _backend_pid(engine))
        with pytest.raises(sqlalchemy.exc.OperationalError):
            _backend_pid(engine)
    finally:
        engine.dispose()
        ping_pooled_connections()


def test_the_ping_leaves_a_transactional_connection_outside_any_transaction(warehouse_url: str) -> None:
    ping_pooled_connections()
    engine = sqlalchemy.create_engine(warehouse_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            # the first statement of the checkout may still set the transaction's isolation level
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            level = conn.exec_driver_sql("SHOW transaction_isolation").scalar_one()
        assert level == "repeatable read"
    finally:
        engine.dispose()


def test_a_silent_idle_connection_is_taken_without_a_round_trip(warehouse_url: str) -> None:
    ping_pooled_connections()
    engine = _one_connection_pool(warehouse_url)
    try:
        pid = _backend_pid(engine)
        with engine.connect():
            pass
        assert _last_statement(warehouse_url, pid) == "SELECT pg_backend_pid()"  # no ping was sent
    finally:
        engine.dispose()


def test_a_connection_with_unread_input_is_pinged_and_kept(warehouse_url: str) -> None:
    ping_pooled_connections()
    engine = _one_connection_pool(warehouse_url)
    try:
        with engine.connect() as conn:
            pid = int(conn.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar_one())
            conn.execute(sqlalchemy.text("LISTEN atlas_pool_test"))
        with psycopg.connect(warehouse_url, autocommit=True) as other:
            other.execute("NOTIFY atlas_pool_test")  # arrives on the idle pooled session's socket
        time.sleep(0.5)  # the listening backend forwards it asynchronously
        with engine.connect():
            pass
        assert _last_statement(warehouse_url, pid) == "SELECT 1"  # pinged, and healthy
        assert _backend_pid(engine) == pid  # so kept
    finally:
        engine.dispose()
