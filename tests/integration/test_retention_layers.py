"""Retention of silver, gold and ai_ready on real PostgreSQL and a real (local) lake, as of a pinned day.

Silver and gold are built by the pipeline (``atlas ingest``, an incremental gold model); ai_ready versions
are lake objects whose modification times are set to known days. ``atlas retention run --as-of`` then
evaluates every window against that day, never the clock: the test names exactly which partitions, rows
and objects go and which stay, and the ``atlas_meta.retention_log`` rows of a dry run and a real run.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from typer.testing import CliRunner

from atlas_cli.ingest import ingest_now
from atlas_cli.main import app
from atlas_cli.runs import execute
from atlas_cli.runtime import boot
from atlas_core.layout import Layer
from atlas_resources.lake import LocalLake
from tests.support.orchestration import events_csv, write_project

pytestmark = pytest.mark.slow

INCREMENTAL_MODEL = """\
/* ---
description: Events per day and kind, built one day at a time.
primary_key: [event_date, kind]
materialization: incremental
partition_column: event_date
--- */
SELECT (e.event_ts AT TIME ZONE 'UTC')::date AS event_date, e.kind, count(*) AS events
FROM atlas_silver.events AS e
WHERE e.event_ts >= :partition_start AND e.event_ts < :partition_end
GROUP BY 1, 2
"""
GOLD = dg.AssetKey(["gold", "event_daily"])
DAYS = [f"2026-10-{d:02d}" for d in range(1, 15)]
AS_OF = "2026-10-20"
# Windows: silver 10 days -> cutoff 2026-10-10; gold 14 -> 2026-10-06; ai_ready 7 -> 2026-10-13; bronze 90
# (nothing).
WINDOWS = {
    "ATLAS_RETENTION_SILVER_DAYS": "10",
    "ATLAS_RETENTION_GOLD_DAYS": "14",
    "ATLAS_RETENTION_AI_READY_DAYS": "7",
    "ATLAS_RETENTION_BRONZE_DAYS": "90",
}
VERSIONS = {  # ai_ready version folder -> modification day of its objects
    "customer_features/v1": "2026-09-01",  # older than the cutoff: deleted
    "customer_features/v2": "2026-10-14",  # younger than the cutoff: kept
    "customer_features/v3": "2026-10-15",  # the newest of its feature set: kept
    "churn_features/v0": "2026-01-01",  # old, but the only (newest) version of its feature set: kept
}


def _rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def _state(url: str, lake: LocalLake) -> dict[str, object]:
    return {
        "bronze": _rows(
            url, "SELECT _atlas_partition, count(*) FROM atlas_bronze.events GROUP BY 1 ORDER BY 1"
        ),
        "silver": _rows(
            url, "SELECT _atlas_partition, count(*) FROM atlas_silver.events GROUP BY 1 ORDER BY 1"
        ),
        "gold": _rows(
            url, "SELECT event_date::text, count(*) FROM atlas_gold.event_daily GROUP BY 1 ORDER BY 1"
        ),
        "silver_objects": lake.list(Layer.SILVER.bucket, "events/"),
        "gold_objects": lake.list(Layer.GOLD.bucket, "event_daily/"),
        "ai_ready_objects": lake.list(Layer.AI_READY.bucket),
        "raw_objects": len(lake.list(Layer.BRONZE.bucket)),
    }


def test_retention_deletes_exactly_the_expired_silver_gold_and_ai_ready_partitions(
    atlas_env: dict[str, str], tmp_path: Path
) -> None:
    atlas_env.update(write_project(tmp_path / "project", model=INCREMENTAL_MODEL))
    atlas_env.update(WINDOWS)
    atlas = boot()
    lake, url = atlas.lake, atlas_env["ATLAS_POSTGRES_URL"]
    assert isinstance(lake, LocalLake)
    source = tmp_path / "october.csv"
    source.write_text(
        events_csv(range(1, 15), 6)
    )  # 6 events on each of 2026-10-01 .. 2026-10-14, 3 kinds a day
    ingested = ingest_now(atlas, "events", source)
    assert ingested.silver is not None and ingested.silver.success, ingested.silver
    gold = execute(
        atlas.instance, atlas.definitions, [GOLD], partition_range=(DAYS[0], DAYS[-1]), show_progress=False
    )
    assert gold.success, gold.failures
    for version, day in VERSIONS.items():
        for name in ("data.parquet", "manifest.json"):
            lake.put_bytes(Layer.AI_READY.bucket, f"{version}/{name}", b"x")
            stamp = datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
            os.utime(lake.root / Layer.AI_READY.bucket / version / name, (stamp, stamp))

    before = _state(url, lake)
    assert before["bronze"] == before["silver"] == [(d, 6) for d in DAYS]
    assert before["gold"] == [(d, 3) for d in DAYS]
    assert before["silver_objects"] == [f"events/partition={d}/data.parquet" for d in DAYS]
    assert before["gold_objects"] == [f"event_daily/partition={d}/data.parquet" for d in DAYS]

    expected = (
        [("silver", "atlas_silver.events", d, "2026-10-10", 6, 0) for d in DAYS[:9]]
        + [("silver", f"{Layer.SILVER.bucket}/events", d, "2026-10-10", 0, 1) for d in DAYS[:9]]
        + [("gold", "atlas_gold.event_daily", d, "2026-10-06", 3, 0) for d in DAYS[:5]]
        + [("gold", f"{Layer.GOLD.bucket}/event_daily", d, "2026-10-06", 0, 1) for d in DAYS[:5]]
        + [("ai_ready", f"{Layer.AI_READY.bucket}/customer_features/v1", None, "2026-10-13", 0, 2)]
    )
    runner = CliRunner()
    dry = runner.invoke(app, ["retention", "run", "--dry-run", "--as-of", AS_OF, "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert (report["dry_run"], report["now"]) == (True, "2026-10-20T23:59:59.999999+00:00")
    assert [
        (a["layer"], a["target"], a["partition_key"], a["cutoff"], a["rows"], a["objects"])
        for a in report["actions"]
    ] == expected
    assert (report["rows"], report["objects"]) == (9 * 6 + 5 * 3, 9 + 5 + 2)
    assert _state(url, lake) == before  # a dry run deletes nothing

    real = runner.invoke(app, ["retention", "run", "--as-of", AS_OF])
    assert real.exit_code == 0, real.output
    assert real.stdout.strip().splitlines()[-1] == "deleted 69 rows and 16 objects"

    after = _state(url, lake)
    assert (
        after["bronze"] == before["bronze"] and after["raw_objects"] == before["raw_objects"]
    )  # 90-day window
    assert after["silver"] == [(d, 6) for d in DAYS[9:]]
    assert after["silver_objects"] == [f"events/partition={d}/data.parquet" for d in DAYS[9:]]
    assert after["gold"] == [(d, 3) for d in DAYS[5:]]
    assert after["gold_objects"] == [f"event_daily/partition={d}/data.parquet" for d in DAYS[5:]]
    assert after["ai_ready_objects"] == [
        f"{v}/{n}"
        for v in sorted(VERSIONS)
        if v != "customer_features/v1"
        for n in ("data.parquet", "manifest.json")
    ]
    logged = _rows(
        url,
        "SELECT dry_run, layer, target, partition_key, cutoff::text, rows_deleted, objects_deleted "
        "FROM atlas_meta.retention_log ORDER BY id",
    )
    assert logged == [(True, *e) for e in expected] + [(False, *e) for e in expected]

    again = runner.invoke(app, ["retention", "run", "--as-of", AS_OF, "--json"])  # nothing left to expire
    assert again.exit_code == 0 and json.loads(again.stdout)["actions"] == []
