"""Arrow <-> PostgreSQL: type mapping and CSV encoding used by COPY in both directions."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

_ARROW_TO_PG: list[tuple[pa.DataType, str]] = [
    (pa.string(), "text"),
    (pa.large_string(), "text"),
    (pa.int64(), "bigint"),
    (pa.int32(), "integer"),
    (pa.float64(), "double precision"),
    (pa.bool_(), "boolean"),
    (pa.date32(), "date"),
    (pa.timestamp("us", tz="UTC"), "timestamptz"),
    (pa.timestamp("us"), "timestamp"),
]


def pg_type(arrow_type: pa.DataType) -> str:
    for candidate, name in _ARROW_TO_PG:
        if arrow_type.equals(candidate):
            return name
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    raise TypeError(f"no PostgreSQL type for Arrow type {arrow_type}")


def column_definitions(schema: pa.Schema) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(pg_type(f.type))) for f in schema
    )


def column_list(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def encode_csv(batch: pa.RecordBatch | pa.Table) -> bytes:
    """CSV for ``COPY ... (FORMAT csv)``: strings are always quoted, so an unquoted empty field is NULL."""
    buf = io.BytesIO()
    pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return buf.getvalue()


class ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (COPY TO STDOUT output)."""

    def __init__(self, chunks: Iterator[bytes | memoryview]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def has_data(self) -> bool:
        """Whether any byte is left (pyarrow's CSV reader rejects an empty stream)."""
        while not self._pending:
            try:
                self._pending = bytes(next(self._chunks))
            except StopIteration:
                return False
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = bytes(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def csv_reader_for(stream: io.RawIOBase, schema: pa.Schema, block_size: int) -> pacsv.CSVStreamingReader:
    """Streaming reader for PostgreSQL CSV output with a known schema."""
    return pacsv.open_csv(
        io.BufferedReader(stream, buffer_size=1 << 20),
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=block_size, use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
            true_values=["t", "true"],
            false_values=["f", "false"],
            timestamp_parsers=[pacsv.ISO8601, "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z"],
        ),
    )
