"""Silver in the lake: each silver partition written as Parquet to ``atlas-silver``."""

from __future__ import annotations

import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_engine.parallel import run_parallel
from atlas_engine.silver_publish import select_where
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Table, Warehouse


def export_parquet(
    wh: Warehouse, lake: Lake, contract: Contract, schema: pa.Schema, keys: list[str]
) -> list[str]:
    """Write each silver partition to ``atlas-silver/<dataset>/[partition=KEY/]data.parquet``.

    Two partitions at a time: PostgreSQL formats one while Python parses and compresses the other."""
    bucket = layout.Layer.SILVER.bucket
    lake.ensure_buckets([bucket])
    table: Table = (layout.Layer.SILVER.schema, contract.dataset)
    # Newest ingestion first, file order within it: the lake's row order does not depend on how
    # PostgreSQL laid out the table.
    query = select_where(
        schema.names,
        table,
        sql.SQL("{} = %s ORDER BY {} DESC, {}").format(
            sql.Identifier(layout.PARTITION),
            sql.Identifier(layout.INGESTION_ID),
            sql.Identifier(layout.ROW_NUMBER),
        ),
    )

    def export(key: str) -> str:
        object_key = layout.parquet_key(contract.dataset, key or None)
        lake.write_parquet(bucket, object_key, wh.stream(query, schema, (key,)), schema)
        return lake.uri(bucket, object_key)

    return run_parallel(export, keys)
