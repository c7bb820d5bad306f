"""The whole medallion graph through a real Dagster instance on real PostgreSQL, local lake and S3."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from rich.console import Console

from atlas_cli.demo import run_demo
from atlas_cli.runs import execute, resolve_selection
from atlas_cli.runtime import boot
from atlas_core.layout import Layer
from atlas_core.settings import AtlasSettings
from atlas_resources import analyzer_process
from atlas_resources.analyzer_process import EngineConfig
from atlas_resources.lake import Lake, LocalLake
from tests.support.expected import DIMENSIONS

pytestmark = pytest.mark.slow

EXPECTED_TABLES = {
    "bronze": {"customers", "orders", "products"},
    "silver": {"customers", "orders", "products"},
    "gold": {"dim_customer", "dim_product", "fact_orders", "daily_revenue", "customer_lifetime_value"},
    "ai_ready": {"customer_features"},
}


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names


def _columns(url: str, schema: str, table: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema=%s AND table_name=%s",
            (schema, table),
        ).fetchall()
    return dict(rows)


def assert_gold_in_lake(lake: Lake, summary: dict) -> None:
    """Every gold model is in atlas-gold as Parquet: one object per day for incremental models (30 demo
    days), one object for table models; the objects hold exactly the warehouse's rows."""
    incremental = {"fact_orders", "daily_revenue"}
    for model, rows in summary["layers"]["gold"].items():
        keys = lake.list(Layer.GOLD.bucket, f"{model}/")
        if model in incremental:
            assert len(keys) == 30 and all(k.startswith(f"{model}/partition=2026-") for k in keys), keys
        else:
            assert keys == [f"{model}/data.parquet"]
        assert sum(b.num_rows for key in keys for b in lake.read_parquet(Layer.GOLD.bucket, key)) == rows
    assert {k.split("/")[0] for k in lake.list(Layer.GOLD.bucket)} == EXPECTED_TABLES["gold"]


def test_demo_builds_every_layer_idempotently(atlas_env: dict[str, str]) -> None:
    first = run_demo(show_progress=False, console=Console(quiet=True))
    url = atlas_env["ATLAS_POSTGRES_URL"]
    assert first["success"]
    checks = first["checks"]
    assert checks["evaluations"] == checks["passed"] > 0 and checks["failed"] == []
    assert set(checks["by_asset"]["silver/orders"]) == {*DIMENSIONS, "pii_drift"}
    assert checks["by_asset"]["silver/orders"]["validity"]["passed"] >= 30  # the range, and each partition
    assert {layer: set(tables) for layer, tables in first["layers"].items()} == EXPECTED_TABLES
    for layer, tables in first["layers"].items():
        for table, rows in tables.items():
            assert rows == _count(url, f"{Layer(layer).schema}.{table}")
            assert rows > 0
    assert first["layers"]["bronze"] == {"customers": 2005, "orders": 20000, "products": 200}
    assert first["layers"]["gold"]["daily_revenue"] == 30
    # Nothing lost: every bronze row is in silver or in quarantine.
    for dataset, bronze_rows in first["layers"]["bronze"].items():
        assert bronze_rows == first["layers"]["silver"][dataset] + first["quarantine"][dataset]
    summary_file = json.loads(
        (__import__("pathlib").Path(atlas_env["ATLAS_HOME"]) / "demo" / "summary.json").read_text()
    )
    assert summary_file["layers"] == first["layers"]

    assert_gold_in_lake(LocalLake(Path(atlas_env["ATLAS_HOME"]) / "lake"), first)
    # The customers' notes were analyzed in the analyzer processes the run started (docs/pii.md).
    settings = AtlasSettings()
    recognizers = str(settings.resolved_pii_recognizers())
    analyzers = analyzer_process.started(
        EngineConfig(recognizers, settings.pii_n_process, settings.pii_batch_size)
    )
    assert analyzers is not None and analyzers.calls > 0

    second = run_demo(show_progress=False, console=Console(quiet=True))
    assert second["layers"] == first["layers"]
    assert second["quarantine"] == first["quarantine"]
    with psycopg.connect(url) as conn:
        statuses = conn.execute(
            "SELECT dataset, status, count(*) FROM atlas_meta.ingestions GROUP BY 1, 2"
        ).fetchall()
    assert sorted(statuses) == [
        ("customers", "accepted", 1),
        ("orders", "accepted", 1),
        ("products", "accepted", 1),
    ]
    with psycopg.connect(url) as conn:  # same data and spec: the same feature set version, materialized twice
        versions = conn.execute(
            "SELECT version, materializations FROM atlas_meta.dataset_versions "
            "WHERE dataset = 'customer_features'"
        ).fetchall()
    assert len(versions) == 1 and versions[0][1] == 2

    # Dagster's runs and events are in the dagster database.
    dagster_url = atlas_env["ATLAS_DAGSTER_POSTGRES_URL"]
    assert _count(dagster_url, "runs") == 2
    assert _count(dagster_url, "event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'") > 0

    orders = _columns(url, "atlas_silver", "orders")
    assert orders["order_id"] == "bigint"
    assert orders["order_ts"] == "timestamp with time zone"
    assert orders["total"] == "double precision"
    assert orders["status"] == "text"
    assert set(_columns(url, "atlas_bronze", "orders").values()) >= {"text"}
    assert _columns(url, "atlas_bronze", "orders")["order_id"] == "text"
    features = _columns(url, "atlas_ai_ready", "customer_features")
    assert {"split", "version", "recency_days_z"} <= set(features)


def _outside_october_5(url: str) -> tuple[list[tuple], list[tuple]]:
    """What rematerializing partition 2026-10-05 must leave alone: silver's other partitions (with the
    transaction ids of their rows) and the whole of gold's daily revenue."""
    with psycopg.connect(url) as conn:
        other = conn.execute(
            "SELECT _atlas_partition, min(xmin::text), count(*) FROM atlas_silver.orders "
            "WHERE _atlas_partition <> '2026-10-05' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        revenue = conn.execute("SELECT * FROM atlas_gold.daily_revenue ORDER BY order_date").fetchall()
    return other, revenue


def test_single_partition_rematerialization_replaces_only_that_partition(atlas_env: dict[str, str]) -> None:
    run_demo(show_progress=False, console=Console(quiet=True))
    url = atlas_env["ATLAS_POSTGRES_URL"]
    other_before, revenue_before = _outside_october_5(url)
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM atlas_silver.orders WHERE _atlas_partition = '2026-10-05'")
        conn.execute("UPDATE atlas_gold.daily_revenue SET orders = -1 WHERE order_date = '2026-10-05'")
        conn.commit()
    atlas = boot()
    keys = resolve_selection(atlas.definitions, "key:silver/orders+")
    outcome = execute(atlas.instance, atlas.definitions, keys, partition="2026-10-05", show_progress=False)
    assert outcome.success, outcome.failures
    other_after, revenue_after = _outside_october_5(url)
    with psycopg.connect(url) as conn:
        restored = conn.execute(
            "SELECT count(*) FROM atlas_silver.orders WHERE _atlas_partition = '2026-10-05'"
        ).fetchone()
    assert other_after == other_before  # untouched rows keep their transaction ids
    assert revenue_after == revenue_before
    assert restored is not None and restored[0] > 0


def test_demo_with_the_lake_on_s3(s3_env: dict[str, str]) -> None:
    summary = run_demo(show_progress=False, console=Console(quiet=True))
    assert summary["success"]
    atlas = boot()
    lake = atlas.lake
    raw = lake.list(Layer.BRONZE.bucket, "raw/orders/")
    assert len(raw) == 1 and raw[0].endswith("/orders.csv")
    silver = lake.list(Layer.SILVER.bucket, "orders/")
    assert len(silver) == 30
    rows = sum(b.num_rows for key in silver for b in lake.read_parquet(Layer.SILVER.bucket, key))
    assert rows == summary["layers"]["silver"]["orders"]
    features = lake.list(Layer.AI_READY.bucket, "customer_features/")
    assert {k.rsplit("/", 1)[1] for k in features} == {"data.parquet", "spec.json"}
    (exported,) = [k for k in features if k.endswith("/data.parquet")]
    exported_rows = sum(b.num_rows for b in lake.read_parquet(Layer.AI_READY.bucket, exported))
    assert exported_rows == summary["layers"]["ai_ready"]["customer_features"]
    assert_gold_in_lake(lake, summary)
