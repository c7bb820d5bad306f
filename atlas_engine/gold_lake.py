"""Gold in the lake: each published model is also written as Parquet to ``atlas-gold``.

A table model becomes ``atlas-gold/<model>/data.parquet``; an incremental model becomes one object per
day of the materialized window, ``atlas-gold/<model>/partition=<YYYY-MM-DD>/data.parquet`` (the same
layout as silver, so a day re-materialized replaces exactly its object). Rows are streamed out of the
published table with ``COPY ... TO STDOUT`` as Arrow batches and spooled to a local file; the lake then
publishes the object atomically (``_tmp/`` then rename or copy), so a reader sees the previous or the
new partition, never a part of one. The export runs after the model's transaction has committed (as
silver's does): when it fails, the step fails and the previous objects are left as they were.
Builds and exports of one model are serialised (:func:`exclusive_publish`), so the export that finishes
last is the one of the build that committed last.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from datetime import date, timedelta

import psycopg
import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.errors import AtlasError
from atlas_core.layout import Layer
from atlas_core.sql_models import SqlModel
from atlas_engine.key_runs import key_runs
from atlas_engine.parallel import in_ranges, run_parallel
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Table, Warehouse

UNCONSTRAINED_NUMERIC = (38, 9)
"""Parquet decimal for a ``numeric`` column without declared precision: values are rounded to 9 places."""

_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "double precision": pa.float64(),
    "real": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
}


def _field(
    name: str, data_type: str, precision: int | None, scale: int | None
) -> tuple[pa.Field, sql.Composable]:
    """The Arrow field of a column and the expression selecting it (any other type is exported as text)."""
    column = sql.Identifier(name)
    if data_type in _SIMPLE_TYPES:
        return pa.field(name, _SIMPLE_TYPES[data_type]), column
    if data_type == "numeric":
        if precision is not None and precision <= 38:
            return pa.field(name, pa.decimal128(precision, scale or 0)), column
        p, s = UNCONSTRAINED_NUMERIC
        return pa.field(name, pa.decimal128(p, s)), sql.SQL("{}::numeric({}, {})").format(
            column, sql.Literal(p), sql.Literal(s)
        )
    return pa.field(name, pa.string()), sql.SQL("{}::text").format(column)


@contextmanager
def exclusive_publish(wh: Warehouse, model: str) -> Iterator[None]:
    """Hold the model's publish lock (waiting for a running build and export of the same model).

    A session-level advisory lock, released when the block ends or its connection dies. Without it, an
    earlier run's export could finish after a later run's and leave the lake one build behind.
    """
    conn = wh.connect(autocommit=True)
    try:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"atlas-gold-publish:{model}",))
        yield
    finally:
        conn.close()  # ends the session: the lock is released


def export_columns(wh: Warehouse, table: Table) -> tuple[pa.Schema, list[sql.Composable]]:
    """The Parquet schema of a published table and the select list producing it."""
    rows = wh.fetch_all(
        "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        table,
    )
    if not rows:
        raise AtlasError(f"{table[0]}.{table[1]} does not exist: nothing to export")
    fields, expressions = zip(*(_field(str(n), str(t), p, s) for n, t, p, s in rows), strict=True)
    return pa.schema(list(fields)), list(expressions)


def window_days(window: tuple[date, date]) -> list[date]:
    """The days of a half-open window [start, end)."""
    start, end = window
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _stream(
    wh: Warehouse, query: sql.Composable, schema: pa.Schema, params: tuple[object, ...], where: str
) -> Generator[pa.RecordBatch, None, None]:
    try:
        with closing(wh.stream(query, schema, params)) as batches:
            yield from batches
    except psycopg.errors.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AtlasError(f"Parquet export of {where}: {first}") from None
    except pa.ArrowInvalid as exc:
        raise AtlasError(f"Parquet export of {where}: {str(exc).splitlines()[0]}") from None


def export_model(wh: Warehouse, lake: Lake, model: SqlModel, window: tuple[date, date] | None) -> list[str]:
    """Write the published model to ``atlas-gold`` (each day of ``window`` for an incremental model).

    Returns the URIs written. A day without rows is written as an empty object with the table's schema,
    as silver does for an empty partition.
    """
    bucket = Layer.GOLD.bucket
    lake.ensure_buckets([bucket])
    table: Table = (Layer.GOLD.schema, model.name)
    schema, expressions = export_columns(wh, table)
    if not model.incremental:
        key = layout.parquet_key(model.name, None)
        select = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(expressions), sql.Identifier(*table))
        with closing(_stream(wh, select, schema, (), f"gold.{model.name}")) as rows:
            lake.write_parquet(bucket, key, rows, schema)
        return [lake.uri(bucket, key)]
    if window is None:
        raise AtlasError(f"model {model.name} is incremental: a partition window is required")
    days = window_days(window)
    column = sql.Identifier(model.header.partition_column)  # type: ignore[arg-type]  # required for incremental models
    # A few runs of consecutive days at once, each on one connection from one scan of the table.
    run_parallel(
        lambda run: _export_days(wh, lake, model.name, schema, expressions, column, run), in_ranges(days)
    )
    return [lake.uri(bucket, layout.parquet_key(model.name, day.isoformat())) for day in days]


def _export_days(
    wh: Warehouse,
    lake: Lake,
    name: str,
    schema: pa.Schema,
    expressions: list[sql.Composable],
    column: sql.Identifier,
    days: list[date],
) -> None:
    """One object per day of a run of consecutive days, from one scan of the table.

    The rows come ordered by their day (``column::date``, the same day as ``column >= day AND column <
    day + 1`` in this session) and are cut where the day changes; a day without rows gets an empty
    object with the schema."""
    width = len(schema)
    query = sql.SQL("SELECT {}, {}::date FROM {} WHERE {} >= %s AND {} < %s ORDER BY {}").format(
        sql.SQL(", ").join(expressions),
        column,
        sql.Identifier(Layer.GOLD.schema, name),
        column,
        column,
        sql.Literal(width + 1),
    )
    with_day = schema.append(pa.field("_atlas_day", pa.date32()))
    span = f"partition {days[0]}" if len(days) == 1 else f"days {days[0]}..{days[-1]}"
    where = f"gold.{name} {span}"
    written: set[date] = set()
    bounds = (days[0], days[-1] + timedelta(days=1))
    with closing(_stream(wh, query, with_day, bounds, where)) as batches:
        for day, run in key_runs(batches, width):  # the last column: the rows' day
            assert isinstance(day, date)
            lake.write_parquet(
                Layer.GOLD.bucket,
                layout.parquet_key(name, day.isoformat()),
                (pa.RecordBatch.from_arrays(b.columns[:width], schema=schema) for b in run),
                schema,
            )
            written.add(day)
    for day in days:
        if day not in written:
            lake.write_parquet(Layer.GOLD.bucket, layout.parquet_key(name, day.isoformat()), iter(()), schema)
