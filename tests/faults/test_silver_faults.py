"""Faults inside one silver build, without Dagster: a publish failing half-way, and two builds of the same
partitions at once (what an orphaned step and the re-execution of its run amount to)."""

import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from atlas_core.contracts import Contract, load_contract
from atlas_engine.bronze import ingest_file
from atlas_engine.silver import build_silver
from atlas_resources.lake import LocalLake
from atlas_resources.warehouse import Warehouse
from tests.faults.support import (
    DATASET,
    accounting,
    assert_nothing_lost_nothing_duplicated,
    write_events,
    write_project,
)

pytestmark = pytest.mark.slow

ROWS = 20_000
DAYS = [f"2026-10-{d:02d}" for d in range(1, 11)]


class FailingTransform:
    """Passes the first batch, then fails: the publish transaction dies while rows stream into silver."""

    def __init__(self) -> None:
        self.calls = 0

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return schema

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("transform failed mid-publish")
        return batch


class SlowTransform(FailingTransform):
    """Holds the publish open for a moment, so two concurrent publishes would overlap."""

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.calls += 1
        if self.calls == 1:
            time.sleep(1.0)
        return batch


def _loaded(warehouse_url: str, tmp_path: Path) -> tuple[Warehouse, Contract, dict[str, tuple[int, int]]]:
    expected = write_events(tmp_path / "events.csv", ROWS)
    env = write_project(tmp_path / "project", "{kind: landing}")
    contract = load_contract(Path(env["ATLAS_CONTRACTS_DIR"]) / f"{DATASET}.yml")
    wh = Warehouse(warehouse_url, batch_size=1_000)  # many batches: the failure lands mid-stream
    assert (
        ingest_file(wh, LocalLake(tmp_path / "lake"), contract, tmp_path / "events.csv").status == "accepted"
    )
    return wh, contract, expected


@pytest.mark.timeout(120)
def test_a_publish_failing_mid_stream_fails_at_once_and_leaves_the_previous_partitions(
    warehouse_url: str, tmp_path: Path
) -> None:
    wh, contract, expected = _loaded(warehouse_url, tmp_path)
    build_silver(wh, None, contract, DAYS, run_id="clean", transform=SlowTransform())
    before = assert_nothing_lost_nothing_duplicated(warehouse_url, expected)

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="transform failed mid-publish"):
        # Before the fix this never returned: the open COPY stream held its connection's lock, and
        # closing that connection during the rollback waited for it forever.
        build_silver(wh, None, contract, DAYS, run_id="failing", transform=FailingTransform())
    assert time.monotonic() - started < 60
    after = accounting(warehouse_url)
    assert after.per_partition == before.per_partition and after.silver_rows == before.silver_rows
    assert after.staging_tables == []


def test_two_builds_of_the_same_partitions_at_once_publish_each_row_once(
    warehouse_url: str, tmp_path: Path
) -> None:
    wh, contract, expected = _loaded(warehouse_url, tmp_path)
    build_silver(wh, None, contract, DAYS, run_id="first", transform=SlowTransform())  # silver exists
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def build(run_id: str) -> None:
        try:
            start.wait(timeout=30)
            build_silver(wh, None, contract, DAYS, run_id=run_id, transform=SlowTransform())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(f"concurrent-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    seen = assert_nothing_lost_nothing_duplicated(warehouse_url, expected)
    assert seen.staging_tables == []
