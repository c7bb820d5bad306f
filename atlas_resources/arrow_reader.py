"""Query results as Arrow record batches, read by the ADBC PostgreSQL driver.

The driver runs ``COPY (query) TO STDOUT (FORMAT binary)`` and decodes the rows into Arrow in C++,
without the GIL: the server sends binary values instead of formatting text, and no Python code runs per
row. Reading 985k silver order rows took 2.6-3.0 s as CSV parsed by pyarrow (psycopg receiving one row
per call) and 1.3 s this way.

A failed read raises psycopg's error class for its SQLSTATE (``psycopg.errors.DivisionByZero``, ...), so
callers handle it as any failed statement; its message is PostgreSQL's first line, without the query
text the driver appends. Reading connections run in autocommit (no transaction is held open between
reads); opening one takes ~50 ms (the driver loads the server's type catalog), so a connection whose
read ended is kept a little while for the next read (:class:`_KeptConnections`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import adbc_driver_manager
import adbc_driver_postgresql
import psycopg
import pyarrow as pa
from adbc_driver_manager._reader import AdbcRecordBatchReader

from atlas_core.errors import ServiceUnavailable
from atlas_resources import breakers

if TYPE_CHECKING:
    import adbc_driver_manager.dbapi as adbc

T = TypeVar("T")
BATCH_BYTES = 4 << 20
"""The driver's batch size (its default is 16 MiB: 110k silver order rows a batch, 11 MB; reading 985k
rows took 0.95-1.0 s in 4 MiB batches and 1.0-1.2 s in 16 MiB ones)."""
BATCH_SIZE_HINT = adbc_driver_postgresql.StatementOptions.BATCH_SIZE_HINT_BYTES.value
KEPT_SECONDS = 30.0
MAX_KEPT = 4
_PG_MESSAGE = re.compile(r"ERROR:\s+(.*)")


def read_batches(
    conninfo: str, query: str, schema: pa.Schema, *, target: str
) -> Generator[pa.RecordBatch, None, None]:
    """The rows of ``query`` as batches of ``schema`` (columns by position, cast where the server's type
    differs). ``target`` names the server in errors and circuit breakers. Leaving early closes the
    connection, which ends the query on the server; a read to its end keeps it for the next one."""
    read = _open_read(conninfo, query, target)
    finished = False
    try:
        while True:
            batch = _translated(lambda: _next(read.reader))
            if batch is None:
                finished = True
                return
            if batch.num_rows:
                yield conform(batch, schema)
    finally:
        read.close(keep=conninfo if finished else None)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch``'s columns, by position, as ``schema`` (cast where a type differs: ``numeric`` comes as
    its text, cast to the schema's decimal or float, so a value that does not fit fails the read)."""
    if batch.num_columns != len(schema):
        raise ValueError(f"query returned {batch.num_columns} columns, expected {len(schema)}")
    columns = [_as_type(column, field.type) for column, field in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _as_type(column: pa.Array, wanted: pa.DataType) -> pa.Array:
    if column.type == wanted:
        return column
    if isinstance(column.type, pa.BaseExtensionType):  # numeric arrives as text in an extension type
        column = column.storage
    return column.cast(wanted)


@dataclass
class _Read:
    conn: adbc.Connection
    cursor: adbc.Cursor
    reader: pa.RecordBatchReader

    def close(self, *, keep: str | None) -> None:
        """Close the read; with ``keep``, the conninfo of a finished read, keep its connection."""
        try:
            self.reader.close()
            self.cursor.close()
        except Exception:  # a broken read: the connection goes too
            keep = None
        if keep is None:
            _close(self.conn)
        else:
            _kept.give_back(keep, self.conn)


def _open_read(conninfo: str, query: str, target: str) -> _Read:
    kept = _kept.take(conninfo)
    if kept is not None:
        try:
            return _start(kept, query)
        except psycopg.OperationalError:  # the server closed it while it was kept: a new one
            _close(kept)
        except BaseException:
            _close(kept)
            raise
    conn = _connect(conninfo, target)
    try:
        return _start(conn, query)
    except BaseException:
        _close(conn)
        raise


def _start(conn: adbc.Connection, query: str) -> _Read:
    cursor = conn.cursor()
    try:
        cursor.adbc_statement.set_options(**{BATCH_SIZE_HINT: str(BATCH_BYTES)})
        _translated(lambda: cursor.execute(query))
        # The driver's own reader: unlike the plain pyarrow reader of fetch_record_batch(), an error while
        # reading carries its SQLSTATE (a connection lost mid-read must count as transient, not as bad
        # data).
        handle = cursor.fetch_arrow()  # kept until imported: dropping it releases the stream
        return _Read(conn, cursor, AdbcRecordBatchReader._import_from_c(handle.address))
    except BaseException:
        cursor.close()
        raise


class _KeptConnections:
    """Reading connections of this process between reads, per conninfo: opening one costs ~50 ms, a
    run of the bundled graph reads 39 times. At most ``MAX_KEPT`` per server, each for
    ``KEPT_SECONDS`` at most, closed at exit. A forked child never uses (or closes) its parent's: they
    share the parent's sockets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._idle: dict[str, list[tuple[float, adbc.Connection]]] = {}
        self._inherited: list[object] = []
        self._exit_hook = False

    def take(self, conninfo: str) -> adbc.Connection | None:
        stale: list[adbc.Connection] = []
        found = None
        with self._lock:
            self._leave_parents()
            idle = self._idle.get(conninfo, [])
            while idle and found is None:
                since, conn = idle.pop()
                if time.monotonic() - since < KEPT_SECONDS:
                    found = conn
                else:
                    stale.append(conn)
        for conn in stale:
            _close(conn)
        return found

    def give_back(self, conninfo: str, conn: adbc.Connection) -> None:
        with self._lock:
            self._leave_parents()
            idle = self._idle.setdefault(conninfo, [])
            if len(idle) < MAX_KEPT:
                idle.append((time.monotonic(), conn))
                if not self._exit_hook:
                    atexit.register(self.close_all)
                    self._exit_hook = True
                return
        _close(conn)

    def close_all(self) -> None:
        with self._lock:
            self._leave_parents()
            idle = [conn for kept in self._idle.values() for _, conn in kept]
            self._idle.clear()
        for conn in idle:
            _close(conn)

    def _leave_parents(self) -> None:
        if self._pid != os.getpid():
            self._inherited.append(self._idle)  # referenced forever: closing would end the parent's
            self._idle = {}
            self._pid = os.getpid()


_kept = _KeptConnections()


def _close(conn: adbc.Connection) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def _next(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def _connect(conninfo: str, target: str) -> adbc.Connection:
    # Imported on the first read: the driver's DB-API module imports pandas (~0.2 s), which commands
    # that never read rows need not pay for.
    import adbc_driver_postgresql.dbapi

    connect = adbc_driver_postgresql.dbapi.connect
    try:
        return breakers.guarded(
            "PostgreSQL", target, lambda: _translated(lambda: connect(conninfo, autocommit=True))
        )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(f"PostgreSQL at {target} is unreachable: {exc}") from None


def _translated(call: Callable[[], T]) -> T:
    try:
        return call()
    except adbc_driver_manager.Error as exc:
        raise as_psycopg_error(exc) from None


def as_psycopg_error(exc: adbc_driver_manager.Error) -> psycopg.Error:
    """The psycopg error of ``exc``'s SQLSTATE, with PostgreSQL's first message line."""
    text = str(exc)
    found = _PG_MESSAGE.search(text)
    message = found.group(1).strip() if found else (text.strip().splitlines() or [type(exc).__name__])[0]
    sqlstate = getattr(exc, "sqlstate", None)
    cls: type[psycopg.Error] = psycopg.OperationalError
    if sqlstate and not sqlstate.startswith("08"):
        try:
            cls = psycopg.errors.lookup(sqlstate)
        except KeyError:
            cls = psycopg.DatabaseError
    elif sqlstate is None and not isinstance(exc, adbc_driver_manager.OperationalError):
        cls = psycopg.DatabaseError
    return cls(message)
