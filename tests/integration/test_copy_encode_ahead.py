"""COPY loads read the next batches and encode them on worker threads while PostgreSQL loads the current one.

What must not change: every row arrives in order, errors from either side surface in the caller,
the source is closed (and stops being read) when the load fails, and the worker sees the caller's
context (log correlation ids).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pytest

from atlas_resources.warehouse import ENCODE_AHEAD, EncodeAhead, ReadAhead, Warehouse

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("label", pa.string())])
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def batch(start: int, n: int, label: str = "x") -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(range(start, start + n), pa.int64()), pa.array([label] * n)], schema=SCHEMA
    )


def create(conn: psycopg.Connection, id_type: str = "bigint") -> None:
    conn.execute(f"CREATE TABLE atlas_staging.t (id {id_type}, label text)")


def test_every_row_arrives_in_order_and_the_worker_sees_the_callers_context(warehouse_url: str) -> None:
    seen: list[str] = []

    def source() -> Iterator[pa.RecordBatch]:
        for i in range(40):
            seen.append(REQUEST_ID.get())
            yield batch(i * 250, 250, f"b{i}")
        yield batch(10_000, 0)  # empty batches are skipped

    token = REQUEST_ID.set("req-42")
    try:
        with psycopg.connect(warehouse_url) as conn:
            create(conn)
            assert Warehouse.copy_batches(conn, ("atlas_staging", "t"), source()) == 10_000
            rows = conn.execute("SELECT id, label FROM atlas_staging.t").fetchall()
    finally:
        REQUEST_ID.reset(token)
    assert [r[0] for r in rows] == list(range(10_000))
    assert rows[-1][1] == "b39"
    assert set(seen) == {"req-42"}


def test_a_server_error_reaches_the_caller_and_the_source_is_closed(warehouse_url: str) -> None:
    closed: list[bool] = []

    def source() -> Iterator[pa.RecordBatch]:
        try:
            for i in range(100):
                yield batch(i * 1000, 10)
        finally:
            closed.append(True)

    with psycopg.connect(warehouse_url) as conn:
        create(conn, "smallint")  # ids beyond 32767 fail on the server, mid-load
        with pytest.raises(psycopg.errors.NumericValueOutOfRange):
            Warehouse.copy_batches(conn, ("atlas_staging", "t"), source())
    assert closed == [True]


def counted(produced: list[int], closed: list[bool]) -> Iterator[pa.RecordBatch]:
    """1,000 batches of 10 rows; records each one produced, and that it was closed."""
    try:
        for i in range(1000):
            produced.append(i)
            yield batch(i * 10, 10)
    finally:
        closed.append(True)


def test_closing_stops_the_worker_within_its_lookahead() -> None:
    produced: list[int] = []
    closed: list[bool] = []
    encoded = EncodeAhead(counted(produced, closed))
    taken = [n for _, (_, n) in zip(range(3), encoded, strict=False)]
    encoded.close()
    assert taken == [10, 10, 10]
    assert closed == [True]
    assert len(produced) <= 3 + ENCODE_AHEAD + 1  # never more than the lookahead past what was consumed


def test_a_source_error_reaches_the_caller_and_nothing_is_committed(warehouse_url: str) -> None:
    class Broken(Exception):
        pass

    def source() -> Iterator[pa.RecordBatch]:
        yield batch(0, 100)
        raise Broken("source broke after one batch")

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        create(conn)
        with pytest.raises(Broken, match="source broke"), conn.transaction():
            Warehouse.copy_batches(conn, ("atlas_staging", "t"), source())
        assert conn.execute("SELECT count(*) FROM atlas_staging.t").fetchone() == (0,)


def test_closing_the_encoder_stops_the_reader_and_closes_the_source() -> None:
    produced: list[int] = []
    closed: list[bool] = []
    reader = ReadAhead(counted(produced, closed))
    encoded = EncodeAhead(reader)
    taken = [n for _, (_, n) in zip(range(3), encoded, strict=False)]
    encoded.close()
    assert taken == [10, 10, 10]
    assert closed == [True]
    assert not reader._thread.is_alive()
    # each stage holds at most its lookahead, plus one batch in its hands
    assert len(produced) <= 3 + 2 * (ENCODE_AHEAD + 1) + 1
