"""Every file reader starts with 1 MiB read blocks (flat memory) and reads a file again with 4 MiB blocks
when a row does not fit: the landing scan, `atlas quality check` on a file and `atlas pii scan` (bronze
ingestion: tests/integration/test_bronze_files.py). Each first shows that the small blocks cannot read
the file, so the second pass is what is tested."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from atlas_core.contracts import Contract
from atlas_core.csvio import SMALL_READ_BLOCK_BYTES, RowExceedsBlock, iter_csv_batches
from atlas_engine.file_check import check_file
from atlas_engine.pii_scan import scan_csv
from atlas_engine.sources.landing import BUCKET, scan_object
from atlas_resources.lake import LocalLake
from atlas_resources.warehouse import Warehouse

COLUMNS = ["event_id", "event_ts", "kind", "note", "memo"]
ROWS = 30_000


@pytest.fixture
def events() -> Contract:
    return Contract.model_validate(
        {
            "dataset": "events",
            "source": {"kind": "landing"},
            "primary_key": ["event_id"],
            "partitioning": {"column": "event_ts", "start": "2026-10-01", "end": "2026-10-15"},
            "columns": [
                {"name": "event_id", "type": "integer", "required": True, "unique": True},
                {"name": "event_ts", "type": "timestamp", "required": True},
                {"name": "kind", "required": True},
                {"name": "note"},
                {"name": "memo"},
            ],
        }
    )


@pytest.fixture
def long_row_csv(tmp_path: Path) -> Path:
    """30,000 small rows, then one of 3.2 MB once CSV-quoted (each field under the 1 MiB cap), then one
    more."""
    path = tmp_path / "events.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(
            [i, f"2026-10-{1 + i % 14:02d}T10:00:00Z", "view", f"n{i}", ""] for i in range(1, ROWS + 1)
        )
        writer.writerow([ROWS + 1, "2026-10-14T10:00:00Z", "k" * 900_000, 'q"' * 450_000, "m" * 1_000_000])
        writer.writerow([ROWS + 2, "2026-10-14T11:00:00Z", "buy", "last", ""])
    with pytest.raises(RowExceedsBlock):
        list(iter_csv_batches(path, COLUMNS, block_size=SMALL_READ_BLOCK_BYTES))
    return path


def test_landing_scan_reads_a_file_with_a_long_row(
    events: Contract, long_row_csv: Path, tmp_path: Path
) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.put_file(BUCKET, "landing/events/long.csv", long_row_csv)
    scan = scan_object(lake, events, "landing/events/long.csv")
    assert scan.rejected is None
    assert scan.partition_keys == [f"2026-10-{day:02d}" for day in range(1, 15)]


def test_quality_check_of_a_file_with_a_long_row(
    events: Contract, long_row_csv: Path, warehouse_url: str
) -> None:
    result = check_file(Warehouse(warehouse_url), events, long_row_csv, run_soda=False)
    assert result.report["rows"] == ROWS + 2
    assert result.quarantined_rows == 0


def test_pii_scan_of_a_file_with_a_long_row(
    presidio_engine, keys, long_row_csv: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "scanned.csv"
    result = scan_csv(long_row_csv, out, presidio_engine, keys, sample_size=50)
    assert result.rows == ROWS + 2
    written = pacsv.read_csv(
        out,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string())),
    )
    assert written.column_names == COLUMNS and written.num_rows == ROWS + 2
    assert written.column("event_id").to_pylist()[-3:] == [str(ROWS), str(ROWS + 1), str(ROWS + 2)]
