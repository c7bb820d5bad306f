"""Fault: the same file ingested twice at the same time, by two ``atlas ingest`` processes.

To make the race certain rather than likely, the test holds the ingestion lock of that content (the
advisory lock ``ingest_file`` takes on ``(dataset, sha256)``) until both processes are blocked on it,
i.e. both have already found no accepted ingestion of the file; then it lets them go.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from atlas_core.layout import Layer
from atlas_resources.lake import TMP_PREFIX, LocalLake
from tests.conftest import PROJECT_DIR
from tests.faults.support import (
    DATASET,
    assert_nothing_lost_nothing_duplicated,
    wait_until,
    write_events,
    write_project,
)

pytestmark = pytest.mark.slow

ATLAS = Path(sys.executable).parent / "atlas"
ROWS = 20_000


def test_the_same_file_ingested_twice_concurrently(atlas_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "events.csv"
    expected = write_events(data, ROWS)
    atlas_env.update(write_project(tmp_path / "project", "{kind: landing}"))
    atlas_env["ATLAS_PROJECT_DIR"] = str(PROJECT_DIR)
    url = atlas_env["ATLAS_POSTGRES_URL"]
    lock_key = f"ingest:{DATASET}:{hashlib.sha256(data.read_bytes()).hexdigest()}"

    with psycopg.connect(url, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock_key,))
        processes = [
            subprocess.Popen(
                [str(ATLAS), "ingest", DATASET, str(data)],
                env=dict(atlas_env),
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            wait_until(
                lambda: (
                    gate.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    ).fetchone()[0]
                    == 2
                ),  # type: ignore[index]
                timeout=240,
                interval=0.1,
                what="both ingestions waiting on the same content",
            )  # each first starts its run
        finally:
            gate.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock_key,))
        outputs = [p.communicate(timeout=180) for p in processes]

    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert "Traceback" not in err
    records = sorted(
        (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs), key=lambda r: r["status"]
    )
    accepted, duplicate = records
    assert (accepted["status"], duplicate["status"]) == ("accepted", "duplicate")
    assert accepted["rows_bronze"] == ROWS
    assert duplicate["reason"].startswith("same content as ingestion ")

    # One accepted ingestion (plus the duplicate's own ledger row), one bronze copy, silver built once from
    # it.
    assert_nothing_lost_nothing_duplicated(url, expected)
    with psycopg.connect(url) as conn:
        ledger = conn.execute(
            "SELECT status, count(*) FROM atlas_meta.ingestions GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert ledger == [("accepted", 1), ("duplicate", 1)]

    # One raw object in the lake, and no temporary object left behind.
    lake = LocalLake(Path(atlas_env["ATLAS_HOME"]) / "lake")
    assert lake.list(Layer.BRONZE.bucket, f"raw/{DATASET}/") == [
        f"raw/{DATASET}/{accepted['sha256']}/events.csv"
    ]
    assert not list((lake.root / Layer.BRONZE.bucket / TMP_PREFIX).glob("*"))
