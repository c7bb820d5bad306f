"""Fault: the warehouse's PostgreSQL server is restarted while silver publishes a partition range.

The server is an embedded PostgreSQL of this test alone, holding both the warehouse and Dagster's storage
(as in a local install). It is stopped (``pg_ctl -m fast``: sessions are cut, open transactions roll back)
while the silver step is inside its publishing COPY, and started again about a second later.
"""

import json
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from atlas_cli.runs import RunOutcome, execute
from atlas_cli.runtime import boot
from atlas_core.contracts import load_contract
from atlas_core.errors import ServiceUnavailable
from atlas_engine.bronze import ingest_file
from atlas_resources import breakers
from tests.conftest import PROJECT_DIR
from tests.faults import support as faults

pytestmark = pytest.mark.slow

ROWS = 100_000
RANGE = ("2026-10-01", "2026-10-10")
SILVER = dg.AssetKey(["silver", "events"])
PUBLISHING = r'^(COPY|INSERT INTO) "atlas_silver"\."events"'
CIRCUIT_OPEN = re.compile(r"circuit open: PostgreSQL at \S+ failed \d+ times; retry after \d+s")


@pytest.fixture
def restartable_pg() -> Iterator[faults.RestartablePostgres]:
    server = faults.RestartablePostgres(Path(tempfile.mkdtemp(prefix="atlas-pgf-", dir="/tmp")))
    yield server
    server.destroy()


def _retries(instance: dg.DagsterInstance, run_id: str) -> int:
    return len(instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY).records)


def _silver_partitions_whole(url: str, expected: dict[str, tuple[int, int]]) -> None:
    """What a reader sees now: each silver partition complete (never partly deleted or partly loaded)."""
    seen = faults.accounting(url).per_partition
    for key, (good, bad) in expected.items():
        assert seen[key] == (good + bad, good, bad), f"partition {key} half-loaded: {seen[key]}"


def _log_events(home: Path, event: str) -> list[dict]:
    lines = (home / "logs" / "atlas.log").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == event]


def test_postgres_restart_during_a_silver_publish(
    isolated_env: dict[str, str], restartable_pg: faults.RestartablePostgres, tmp_path: Path
) -> None:
    expected = faults.write_events(tmp_path / "events.csv", ROWS)
    isolated_env.update(faults.write_project(tmp_path / "project", "{kind: landing}"))
    isolated_env.update(
        {
            "ATLAS_HOME": str(tmp_path / "home"),
            "ATLAS_POSTGRES_URL": restartable_pg.url("atlas"),
            "ATLAS_DAGSTER_POSTGRES_URL": restartable_pg.url("dagster"),
            "ATLAS_PROJECT_DIR": str(PROJECT_DIR),
        }
    )
    breakers.reset()
    atlas = boot()  # the project's default retry policy and breaker settings
    url = atlas.runtime.postgres_url
    contract = load_contract(Path(isolated_env["ATLAS_CONTRACTS_DIR"]) / "events.yml")
    assert ingest_file(atlas.warehouse, atlas.lake, contract, tmp_path / "events.csv").status == "accepted"
    clean = execute(atlas.instance, atlas.definitions, [SILVER], partition_range=RANGE, show_progress=False)
    assert clean.success, clean.failures
    reference = faults.assert_nothing_lost_nothing_duplicated(url, expected)

    # Rebuild the same range; stop the server while the rows are being published.
    holder: dict[str, RunOutcome] = {}
    run = threading.Thread(
        target=lambda: holder.update(
            outcome=execute(
                atlas.instance, atlas.definitions, [SILVER], partition_range=RANGE, show_progress=False
            )
        )
    )
    with psycopg.connect(restartable_pg.admin_url, autocommit=True) as monitor:
        run.start()
        faults.wait_until(
            lambda: monitor.execute(
                "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query ~ %s", (PUBLISHING,)
            ).fetchall(),
            timeout=120,
            interval=0.02,
            what="silver publishing",
        )
    restartable_pg.stop()
    stopped = time.monotonic()

    # While it is down, this process's breaker (shared with the run) opens, with one clear line.
    messages: list[str] = []
    while not messages or not messages[-1].startswith("circuit open"):
        assert len(messages) < 10, messages
        with pytest.raises(ServiceUnavailable) as failure:
            atlas.warehouse.scalar("SELECT 1")
        messages.append(str(failure.value))
    assert CIRCUIT_OPEN.fullmatch(messages[-1]), messages
    assert all("\n" not in m for m in messages)
    fast = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="^circuit open"):  # an open circuit fails at once
        atlas.warehouse.scalar("SELECT 1")
    assert time.monotonic() - fast < 0.5

    time.sleep(max(0.0, 1.0 - (time.monotonic() - stopped)))
    restartable_pg.start()
    restarted = time.monotonic()
    _silver_partitions_whole(url, expected)  # the interrupted transaction left nothing behind

    # The breaker does not keep the restarted server "dead": a trial call gets through within its reset time,
    # which is shorter than the retry delays, so the run's retry reaches the server.
    def usable() -> bool:
        try:
            return atlas.warehouse.scalar("SELECT 1") == 1
        except ServiceUnavailable:
            return False

    faults.wait_until(usable, timeout=atlas.settings.breaker_reset_seconds + 2, what="warehouse usable again")
    recovered_after = time.monotonic() - restarted

    run.join(timeout=180)
    assert not run.is_alive(), "the interrupted run did not finish"
    outcome = holder["outcome"]
    retries = _retries(atlas.instance, outcome.run_id)
    assert retries >= 1, "the transient failure was not retried"
    # The server is back within about a second and the breaker lets a trial call through after its reset
    # time; the retries (delays about 2, 6 and 14 s) outlast both, so the interrupted run itself succeeds.
    assert outcome.success and not outcome.failures, (retries, outcome.failures)
    # ... and leaves every partition complete, exactly as the clean build did: nothing lost, nothing twice.
    fault_run = faults.assert_nothing_lost_nothing_duplicated(url, expected)
    assert fault_run.per_partition == reference.per_partition and fault_run.staging_tables == []
    # The interrupted attempt could not drop its staging tables (the server was down); the retry swept them.
    left = _log_events(atlas.settings.resolved_home(), "silver_staging_not_dropped")
    swept = _log_events(atlas.settings.resolved_home(), "silver_orphaned_staging_dropped")
    # It names every table a build may create (the repair table only exists for contracts with repair rules);
    # the sweep drops those that exist, and nothing is left (staging_tables == [] above).
    assert left and swept and {t for e in swept for t in e["tables"]} <= set(left[0]["tables"])

    rerun = execute(atlas.instance, atlas.definitions, [SILVER], partition_range=RANGE, show_progress=False)
    assert rerun.success, rerun.failures
    after = faults.assert_nothing_lost_nothing_duplicated(url, expected)
    assert after.per_partition == reference.per_partition
    assert after.staging_tables == []
    print(
        f"\nfault run success={outcome.success} after {retries} retries; warehouse usable "
        f"{recovered_after:.1f}s after the restart"
    )
