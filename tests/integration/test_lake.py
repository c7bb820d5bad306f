"""Both lake implementations pass the same suite: a local directory and a real S3 API (SeaweedFS)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from atlas_core.errors import AtlasError
from atlas_core.retention import RetentionPolicy
from atlas_engine.retention import run_retention
from atlas_resources.lake import TMP_PREFIX, Lake
from atlas_resources.warehouse import Warehouse


@pytest.fixture
def prefix() -> str:
    return f"suite-{uuid.uuid4().hex[:8]}"


def test_put_get_list_delete(lake: Lake, prefix: str, tmp_path: Path) -> None:
    lake.ensure_buckets()
    lake.ensure_buckets()  # idempotent
    src = tmp_path / "in.bin"
    src.write_bytes(b"hello \x00 world" * 1000)
    lake.put_file("atlas-bronze", f"{prefix}/a/in.bin", src)
    lake.put_bytes("atlas-bronze", f"{prefix}/b.txt", b"b")
    assert lake.exists("atlas-bronze", f"{prefix}/a/in.bin")
    assert not lake.exists("atlas-bronze", f"{prefix}/missing")
    assert lake.list("atlas-bronze", prefix) == [f"{prefix}/a/in.bin", f"{prefix}/b.txt"]
    assert lake.get_bytes("atlas-bronze", f"{prefix}/a/in.bin") == src.read_bytes()
    out = tmp_path / "out.bin"
    lake.get_file("atlas-bronze", f"{prefix}/a/in.bin", out)
    assert out.read_bytes() == src.read_bytes()
    lake.move("atlas-bronze", f"{prefix}/b.txt", f"{prefix}/moved/b.txt")
    assert lake.list("atlas-bronze", prefix) == [f"{prefix}/a/in.bin", f"{prefix}/moved/b.txt"]
    assert lake.delete_prefix("atlas-bronze", prefix) == 2
    assert lake.list("atlas-bronze", prefix) == []


def test_no_temporary_objects_are_left_or_listed(lake: Lake, prefix: str) -> None:
    lake.ensure_buckets()
    for i in range(3):
        lake.put_bytes("atlas-silver", f"{prefix}/{i}", b"x" * i)
    assert all(not key.startswith(TMP_PREFIX) for key in lake.list("atlas-silver"))
    assert lake.list("atlas-silver", TMP_PREFIX) == []


def test_retention_removes_only_old_orphaned_temporary_objects(
    lake: Lake, prefix: str, warehouse_url: str
) -> None:
    """A write interrupted between upload and publish leaves an object under ``_tmp/``: never listed,
    removed by retention once older than a day (younger ones may be uploads in progress)."""
    lake.ensure_buckets()
    orphan = f"{TMP_PREFIX}{prefix}-orphan"
    lake.put_bytes("atlas-silver", orphan, b"half a parquet file")  # what an interrupted upload leaves
    lake.put_bytes("atlas-silver", f"{prefix}/data.parquet", b"complete")
    assert orphan in [key for key, _ in lake.list_temporary("atlas-silver")]
    assert orphan not in lake.list("atlas-silver")
    wh = Warehouse(warehouse_url)

    def retention(days_later: int, dry_run: bool) -> list[str]:
        report = run_retention(
            wh,
            lake,
            [],
            [],
            RetentionPolicy(),
            now=datetime.now(UTC) + timedelta(days=days_later),
            dry_run=dry_run,
        )
        return [a.target for a in report.actions if a.layer == "lake"]

    assert "atlas-silver/_tmp/" not in retention(0, dry_run=False)  # too young: perhaps still uploading
    assert orphan in [key for key, _ in lake.list_temporary("atlas-silver")]
    assert "atlas-silver/_tmp/" in retention(2, dry_run=True)
    assert orphan in [key for key, _ in lake.list_temporary("atlas-silver")]
    assert "atlas-silver/_tmp/" in retention(2, dry_run=False)
    assert orphan not in [key for key, _ in lake.list_temporary("atlas-silver")]
    assert lake.list("atlas-silver", prefix) == [f"{prefix}/data.parquet"]
    logged = wh.fetch_all(
        "SELECT dry_run, objects_deleted FROM atlas_meta.retention_log WHERE layer = 'lake' "
        "AND target = 'atlas-silver/_tmp/' ORDER BY 1"
    )
    assert [d for d, _ in logged] == [False, True] and all(n >= 1 for _, n in logged)


def test_parquet_round_trip_streams_batches(lake: Lake, prefix: str) -> None:
    lake.ensure_buckets()
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    batches = (
        pa.record_batch(
            {"id": list(range(i, i + 1000)), "name": [f"n{j}" for j in range(1000)]}, schema=schema
        )
        for i in range(0, 5000, 1000)
    )
    rows = lake.write_parquet("atlas-gold", f"{prefix}/t.parquet", batches, schema)
    assert rows == 5000
    read = list(lake.read_parquet("atlas-gold", f"{prefix}/t.parquet", batch_size=700))
    assert sum(b.num_rows for b in read) == 5000
    table = pa.Table.from_batches(read)
    assert table.schema.equals(schema)
    assert table.column("id").to_pylist() == list(range(5000))


def test_missing_object_is_a_clear_error(lake: Lake, prefix: str) -> None:
    lake.ensure_buckets()
    with pytest.raises(AtlasError, match="does not exist"):
        lake.get_bytes("atlas-gold", f"{prefix}/nope.parquet")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b"])
def test_unsafe_keys_are_refused(lake: Lake, key: str, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with pytest.raises(AtlasError, match="invalid lake key"):
        lake.put_file("atlas-bronze", key, src)
