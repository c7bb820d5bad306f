"""Arrow -> PostgreSQL: type mapping and the CSV encoding of ``COPY ... FROM STDIN``."""

from __future__ import annotations

import io
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
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
    (pa.time64("us"), "time"),
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
    pacsv.write_csv(
        _instants_as_utc_text(batch), buf, pacsv.WriteOptions(include_header=False, quoting_style="needed")
    )
    return buf.getvalue()


def _instants_as_utc_text(batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
    """Timestamps with a time zone as their UTC wall time plus ``Z`` (the instant PostgreSQL reads back).

    Arrow's CSV writer formats a zoned timestamp through the time zone database value by value: 1.2 s per
    million values, 10 times the rest of a bronze row. A zoned value is stored as UTC, so dropping the
    zone is free and the naive text takes 0.1 s."""
    if not any(pa.types.is_timestamp(f.type) and f.type.tz for f in batch.schema):
        return batch
    columns = [
        pc.binary_join_element_wise(column.cast(pa.timestamp(field.type.unit)).cast(pa.string()), "Z", "")
        if pa.types.is_timestamp(field.type) and field.type.tz
        else column
        for column, field in zip(batch.columns, batch.schema, strict=True)
    ]
    return type(batch).from_arrays(columns, names=batch.schema.names)
