"""End to end with the Dagster daemon: ``dagster dev`` (webserver + daemon + code server) on a free port
with an isolated Atlas home. A file dropped into the landing area is picked up by the landing sensor and
its run finishes; the lineage sensor emits the run's events; ``atlas backfill`` hands a range over to the
daemon as a real Dagster backfill and waits for it."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from atlas_cli.backfill import daemon_reachable, plan_backfill, run_backfill
from atlas_cli.runtime import boot
from atlas_engine.sources.landing import BUCKET
from tests.conftest import PROJECT_DIR
from tests.support.lineage_schema import validate_event
from tests.support.orchestration import events_csv, landing_contract, write_project
from tests.support.processes import preexec_new_group, stop_group

pytestmark = pytest.mark.slow

# The columns of the test project's events, with no rule and no PII strategy.
COLUMNS = """\
  - {name: event_ts, type: timestamp, required: true}
  - {name: kind, required: true}
  - {name: amount, type: float}
  - {name: email}
"""
CONTRACT = landing_contract("events", "event_id", "event_ts", COLUMNS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dagster_dev(atlas_env: dict[str, str], tmp_path: Path) -> Iterator[dict]:
    port = free_port()
    atlas_env.update(write_project(tmp_path, contract=CONTRACT, model=None))
    atlas_env.update(
        {
            "ATLAS_WEBSERVER_PORT": str(port),
            "ATLAS_LANDING_INTERVAL_SECONDS": "2",
            "ATLAS_SENSOR_INTERVAL_SECONDS": "2",
            "ATLAS_LINEAGE_INTERVAL_SECONDS": "2",
            "ATLAS_LINEAGE_FILE": str(tmp_path / "lineage.jsonl"),
        }
    )
    atlas = boot()  # services up, environment exported for the child processes
    log = open(tmp_path / "dagster-dev.log", "wb")
    workspace = str(PROJECT_DIR / "workspace.yaml")
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", workspace, "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_DIR,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=preexec_new_group,
    )
    try:
        deadline = time.monotonic() + 120
        while not daemon_reachable(port):
            assert process.poll() is None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dagster dev did not answer in 120 s"
            time.sleep(1)
        yield {"atlas": atlas, "port": port, "tmp": tmp_path, "log": tmp_path / "dagster-dev.log"}
    finally:
        stop_group(process)
        log.close()


def _wait_for_run(
    instance: dg.DagsterInstance, tags: dict[str, str], log: Path, timeout: float = 180
) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=dg.RunsFilter(tags=tags))
        if runs and runs[0].is_finished:
            return runs[0]
        time.sleep(1)
    raise AssertionError(
        f"no finished run tagged {tags} in {timeout}s; dagster dev log:\n{log.read_text()[-3000:]}"
    )


def test_a_landed_file_runs_through_the_daemon(dagster_dev: dict) -> None:
    atlas, tmp = dagster_dev["atlas"], dagster_dev["tmp"]
    instance = atlas.instance
    atlas.lake.put_bytes(BUCKET, "landing/events/drop.csv", events_csv(range(2, 4), 5).encode())

    run = _wait_for_run(instance, {"atlas/landing": "events"}, dagster_dev["log"])
    assert run.status == dg.DagsterRunStatus.SUCCESS, dagster_dev["log"].read_text()[-3000:]
    assert run.tags["dagster/asset_partition_range_start"] == "2026-10-02"
    assert atlas.lake.list(BUCKET, "landing/events/") == []
    url = os.environ["ATLAS_POSTGRES_URL"]
    with psycopg.connect(url) as conn:
        silver = conn.execute(
            "SELECT _atlas_partition, count(*) FROM atlas_silver.events GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert silver == [("2026-10-02", 5), ("2026-10-03", 5)]

    # The daemon's lineage sensor emits the daemon-launched run's events.
    lineage = tmp / "lineage.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not instance.get_run_by_id(run.run_id).tags.get("atlas/lineage"):
        time.sleep(1)
    events = [json.loads(line) for line in lineage.read_text().splitlines()]
    mine = [
        e
        for e in events
        if e["run"]["runId"] == run.run_id
        or e["run"]["facets"].get("parent", {}).get("run", {}).get("runId") == run.run_id
    ]
    assert {(e["job"]["name"], e["eventType"]) for e in mine} >= {
        (run.job_name, "START"),
        ("bronze.events", "START"),
        ("bronze.events", "COMPLETE"),
        ("silver.events", "COMPLETE"),
        (run.job_name, "COMPLETE"),
    }
    keys = [(e["run"]["runId"], e["eventType"]) for e in mine]
    assert len(keys) == len(set(keys))  # polled live by the sensor, each event once
    for event in mine:
        validate_event(event)

    # atlas backfill with a daemon reachable: a real Dagster backfill, waited for.
    plan = plan_backfill(atlas.definitions, "key:silver/events", "2026-10-02", "2026-10-03")
    outcome = run_backfill(
        instance, atlas.definitions, plan, port=dagster_dev["port"], wait=True, timeout_seconds=180
    )
    assert outcome.mode == "daemon" and outcome.status in ("COMPLETED", "COMPLETED_SUCCESS"), outcome
    backfill_runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": outcome.backfill_id}))
    assert backfill_runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in backfill_runs)
