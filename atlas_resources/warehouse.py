"""The warehouse: PostgreSQL reached with psycopg 3, loaded with COPY, read back as Arrow batches.

Every publish is one transaction: a reader sees the old partition/table or the new one, never a mix.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import psycopg
import pyarrow as pa
from psycopg import sql

from atlas_core.errors import ServiceUnavailable
from atlas_resources import breakers, pgurl
from atlas_resources.arrow_reader import read_batches
from atlas_resources.arrowpg import column_definitions, column_list, encode_csv

Table = tuple[str, str]
S = TypeVar("S")
T = TypeVar("T")
ENCODE_AHEAD = 2  # encoded batches waiting for COPY: bounds the memory the overlap costs
_END = object()


COLUMNS_QUERY = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position"
)
"""A table's columns and their types, in order (one statement for every caller, sync or async)."""


def column_types(conn: psycopg.Connection, table: Table) -> dict[str, str]:
    """``{column: data_type}`` of ``table`` in column order; empty when the table does not exist."""
    return {str(name): str(dtype) for name, dtype in conn.execute(COLUMNS_QUERY, table).fetchall()}


def ident(table: Table) -> sql.Identifier:
    return sql.Identifier(*table)


WORK_MEM = "128MB"
"""Memory per sort or hash of a warehouse session: silver's duplicate check, the rule pass and gold's
aggregates sort a whole load; at PostgreSQL's default (4 MB) a million rows spill to disk."""


class Warehouse:
    """Thin client over one PostgreSQL database."""

    def __init__(
        self, url: str, *, batch_size: int = 50_000, connect_timeout: int = 10, work_mem: str = WORK_MEM
    ) -> None:
        self.url = pgurl.for_psycopg(url)
        self.batch_size = batch_size
        self.connect_timeout = connect_timeout
        self.work_mem = work_mem

    @property
    def host(self) -> str:
        return pgurl.describe_host(self.url)

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        try:
            return breakers.guarded(
                "PostgreSQL",
                self.host,
                psycopg.connect,
                self.url,
                autocommit=autocommit,
                connect_timeout=self.connect_timeout,
                options=self._session_options,
            )
        except psycopg.OperationalError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceUnavailable(
                f"PostgreSQL at {pgurl.redact(self.url)} is unreachable: {first_line}"
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection inside one transaction: committed on success, rolled back on any error."""
        conn = self.connect()
        try:
            with conn.transaction():
                yield conn
        finally:
            conn.close()

    # -- reads ---------------------------------------------------------------------------------------
    def scalar(self, query: sql.Composable | str, params: Sequence[object] | dict | None = None) -> object:
        rows = self.fetch_all(query, params)
        return rows[0][0] if rows else None

    def fetch_all(
        self, query: sql.Composable | str, params: Sequence[object] | dict | None = None
    ) -> list[tuple]:
        with self.connect(autocommit=True) as conn:
            # A connection lost mid-query counts against the breaker too (data errors do not).
            return breakers.guarded(
                "PostgreSQL",
                self.host,
                lambda: list(conn.execute(query, params).fetchall()),  # type: ignore[arg-type]
            )

    def column_types(self, table: Table) -> dict[str, str]:
        with self.connect() as conn:
            return column_types(conn, table)

    def table_exists(self, table: Table) -> bool:
        return bool(self.scalar("SELECT to_regclass(%s) IS NOT NULL", (f'"{table[0]}"."{table[1]}"',)))

    def count_rows(
        self, table: Table, where: sql.Composable | None = None, params: Sequence[object] = ()
    ) -> int:
        if not self.table_exists(table):
            return 0
        query = sql.SQL("SELECT count(*) FROM {}").format(ident(table))
        if where is not None:
            query = sql.SQL("{} WHERE {}").format(query, where)
        return int(self.scalar(query, params) or 0)  # type: ignore[call-overload]

    def stream(
        self,
        query: sql.Composable,
        schema: pa.Schema,
        params: Sequence[object] | None = None,
    ) -> Generator[pa.RecordBatch, None, None]:
        """Stream the rows of ``query`` as Arrow batches of ``schema``, at most ``batch_size`` rows each.

        Read on a connection of its own by the ADBC driver (:mod:`atlas_resources.arrow_reader`): it sees
        what is committed, not an open transaction's writes. Parameters are bound client-side by psycopg
        (properly quoted). A failed read raises psycopg's error for its SQLSTATE."""
        if params:
            with self.connect(autocommit=True) as conn:
                text = psycopg.ClientCursor(conn).mogrify(query, params)  # type: ignore[arg-type]
        else:
            text = query.as_string(None)
        for batch in read_batches(self._reader_conninfo, text, schema, target=self.host):
            # Batches come sized in bytes; consumers are promised at most batch_size rows.
            for offset in range(0, batch.num_rows, self.batch_size):
                yield batch.slice(offset, self.batch_size)

    @property
    def _reader_conninfo(self) -> str:
        return psycopg.conninfo.make_conninfo(
            self.url, connect_timeout=self.connect_timeout, options=self._session_options
        )

    @property
    def _session_options(self) -> str:
        return f"-c TimeZone=UTC -c work_mem={self.work_mem}"

    # -- writes --------------------------------------------------------------------------------------
    @staticmethod
    def copy_batches(conn: psycopg.Connection, table: Table, batches: Iterable[pa.RecordBatch]) -> int:
        """COPY batches into ``table`` on ``conn`` (inside the caller's transaction); returns rows copied."""
        iterator = iter(batches)
        first = next(iterator, None)
        if first is None:
            return 0
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            ident(table), column_list(first.schema.names)
        )
        rows = 0
        encoded = EncodeAhead(ReadAhead(_chain(first, iterator)))
        try:
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for data, n in encoded:
                    copy.write(data)
                    rows += n
        finally:
            encoded.close()
        return rows

    @staticmethod
    def create_table(conn: psycopg.Connection, table: Table, schema: pa.Schema, *, extra: str = "") -> None:
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}{})").format(
                ident(table), column_definitions(schema), sql.SQL(extra)
            )
        )

    def replace_partitions(
        self,
        table: Table,
        schema: pa.Schema,
        partition_column: str,
        partition_keys: Sequence[str],
        batches: Iterable[pa.RecordBatch],
    ) -> int:
        """Delete the given partitions and load the new rows, in one transaction."""
        with self.transaction() as conn:
            self.create_table(conn, table, schema)
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                    ident(table), sql.Identifier(partition_column)
                ),
                (list(partition_keys),),
            )
            return self.copy_batches(conn, table, batches)

    def replace_table(self, table: Table, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> int:
        """Load a fresh copy of ``table`` and swap it in atomically."""
        staging = (table[0], f"_new_{table[1]}"[:63])
        with self.transaction() as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(staging)))
            self.create_table(conn, staging, schema)
            rows = self.copy_batches(conn, staging, batches)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(table)))
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(ident(staging), sql.Identifier(table[1]))
            )
            return rows


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest  # closing this generator closes ``rest`` too


class _Ahead(Generic[S, T]):
    """Produce items from a source iterator on a worker thread, at most ``depth`` ahead of the consumer.

    The worker runs in a copy of the caller's context (log correlation ids); its exceptions are raised
    in the consumer; closing stops it and closes the source iterator."""

    thread_name = "atlas-ahead"
    depth = ENCODE_AHEAD

    def __init__(self, source: Iterable[S]) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.depth)
        self._stop = threading.Event()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._produce, source), name=self.thread_name, daemon=True
        )
        self._thread.start()

    def _work(self, item: S) -> T | None:
        """The item handed to the consumer (None: nothing to hand on)."""
        raise NotImplementedError

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, source: Iterable[S]) -> None:
        try:
            for item in source:
                out = self._work(item)
                if out is not None and not self._put(out):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set() and not self._thread.is_alive():
                    return  # closed: ends here
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


class ReadAhead(_Ahead[pa.RecordBatch, pa.RecordBatch]):
    """Read the next batches (parse, cast, derive columns) on a worker thread while the current ones are
    encoded: each stage of a COPY load gets its own thread, so the slowest alone sets the pace."""

    thread_name = "atlas-read-ahead"

    def _work(self, item: pa.RecordBatch) -> pa.RecordBatch | None:
        return item if item.num_rows else None


class EncodeAhead(_Ahead[pa.RecordBatch, tuple[bytes, int]]):
    """Produce the COPY encoding of the batches on a worker thread.

    Arrow releases the GIL while it parses, casts and encodes, and libpq while it waits for the
    server: the next batches are prepared while PostgreSQL loads the current one, instead of the two
    taking turns."""

    thread_name = "atlas-copy-encode"

    def _work(self, item: pa.RecordBatch) -> tuple[bytes, int] | None:
        return (encode_csv(item), item.num_rows) if item.num_rows else None
