"""Live OpenLineage: an in-process run's events reach the lineage file while the run is still running.

The silver step is held on a real PostgreSQL lock taken by the test, so the run is provably in flight
while the file is read: START (the run's and the step's) and RUNNING appear before the run ends; the
final events follow once the lock is released, each event exactly once.
"""

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from typer.testing import CliRunner

from atlas_cli.main import app
from atlas_cli.runs import RunOutcome, execute
from atlas_cli.runtime import boot
from tests.support.lineage_schema import validate_event
from tests.support.orchestration import events_csv, write_project

pytestmark = pytest.mark.slow

SILVER = dg.AssetKey(["silver", "events"])


def _events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_for(path: Path, predicate: Callable[[list[dict]], bool], timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = _events(path)
        if predicate(events):
            return events
        time.sleep(0.2)
    raise AssertionError(
        f"lineage file never matched; it holds {[(e['job']['name'], e['eventType']) for e in _events(path)]}"
    )


def _has(job: str, state: str, after: int) -> Callable[[list[dict]], bool]:
    return lambda events: any(e["job"]["name"] == job and e["eventType"] == state for e in events[after:])


def test_events_are_emitted_while_the_run_runs(atlas_env: dict[str, str], tmp_path: Path) -> None:
    atlas_env.update(write_project(tmp_path, model=None))
    lineage = tmp_path / "lineage.jsonl"
    atlas_env["ATLAS_LINEAGE_FILE"] = str(lineage)
    atlas_env["ATLAS_LINEAGE_RUNNING_AFTER_SECONDS"] = "1"
    source = tmp_path / "october.csv"
    source.write_text(events_csv(range(1, 4), 5))
    ingested = CliRunner().invoke(app, ["ingest", "events", str(source)])
    assert ingested.exit_code == 0, ingested.output
    before = len(_events(lineage))

    atlas = boot()
    outcome: dict[str, RunOutcome] = {}
    with psycopg.connect(atlas_env["ATLAS_POSTGRES_URL"]) as blocker:
        # The silver step cannot publish (nor read its table) until this transaction ends.
        blocker.execute("LOCK TABLE atlas_silver.events IN ACCESS EXCLUSIVE MODE")
        runner = threading.Thread(
            target=lambda: outcome.setdefault(
                "run",
                execute(
                    atlas.instance,
                    atlas.definitions,
                    [SILVER],
                    partition_range=("2026-10-01", "2026-10-03"),
                    show_progress=False,
                ),
            )
        )
        runner.start()
        try:
            events = _wait_for(lineage, _has("silver.events", "RUNNING", before))
            live = events[before:]
            run_start = live[0]
            assert (run_start["job"]["facets"]["jobType"]["jobType"], run_start["eventType"]) == (
                "JOB",
                "START",
            )
            run = atlas.instance.get_run_by_id(run_start["run"]["runId"])
            assert run is not None and run.status == dg.DagsterRunStatus.STARTED and runner.is_alive()
            assert live[1]["job"]["name"] == "silver.events" and live[1]["eventType"] == "START"
            assert {(e["job"]["name"], e["eventType"]) for e in live} <= {
                ("__ASSET_JOB", "START"),
                ("__ASSET_JOB", "RUNNING"),
                ("silver.events", "START"),
                ("silver.events", "RUNNING"),
            }
            assert not any(e["eventType"] in ("COMPLETE", "FAIL", "ABORT") for e in live)
        finally:
            blocker.rollback()
            runner.join(120)
    assert not runner.is_alive() and outcome["run"].success, outcome.get("run")

    finished = _events(lineage)[before:]
    for event in finished:
        validate_event(event)
    pairs = [(e["job"]["name"], e["eventType"]) for e in finished]
    assert len({(e["run"]["runId"], e["eventType"]) for e in finished}) == len(finished)  # each event once
    assert pairs[-1] == ("__ASSET_JOB", "COMPLETE")
    assert ("silver.events", "COMPLETE") in pairs and ("silver.events.checks", "COMPLETE") in pairs
    complete = next(
        e for e in finished if e["job"]["name"] == "silver.events" and e["eventType"] == "COMPLETE"
    )
    output = complete["outputs"][0]
    assert output["facets"]["dataQualityMetrics"]["rowCount"] == 15
    assert output["facets"]["columnLineage"]["fields"]["email"]["transformationType"] == "MASKED"
    assert outcome["run"].lineage_events == len(finished)
    tags = atlas.instance.get_run_by_id(outcome["run"].run_id).tags  # type: ignore[union-attr]
    assert tags["atlas/lineage"] == f"{len(finished)} emitted, 0 failed"
