"""Silver in the lake: each silver partition written as Parquet to ``atlas-silver``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextlib import closing, suppress
from dataclasses import dataclass, field

import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_engine.key_runs import key_runs
from atlas_engine.parallel import in_ranges, run_parallel
from atlas_engine.silver_publish import select_where
from atlas_resources.lake import TMP_PREFIX, Lake
from atlas_resources.warehouse import Table, Warehouse

# Newest ingestion first, file order within it: the lake's row order does not depend on how PostgreSQL
# laid out the table.
_ROW_ORDER = sql.SQL("{} DESC, {}").format(
    sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)
)


def export_parquet(
    wh: Warehouse, lake: Lake, contract: Contract, schema: pa.Schema, keys: list[str]
) -> list[str]:
    """Write each silver partition to ``atlas-silver/<dataset>/[partition=KEY/]data.parquet``.

    Two partitions at a time: PostgreSQL formats one while Python parses and compresses the other."""
    bucket = layout.Layer.SILVER.bucket
    lake.ensure_buckets([bucket])
    table: Table = (layout.Layer.SILVER.schema, contract.dataset)
    query = select_where(
        schema.names,
        table,
        sql.SQL("{} = %s ORDER BY {}").format(sql.Identifier(layout.PARTITION), _ROW_ORDER),
    )

    def export(key: str) -> str:
        object_key = layout.parquet_key(contract.dataset, key or None)
        lake.write_parquet(bucket, object_key, wh.stream(query, schema, (key,)), schema)
        return lake.uri(bucket, object_key)

    return run_parallel(export, keys)


@dataclass
class PendingObjects:
    """Parquet objects written under the lake's hidden ``_tmp/`` prefix, each moved to its final key
    only once the load they hold is committed (or deleted if it is not)."""

    lake: Lake
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    moves: list[tuple[str, str]] = field(default_factory=list)
    """(pending key, final key) of each object written so far."""

    def write(self, key: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> None:
        pending = f"{TMP_PREFIX}{self.token}/{key}"
        self.lake.write_parquet(layout.Layer.SILVER.bucket, pending, batches, schema)
        self.moves.append((pending, key))

    def publish(self) -> list[str]:
        """Move every object to its final key; returns their URIs."""
        bucket = layout.Layer.SILVER.bucket
        for pending, final in self.moves:
            self.lake.move(bucket, pending, final)
        return [self.lake.uri(bucket, final) for _, final in self.moves]

    def discard(self) -> None:
        """Delete what was written (best effort: retention removes old ``_tmp/`` orphans)."""
        for pending, _ in self.moves:
            with suppress(Exception):
                self.lake.delete(layout.Layer.SILVER.bucket, pending)


def export_staged(
    wh: Warehouse,
    contract: Contract,
    schema: pa.Schema,
    keys: list[str],
    rows: sql.Composable,
    params: tuple[object, ...],
    pending: PendingObjects,
) -> None:
    """Write the objects of :func:`export_parquet` into ``pending`` from the load's rows before they are
    published.

    ``rows`` (a query with ``params``) yields exactly what the publish writes to silver, whose
    partitions it replaces. The partitions are cut into two runs of consecutive keys, read at once (one
    sorts and formats while the other is parsed and compressed); each run is one scan ordered by
    partition, cut where the partition changes (the staging table has no index to read one partition at
    a time). A partition without rows gets an empty object with the schema, as :func:`export_parquet`
    writes it."""
    pending.lake.ensure_buckets([layout.Layer.SILVER.bucket])
    part = sql.Identifier(layout.PARTITION)
    query = sql.SQL("SELECT {} FROM ({}) AS p WHERE {} = ANY(%s) ORDER BY {}, {}").format(
        sql.SQL(", ").join(map(sql.Identifier, schema.names)), rows, part, part, _ROW_ORDER
    )
    column = schema.get_field_index(layout.PARTITION)

    def export(run: list[str]) -> set[str]:
        written: set[str] = set()
        with closing(wh.stream(query, schema, (*params, run))) as batches:
            for key, rows_of_key in key_runs(batches, column):
                assert isinstance(key, str)
                pending.write(layout.parquet_key(contract.dataset, key or None), rows_of_key, schema)
                written.add(key)
        return written

    written = set().union(*run_parallel(export, in_ranges(keys)))
    for key in keys:
        if key not in written:
            pending.write(layout.parquet_key(contract.dataset, key or None), iter(()), schema)
    order = {layout.parquet_key(contract.dataset, key or None): i for i, key in enumerate(keys)}
    pending.moves.sort(key=lambda move: order[move[1]])
