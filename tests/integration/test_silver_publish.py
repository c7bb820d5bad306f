"""Silver publishes the same rows whether they stay inside PostgreSQL or stream through a transform.

A transform that declares ``passes_through()`` (no PII to rewrite) is published with one
``INSERT ... SELECT``; any other transform streams the passing rows out of staging and back in.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.errors import ServiceUnavailable
from atlas_core.pii.classify import ColumnDecision
from atlas_core.pii.keys import KeyRing, PiiKey
from atlas_core.pii.policy import PiiPolicy
from atlas_core.pii.strategies import Anonymizer
from atlas_core.pii.transform import PiiTransform
from atlas_engine.bronze import ingest_file
from atlas_engine.pii import SafeTransform
from atlas_engine.silver import build_silver
from atlas_engine.silver_lake import export_parquet
from atlas_engine.staging import IdentityTransform, StagedLoad, passes_through
from atlas_engine.tables import bronze_schema, ensure_table
from atlas_resources.lake import LocalLake
from atlas_resources.warehouse import Warehouse
from tests.integration.quality_support import contract_for, write_csv

COLUMNS = [
    {"name": "id", "type": "integer", "required": True, "unique": True},
    {"name": "day", "type": "timestamp", "required": True},
    {"name": "amount", "type": "float", "min": 0},
    {"name": "ok", "type": "boolean"},
    {"name": "label", "allowed_values": ["a", "b", "c"]},
]
ROWS = [
    [1, "2026-10-01T01:00:00Z", "1.5", "true", "a"],
    [2, "2026-10-01T02:30:00.123456Z", "0.1", "f", "b"],
    [3, "2026-10-02 23:59:59", "-4", "yes", "a"],  # negative amount: quarantined
    [3, "2026-10-02T10:00:00Z", "7e2", "", "c"],  # duplicate id: quarantined
    [4, "2026-10-02T11:00:00+02:00", "abc", "n", "b"],  # cast error: quarantined
    [5, "2026-10-03T00:00:00Z", "", "", 'quote "x", comma'],  # not an allowed value: quarantined
    [6, "2026-10-03T12:00:00Z", "12345678.25", "0", ""],
    [7, "2026-10-03T13:00:00Z", "0.30000000000000004", "1", "c"],
]
DAYS = ["2026-10-01", "2026-10-02", "2026-10-03"]


class StreamedIdentity:
    """An identity transform that does not declare it: rows take the streaming path."""

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return schema

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch


def _snapshot(wh: Warehouse) -> tuple[list[tuple], list[tuple], list[tuple]]:
    silver = wh.fetch_all("SELECT * FROM atlas_silver.pub ORDER BY _atlas_partition, _atlas_row_number")
    quarantine = wh.fetch_all(
        "SELECT _atlas_row_number, _atlas_partition, _atlas_rule_ids FROM atlas_quarantine.pub ORDER BY 1"
    )
    counts = wh.fetch_all("SELECT rows_bronze, rows_silver, rows_quarantined FROM atlas_meta.ingestions")
    return silver, quarantine, counts


def _pub(tmp_path: Path) -> tuple[Path, Contract]:
    """The ``pub`` file and its contract."""
    path = write_csv(tmp_path / "pub.csv", [c["name"] for c in COLUMNS], ROWS)
    contract = contract_for(
        "pub",
        path,
        COLUMNS,
        primary_key=["id"],
        partitioning={"column": "day", "start": "2026-10-01", "end": "2026-10-31"},
    )
    return path, contract


def _ingested(warehouse_url: str, tmp_path: Path) -> tuple[Warehouse, Contract]:
    path, contract = _pub(tmp_path)
    wh = Warehouse(warehouse_url)
    ingest_file(wh, LocalLake(tmp_path / "lake"), contract, path)
    return wh, contract


def test_server_side_and_streamed_publish_write_identical_silver(warehouse_url: str, tmp_path: Path) -> None:
    wh, contract = _ingested(warehouse_url, tmp_path)
    first = build_silver(wh, None, contract, DAYS, run_id="server-side", transform=IdentityTransform())
    server_side = _snapshot(wh)
    second = build_silver(wh, None, contract, DAYS, run_id="streamed", transform=StreamedIdentity())
    streamed = _snapshot(wh)

    assert (
        (first.rows_silver, first.rows_quarantined) == (second.rows_silver, second.rows_quarantined) == (4, 4)
    )
    assert server_side == streamed
    assert [r[0] for r in server_side[0]] == [1, 2, 6, 7]  # ordered by partition, then row
    assert server_side[2] == [(8, 4, 4)]


def test_only_transforms_declaring_it_pass_rows_through() -> None:
    typed = pa.schema([pa.field("email", pa.string()), pa.field("n", pa.int64())])
    keys = KeyRing(PiiKey("k1", b"benchmark-test-secret-0123456789"))

    def pii(strategy: str | None) -> SafeTransform:
        decisions = {
            "email": ColumnDecision("email", "EMAIL_ADDRESS" if strategy else None, 0.9, strategy),  # type: ignore[arg-type]
            "n": ColumnDecision("n", None, 0.0, None),
        }
        return SafeTransform(PiiTransform(PiiPolicy(decisions), Anonymizer(keys), None), "d")

    assert passes_through(IdentityTransform(), typed)
    assert not passes_through(StreamedIdentity(), typed)
    assert passes_through(pii(None), typed)  # nothing classified as PII
    assert passes_through(pii("keep"), typed)  # PII kept as is (declared so in the contract)
    assert not passes_through(pii("hash"), typed)


def test_scoring_runs_beside_the_publish_and_its_failure_publishes_nothing(
    warehouse_url: str, tmp_path: Path
) -> None:
    wh, contract = _ingested(warehouse_url, tmp_path)
    build_silver(wh, None, contract, DAYS, run_id="first")
    before = _snapshot(wh)
    seen: dict[str, object] = {}

    def slow_scoring(staged: StagedLoad) -> None:
        seen["thread"] = threading.current_thread().name
        seen["staged_rows"] = wh.count_rows(staged.staging)
        time.sleep(0.5)  # the publish runs meanwhile, and waits for this before committing
        seen["published_meanwhile"] = wh.count_rows(("atlas_silver", "pub"))
        raise ServiceUnavailable("scoring lost its connection")

    with pytest.raises(ServiceUnavailable, match="scoring lost its connection"):
        build_silver(wh, None, contract, DAYS, run_id="second", on_staged=slow_scoring)

    assert seen["thread"] != threading.current_thread().name
    assert seen["staged_rows"] == 8
    assert seen["published_meanwhile"] == 4  # other sessions still see the first load's rows
    assert _snapshot(wh) == before  # rolled back: silver, quarantine and counters as they were
    leftovers = wh.fetch_all(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'atlas_staging'"
    )
    assert leftovers == [(0,)]  # staging dropped only after the scoring thread ended


def test_a_successful_scoring_hook_sees_the_staged_load_and_the_publish_commits(
    warehouse_url: str, tmp_path: Path
) -> None:
    wh, contract = _ingested(warehouse_url, tmp_path)
    partitions: list[str] = []
    result = build_silver(
        wh,
        None,
        contract,
        DAYS,
        run_id="ok",
        on_staged=lambda s: partitions.extend(s.partitions),
    )
    assert partitions == DAYS
    assert (result.rows_silver, result.rows_quarantined) == (4, 4)
    assert wh.count_rows(("atlas_silver", "pub")) == 4


def _lake_tables(lake: LocalLake, days: list[str]) -> dict[str, pa.Table]:
    return {
        day: pq.read_table(lake.root / "atlas-silver" / "pub" / f"partition={day}" / "data.parquet")
        for day in days
    }


def test_the_export_beside_the_publish_writes_what_silver_then_holds(
    warehouse_url: str, tmp_path: Path
) -> None:
    wh, contract = _ingested(warehouse_url, tmp_path)
    days = [*DAYS, "2026-10-04"]  # a day without rows gets an empty object
    beside, after = LocalLake(tmp_path / "beside"), LocalLake(tmp_path / "after")
    result = build_silver(wh, beside, contract, days, run_id="beside", transform=IdentityTransform())
    # the same objects exported from silver after the commit (the path of transforms that change rows)
    assert result.schema is not None
    export_parquet(wh, after, contract, result.schema, days)

    assert result.lake_objects == [
        beside.uri("atlas-silver", f"pub/partition={d}/data.parquet") for d in days
    ]
    exported, expected = _lake_tables(beside, days), _lake_tables(after, days)
    assert [exported[d].num_rows for d in days] == [2, 0, 2, 0]
    for day in days:
        assert exported[day].equals(expected[day]), day
        assert exported[day].schema == result.schema
    assert beside.list_temporary("atlas-silver") == []  # every pending object was moved to its key


def test_objects_exported_beside_a_publish_that_rolls_back_are_discarded(
    warehouse_url: str, tmp_path: Path
) -> None:
    wh, contract = _ingested(warehouse_url, tmp_path)
    lake = LocalLake(tmp_path / "lake-beside")

    def failing_scoring(staged: StagedLoad) -> None:
        time.sleep(0.5)  # the export finishes meanwhile
        raise ServiceUnavailable("scoring lost its connection")

    with pytest.raises(ServiceUnavailable):
        build_silver(
            wh, lake, contract, DAYS, run_id="x", transform=IdentityTransform(), on_staged=failing_scoring
        )

    assert wh.count_rows(("atlas_silver", "pub")) == 0
    assert lake.list("atlas-silver") == []  # nothing of the rolled-back load reached the lake
    assert lake.list_temporary("atlas-silver") == []


def test_a_failed_export_beside_the_publish_publishes_nothing(warehouse_url: str, tmp_path: Path) -> None:
    wh, contract = _ingested(warehouse_url, tmp_path)
    build_silver(wh, None, contract, DAYS, run_id="first")
    before = _snapshot(wh)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the lake's root should be", encoding="utf-8")

    with pytest.raises(OSError):
        build_silver(wh, LocalLake(blocked), contract, DAYS, run_id="second", transform=IdentityTransform())

    assert _snapshot(wh) == before  # the publish waited for the export and rolled back


def _partition_indexes(wh: Warehouse) -> list[tuple]:
    """(schema, table, valid, method) of each index on ``_atlas_partition`` of a ``pub`` table."""
    return wh.fetch_all(
        "SELECT n.nspname, t.relname, x.indisvalid, am.amname FROM pg_index x "
        "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_am am ON am.oid = i.relam JOIN pg_namespace n ON n.oid = t.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
        "WHERE t.relname = 'pub' AND a.attname = '_atlas_partition' ORDER BY 1"
    )


def test_first_loads_build_the_partition_index_after_their_rows(warehouse_url: str, tmp_path: Path) -> None:
    """Bronze and silver created by their first load get their partition index in that load's transaction
    (built once after the rows); later loads find it and keep it. Bronze's, append-only, is BRIN."""
    wh, contract = _ingested(warehouse_url, tmp_path)
    build_silver(wh, None, contract, DAYS, run_id="first", transform=IdentityTransform())
    expected = [
        ("atlas_bronze", "pub", True, "brin"),
        ("atlas_quarantine", "pub", True, "btree"),
        ("atlas_silver", "pub", True, "btree"),
    ]
    assert _partition_indexes(wh) == expected
    build_silver(wh, None, contract, DAYS[:1], run_id="second", transform=IdentityTransform())
    assert _partition_indexes(wh) == expected


def test_a_bronze_table_indexed_before_brin_keeps_its_b_tree(warehouse_url: str, tmp_path: Path) -> None:
    """A bronze table created by an older Atlas (B-tree on the partition) is loaded and read as before."""
    path, contract = _pub(tmp_path)
    wh = Warehouse(warehouse_url)
    with wh.transaction() as conn:
        ensure_table(conn, "atlas_bronze", "pub", bronze_schema(contract), index_on=[layout.PARTITION])
    ingest_file(wh, LocalLake(tmp_path / "lake"), contract, path)
    result = build_silver(wh, None, contract, DAYS, run_id="first", transform=IdentityTransform())

    assert (result.rows_silver, result.rows_quarantined) == (4, 4)
    assert _partition_indexes(wh)[0] == ("atlas_bronze", "pub", True, "btree")


def test_a_failed_first_publish_leaves_no_silver_table(warehouse_url: str, tmp_path: Path) -> None:
    """The new table, its rows and its deferred index commit together or not at all."""
    wh, contract = _ingested(warehouse_url, tmp_path)

    def fail(_: StagedLoad) -> None:
        raise ServiceUnavailable("scoring is down")

    with pytest.raises(ServiceUnavailable):
        build_silver(wh, None, contract, DAYS, run_id="failed", transform=IdentityTransform(), on_staged=fail)
    assert not wh.table_exists(("atlas_silver", "pub"))
    assert [r[0] for r in _partition_indexes(wh)] == ["atlas_bronze", "atlas_quarantine"]


class _Removing:
    """A transform factory that says it may delete staged rows (as PII erasures do)."""

    def __init__(self, removes: bool) -> None:
        self.removes = removes

    def removes_rows(self, staged: StagedLoad) -> bool:
        return self.removes

    def __call__(self, staged: StagedLoad) -> IdentityTransform:
        return IdentityTransform()


@pytest.mark.parametrize("removes", [False, True])
def test_the_staged_scan_starts_when_the_rows_are_final_and_scoring_follows_it(
    warehouse_url: str, tmp_path: Path, removes: bool
) -> None:
    """The scan (Soda's checks) overlaps the rule statement unless the transform factory may still delete
    staged rows; scoring always starts after the scan returned."""
    wh, contract = _ingested(warehouse_url, tmp_path)
    events: list[str] = []

    def scan(staged: StagedLoad) -> None:
        events.append("scan: verdicts " + ("written" if wh.table_exists(staged.verdicts) else "not yet"))
        time.sleep(0.3)
        events.append(f"scan done: {wh.count_rows(staged.staging)} staged rows")

    result = build_silver(
        wh,
        None,
        contract,
        DAYS,
        run_id="scan",
        scan_staged=scan,
        on_staged=lambda s: events.append("scoring"),
        transform_factory=_Removing(removes),
    )
    assert (result.rows_silver, result.rows_quarantined) == (4, 4)
    first = "scan: verdicts written" if removes else "scan: verdicts not yet"
    assert events == [first, "scan done: 8 staged rows", "scoring"]


def test_a_failed_staged_scan_publishes_nothing(warehouse_url: str, tmp_path: Path) -> None:
    wh, contract = _ingested(warehouse_url, tmp_path)
    build_silver(wh, None, contract, DAYS, run_id="first")
    before = _snapshot(wh)
    scored: list[str] = []

    def failing_scan(staged: StagedLoad) -> None:
        raise ServiceUnavailable("soda lost its connection")

    with pytest.raises(ServiceUnavailable, match="soda lost its connection"):
        build_silver(
            wh, None, contract, DAYS, run_id="second", scan_staged=failing_scan, on_staged=scored.append
        )
    assert scored == []  # scoring never ran on a load whose scan failed
    assert _snapshot(wh) == before
    assert wh.fetch_all(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'atlas_staging'"
    ) == [(0,)]
