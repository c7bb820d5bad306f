"""Build a feature set version: point-in-time features, split, train-fitted transforms, export, record.

1. One REPEATABLE READ transaction: fingerprint the upstream tables (on a second connection sharing
   its snapshot, while it works), compute raw features as of each spine row into a staging table, fit
   statistics on the train split, build the final table (staging), fingerprint its content.
2. version = hash(content, spec hash, upstream fingerprints); Parquet (and Arrow IPC on request) plus
   ``spec.json`` are streamed to ``atlas-ai-ready/<name>/<version>/`` unless that version is there.
3. One transaction: the final table becomes ``atlas_ai_ready.<name>`` (with a ``version`` column)
   and ``atlas_meta.dataset_versions`` records the version.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from atlas_core.errors import AtlasError
from atlas_core.features.point_in_time import point_in_time_query
from atlas_core.features.spec import FeatureSetSpec
from atlas_core.features.splits import dataset_version
from atlas_core.features.transforms import (
    Stats,
    categories_query,
    fill_query,
    final_query,
    finish_numeric,
    numeric_stats_query,
    validate_types,
)
from atlas_core.layout import STAGING_SCHEMA, Layer
from atlas_core.sql_models import render
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Warehouse, column_types

PG_TO_ARROW = {
    "bigint": pa.int64(),
    "double precision": pa.float64(),
    "text": pa.string(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
}


@dataclass
class FeatureSetResult:
    name: str
    rows: int
    version: str
    content_hash: str
    spec_hash: str
    upstream: dict[str, str]
    stats: Stats
    split_counts: dict[str, int]
    lake_uri: str | None
    formats: list[str]
    schema: pa.Schema
    reused_export: bool


def _types(conn: psycopg.Connection, table: tuple[str, str]) -> dict[str, str]:
    return column_types(conn, table)


def _fingerprint(conn: psycopg.Connection, table: tuple[str, str]) -> str:
    row = conn.execute(
        "SELECT atlas_meta.table_fingerprint(%s::regclass)", (f'"{table[0]}"."{table[1]}"',)
    ).fetchone()
    return str(row[0]) if row else ""


def fingerprints_in_snapshot(wh: Warehouse, snapshot: str, tables: list[tuple[str, str]]) -> list[str]:
    """The fingerprints of ``tables`` as seen by the transaction that exported ``snapshot``, on a
    connection of their own: they scan whole upstream tables while that transaction computes the
    features."""
    with wh.transaction() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        return [_fingerprint(conn, table) for table in tables]


def _fit(conn: psycopg.Connection, spec: FeatureSetSpec, raw: tuple[str, str]) -> Stats:
    stats: Stats = {}
    for feature in spec.features:
        s: dict[str, Any] = {}
        query = fill_query(feature, raw)
        if query is not None:
            row = conn.execute(query).fetchone()
            s["fill"] = row[0] if row and row[0] is not None else None
        kinds = {t.kind for t in feature.transforms}
        if kinds & {"standardize", "min_max"}:
            s.update(finish_numeric(conn.execute(numeric_stats_query(feature, raw, s)).fetchone()))
        for transform in feature.transforms:
            if transform.kind == "one_hot":
                s["categories"] = [
                    str(r[0]) for r in conn.execute(categories_query(feature, transform, raw, s)).fetchall()
                ]
        if s:
            stats[feature.name] = s
    return stats


def _check_spine(conn: psycopg.Connection, spec: FeatureSetSpec, raw: tuple[str, str]) -> None:
    key, ts = sql.Identifier(spec.entity_key), sql.Identifier(spec.event_timestamp)
    row = conn.execute(
        sql.SQL(
            "SELECT count(*) FILTER (WHERE {k} IS NULL "
            "OR {t} IS NULL), count(*) - count(DISTINCT ({k}, {t})) FROM {r}"
        ).format(k=key, t=ts, r=sql.Identifier(*raw))
    ).fetchone()
    nulls, duplicates = (int(v or 0) for v in row) if row else (0, 0)
    if nulls:
        raise AtlasError(
            f"{spec.path}: spine: {nulls} rows have a NULL {spec.entity_key} or {spec.event_timestamp}"
        )
    if duplicates:
        raise AtlasError(
            f"{spec.path}: spine: {duplicates} duplicate ({spec.entity_key}, {spec.event_timestamp}) rows"
        )


def _stream_rows(
    wh: Warehouse, table: tuple[str, str], schema: pa.Schema, order: list[str]
) -> Iterator[pa.RecordBatch]:
    query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        sql.SQL(", ").join(sql.Identifier(f.name) for f in schema),
        sql.Identifier(*table),
        sql.SQL(", ").join(sql.Identifier(c) for c in order),
    )
    yield from wh.stream(query, schema)


def _export(
    wh: Warehouse,
    lake: Lake,
    spec: FeatureSetSpec,
    table: tuple[str, str],
    schema: pa.Schema,
    prefix: str,
    document: dict[str, Any],
) -> bool:
    """Write the version's files unless they exist; returns True when an existing export was reused."""
    bucket = Layer.AI_READY.bucket
    lake.ensure_buckets([bucket])
    files = {"parquet": "data.parquet", "arrow": "data.arrow"}
    wanted = [files[f] for f in spec.export.formats]
    if lake.exists(bucket, f"{prefix}/spec.json") and all(
        lake.exists(bucket, f"{prefix}/{f}") for f in wanted
    ):
        return True
    with tempfile.TemporaryDirectory(prefix="atlas-features-") as tmp:
        paths = {name: Path(tmp) / name for name in wanted}
        parquet = (
            pq.ParquetWriter(paths["data.parquet"], schema, compression="zstd")
            if "data.parquet" in paths
            else None
        )
        arrow_sink = pa.OSFile(str(paths["data.arrow"]), "wb") if "data.arrow" in paths else None
        arrow = pa.ipc.new_file(arrow_sink, schema) if arrow_sink is not None else None
        try:
            for batch in _stream_rows(wh, table, schema, [spec.entity_key, spec.event_timestamp]):
                if parquet is not None:
                    parquet.write_batch(batch)
                if arrow is not None:
                    arrow.write_batch(batch)
        finally:
            if parquet is not None:
                parquet.close()
            if arrow is not None:
                arrow.close()
            if arrow_sink is not None:
                arrow_sink.close()
        for name, path in paths.items():
            lake.put_file(bucket, f"{prefix}/{name}", path)
    # spec.json last: its presence marks a complete export.
    lake.put_bytes(bucket, f"{prefix}/spec.json", json.dumps(document, indent=2, sort_keys=True).encode())
    return False


def _drop(wh: Warehouse, *tables: tuple[str, str]) -> None:
    with wh.transaction() as conn:
        for table in tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(*table)))


def spine_column_names(conn: psycopg.Connection, spec: FeatureSetSpec) -> list[str]:
    """The output column names of the feature set's spine query (run with ``LIMIT 0``)."""
    cur = conn.execute(sql.SQL("SELECT * FROM ({}) AS s LIMIT 0").format(render(spec.spine)))
    return [d.name for d in cur.description or []]


def build_feature_set(
    wh: Warehouse, lake: Lake | None, spec: FeatureSetSpec, *, run_id: str | None = None
) -> FeatureSetResult:
    token = uuid.uuid4().hex[:8]
    raw = (STAGING_SCHEMA, f"fs_{spec.name[:40]}_{token}_raw")
    final = (STAGING_SCHEMA, f"fs_{spec.name[:40]}_{token}_final")
    target = (Layer.AI_READY.schema, spec.name)
    lock = wh.connect(autocommit=True)
    try:
        lock.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"feature_set:{spec.name}",))
        with (
            wh.transaction() as conn,
            ThreadPoolExecutor(1, thread_name_prefix="atlas-fingerprint") as beside,
        ):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            snapshot = str(conn.execute("SELECT pg_export_snapshot()").fetchone()[0])  # type: ignore[index]
            upstream_tables = {f"{layer}.{table}": (f"atlas_{layer}", table) for layer, table in spec.refs}
            fingerprinting = beside.submit(
                fingerprints_in_snapshot, wh, snapshot, list(upstream_tables.values())
            )
            spine_columns = spine_column_names(conn, spec)
            conn.execute(
                sql.SQL("CREATE TABLE {} AS {}").format(
                    sql.Identifier(*raw), point_in_time_query(spec, spine_columns)
                )
            )
            _check_spine(conn, spec, raw)
            types = _types(conn, raw)
            validate_types(spec, types)
            stats = _fit(conn, spec, raw)
            conn.execute(
                sql.SQL("CREATE TABLE {} AS {}").format(
                    sql.Identifier(*final), final_query(spec, raw, spine_columns, types, stats)
                )
            )
            content = _fingerprint(conn, final)
            upstream = dict(zip(upstream_tables, fingerprinting.result(), strict=True))
            counts = {
                str(s): int(n)
                for s, n in conn.execute(
                    sql.SQL("SELECT split, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(
                        sql.Identifier(*final)
                    )
                ).fetchall()
            }
            final_types = _types(conn, final)
        unknown = [c for c, t in final_types.items() if t not in PG_TO_ARROW]
        if unknown:
            raise AtlasError(
                f"{spec.path}: column {unknown[0]!r} has an unsupported type {final_types[unknown[0]]}"
            )
        schema = pa.schema([pa.field(c, PG_TO_ARROW[t]) for c, t in final_types.items()])
        version = dataset_version(content, spec.spec_hash, upstream)
        prefix = f"{spec.name}/{version}"
        document = {
            "name": spec.name,
            "version": version,
            "content_hash": content,
            "spec_hash": spec.spec_hash,
            "upstream": upstream,
            "statistics": stats,
            "split_counts": counts,
            "rows": sum(counts.values()),
            "columns": [{"name": f.name, "type": str(f.type)} for f in schema],
            "spec": spec.definition(),
            "feast": {
                "entity": {"join_keys": [spec.entity_key]},
                "file_source": {"path": f"{prefix}/data.parquet", "timestamp_field": spec.event_timestamp},
            },
        }
        reused = False
        uri = None
        if lake is not None:
            reused = _export(wh, lake, spec, final, schema, prefix, document)
            uri = lake.uri(Layer.AI_READY.bucket, prefix + "/")
        with wh.transaction() as conn:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN version text NOT NULL DEFAULT {}").format(
                    sql.Identifier(*final), sql.Literal(version)
                )
            )
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({}, {})").format(
                    sql.Identifier(*final),
                    sql.Identifier(spec.entity_key),
                    sql.Identifier(spec.event_timestamp),
                )
            )
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(*target)))
            conn.execute(
                sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                    sql.Identifier(*final), sql.Identifier(target[0])
                )
            )
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    sql.Identifier(target[0], final[1]), sql.Identifier(target[1])
                )
            )
            conn.execute(
                "INSERT INTO atlas_meta.dataset_versions (dataset, "
                "version, content_hash, spec_hash, upstream, spec, "
                "statistics, row_count, split_counts, lake_prefix, formats, last_run_id) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (dataset, version) DO UPDATE "
                "SET materializations = dataset_versions.materializations + 1, "
                "last_materialized_at = now(), last_run_id = "
                "EXCLUDED.last_run_id, lake_prefix = EXCLUDED.lake_prefix, "
                "formats = EXCLUDED.formats",
                (
                    spec.name,
                    version,
                    content,
                    spec.spec_hash,
                    json.dumps(upstream),
                    json.dumps(spec.definition()),
                    json.dumps(stats),
                    sum(counts.values()),
                    json.dumps(counts),
                    uri,
                    list(spec.export.formats) if lake is not None else [],
                    run_id,
                ),
            )
        return FeatureSetResult(
            spec.name,
            sum(counts.values()),
            version,
            content,
            spec.spec_hash,
            upstream,
            stats,
            counts,
            uri,
            list(spec.export.formats),
            schema.append(pa.field("version", pa.string())),
            reused,
        )
    except psycopg.errors.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AtlasError(f"{spec.path}: {first}") from None
    finally:
        _drop(wh, raw, final)
        lock.close()


def dataset_versions(wh: Warehouse, name: str) -> list[dict[str, Any]]:
    """Recorded versions of a feature set, newest first."""
    rows = wh.fetch_all(
        "SELECT version, content_hash, spec_hash, row_count, split_counts, upstream, materializations, "
        "first_materialized_at, last_materialized_at, lake_prefix, formats FROM atlas_meta.dataset_versions "
        "WHERE dataset = %s ORDER BY last_materialized_at DESC",
        (name,),
    )
    keys = [
        "version",
        "content_hash",
        "spec_hash",
        "rows",
        "split_counts",
        "upstream",
        "materializations",
        "first_materialized_at",
        "last_materialized_at",
        "lake_prefix",
        "formats",
    ]
    return [dict(zip(keys, row, strict=True)) for row in rows]
