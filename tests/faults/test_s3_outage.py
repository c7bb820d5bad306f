"""Fault: the lake's S3 server (SeaweedFS, this test's own) is killed while silver writes its Parquet files.

SIGKILL while the silver step exports partitions to ``atlas-silver``; restarted on the same data directory
and ports a moment later. Lake objects are published atomically (uploaded under ``_tmp/``, then copied to
their key), so a reader either finds a complete object or none.
"""

import hashlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from atlas_cli.runs import RunOutcome, execute
from atlas_cli.runtime import boot
from atlas_core.contracts import load_contract
from atlas_core.errors import ServiceUnavailable
from atlas_core.layout import Layer
from atlas_engine.bronze import ingest_file
from atlas_resources import breakers
from atlas_resources.lake import TMP_PREFIX, S3Lake
from tests.faults import support as faults
from tests.support.seaweed import SeaweedS3, start_seaweed

pytestmark = pytest.mark.slow

ROWS = 100_000
RANGE = ("2026-10-01", "2026-10-10")
SILVER = dg.AssetKey(["silver", faults.DATASET])


@pytest.fixture
def own_seaweed(tmp_path: Path) -> Iterator[SeaweedS3]:
    server = start_seaweed(tmp_path / "seaweed")
    yield server
    server.stop()


def _all_keys(lake: S3Lake, bucket: str) -> list[str]:
    """Every object, temporary ones included (``Lake.list`` hides ``_tmp/``)."""
    return sorted(o.object_name for o in lake.client.list_objects(bucket, recursive=True))


_DAGSTER_WRAPPERS = {"RetryRequestedFromPolicy", "DagsterExecutionStepExecutionError"}


def _retried_errors(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The step's own one-line error behind each retry (below Dagster's step-execution wrapper)."""
    errors = []
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY).records:
        error = record.event_log_entry.dagster_event.event_specific_data.error  # type: ignore[union-attr]
        while error.cls_name in _DAGSTER_WRAPPERS and error.cause is not None:
            error = error.cause
        errors.append(error.message.strip().split(": ", 1)[-1])
    return errors


def test_s3_killed_while_silver_exports_parquet(
    atlas_env: dict[str, str], own_seaweed: SeaweedS3, tmp_path: Path
) -> None:
    expected = faults.write_events(tmp_path / "events.csv", ROWS)
    atlas_env.update(faults.write_project(tmp_path / "project", "{kind: landing}"))
    atlas_env.update(
        {
            "ATLAS_S3_ENDPOINT": own_seaweed.endpoint,
            "ATLAS_S3_ACCESS_KEY": own_seaweed.access_key,
            "ATLAS_S3_SECRET_KEY": own_seaweed.secret_key,
        }
    )
    breakers.reset()
    atlas = boot()
    lake = atlas.lake
    assert isinstance(lake, S3Lake)
    url = atlas.runtime.postgres_url
    contract = load_contract(Path(atlas_env["ATLAS_CONTRACTS_DIR"]) / f"{faults.DATASET}.yml")
    record = ingest_file(atlas.warehouse, lake, contract, tmp_path / "events.csv")
    assert record.status == "accepted"

    holder: dict[str, RunOutcome] = {}
    run = threading.Thread(
        target=lambda: holder.update(
            outcome=execute(
                atlas.instance, atlas.definitions, [SILVER], partition_range=RANGE, show_progress=False
            )
        )
    )
    run.start()
    # Partitions are exported one after another: kill the server once the first object shows up.
    faults.wait_until(
        lambda: next(iter(lake.client.list_objects(Layer.SILVER.bucket, recursive=True)), None),
        timeout=180,
        interval=0.02,
        what="Parquet export",
    )
    own_seaweed.stop()  # SIGKILL

    # The breaker opens with one clear line (the run's own failed calls count too); then calls fail at once.
    messages: list[str] = []
    while not messages or not messages[-1].startswith("circuit open"):
        assert len(messages) < 10, messages
        with pytest.raises(ServiceUnavailable) as failure:
            lake.exists(Layer.SILVER.bucket, "events/partition=2026-10-01/data.parquet")
        messages.append(str(failure.value))
    endpoint = re.escape(own_seaweed.endpoint)
    assert re.fullmatch(
        rf"circuit open: S3 at {endpoint} failed \d+ times; retry after \d+s", messages[-1]
    ), messages
    assert all(re.fullmatch(rf"S3 endpoint {endpoint} is unreachable \(\w+\)", m) for m in messages[:-1]), (
        messages
    )

    own_seaweed.start()  # same data directory and ports
    run.join(timeout=180)
    assert not run.is_alive(), "the interrupted run did not finish"
    outcome = holder["outcome"]
    step_errors = _retried_errors(atlas.instance, outcome.run_id)
    assert step_errors, "the S3 failure was not retried"
    assert all(
        re.fullmatch(rf"(S3 endpoint {endpoint} is unreachable \(\w+\)|circuit open: S3 at .*)", e)
        for e in step_errors
    ), step_errors

    rerun = execute(atlas.instance, atlas.definitions, [SILVER], partition_range=RANGE, show_progress=False)
    assert rerun.success, rerun.failures
    seen = faults.assert_nothing_lost_nothing_duplicated(url, expected)

    # What readers list is complete: every partition's Parquet object holds exactly its silver rows, nothing
    # under _tmp/ is listed, and the raw file written before the kill survived it byte for byte.
    listed = lake.list(Layer.SILVER.bucket, f"{faults.DATASET}/")
    assert listed == [f"{faults.DATASET}/partition={key}/data.parquet" for key in expected]
    for key in expected:
        table = pq.read_table(
            lake.open(Layer.SILVER.bucket, f"{faults.DATASET}/partition={key}/data.parquet")
        )
        assert table.num_rows == seen.per_partition[key][1]
    everything = _all_keys(lake, Layer.SILVER.bucket) + _all_keys(lake, Layer.BRONZE.bucket)
    hidden = [k for k in everything if k.startswith(TMP_PREFIX)]
    assert sorted(set(everything) - set(hidden)) == sorted(listed + lake.list(Layer.BRONZE.bucket))
    raw = lake.list(Layer.BRONZE.bucket, f"raw/{faults.DATASET}/")
    assert raw == [f"raw/{faults.DATASET}/{record.sha256}/events.csv"]
    assert hashlib.sha256(lake.get_bytes(Layer.BRONZE.bucket, raw[0])).hexdigest() == record.sha256
    print(
        f"\nfault run success={outcome.success} after {len(step_errors)} retries ({step_errors[0]}); "
        f"breaker opened after {len(messages) - 1} failed calls; {len(hidden)} "
        "orphaned _tmp/ objects (never listed; retention removes them after a day)"
    )
