"""Bronze on real PostgreSQL and a local lake: unusable files are recorded and kept, good files load once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from atlas_core.contracts import load_contract
from atlas_core.csvio import SMALL_READ_BLOCK_BYTES, RowExceedsBlock, iter_csv_batches
from atlas_core.errors import InputRejected
from atlas_engine.bronze import ingest_file
from atlas_resources.lake import LocalLake
from atlas_resources.warehouse import Warehouse

PROJECT_DIR = Path(__file__).resolve().parents[2]
PRODUCTS = load_contract(PROJECT_DIR / "contracts" / "products.yml")
HEADER = b"product_id,sku,name,category,unit_price,active\n"


@pytest.fixture
def wh(warehouse_url: str) -> Warehouse:
    return Warehouse(warehouse_url)


def ingestions(wh: Warehouse) -> list[tuple]:
    return wh.fetch_all(
        "SELECT status, reason, record_count, sha256 FROM atlas_meta.ingestions ORDER BY ingestion_id"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [(HEADER, "header only, no data rows"), (b"", "file is empty"), (b"\x00\x01binary", "binary content")],
)
def test_unusable_file_is_recorded_kept_and_loads_nothing(
    wh: Warehouse, tmp_path: Path, content: bytes, reason: str
) -> None:
    lake = LocalLake(tmp_path / "lake")
    path = tmp_path / "products.csv"
    path.write_bytes(content)
    with pytest.raises(InputRejected) as excinfo:
        ingest_file(wh, lake, PRODUCTS, path)
    assert reason in str(excinfo.value) and "\n" not in str(excinfo.value)
    sha = hashlib.sha256(content).hexdigest()
    [(status, recorded_reason, count, recorded_sha)] = ingestions(wh)
    assert (status, count, recorded_sha) == ("rejected", 0, sha)
    assert reason in recorded_reason
    kept = lake.list("atlas-bronze", f"rejected/products/{sha}/")
    assert kept == [f"rejected/products/{sha}/products.csv"]
    assert lake.get_bytes("atlas-bronze", kept[0]) == content
    assert wh.count_rows(("atlas_bronze", "products")) == 0


def test_same_content_is_ingested_once(wh: Warehouse, tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    path = tmp_path / "products.csv"
    path.write_bytes(HEADER + b"1,SKU-00001,Red Lamp,home,12.50,true\n2,SKU-00002,Blue Cup,home,3.00,false\n")
    first = ingest_file(wh, lake, PRODUCTS, path)
    again = tmp_path / "renamed.csv"
    again.write_bytes(path.read_bytes())
    second = ingest_file(wh, lake, PRODUCTS, again)
    assert first.status == "accepted" and second.status == "duplicate"
    assert second.ingestion_id == first.ingestion_id
    assert wh.count_rows(("atlas_bronze", "products")) == 2
    assert [row[0] for row in ingestions(wh)] == ["accepted"]


def test_rows_longer_than_the_small_read_block_are_loaded_by_a_second_pass(
    wh: Warehouse, tmp_path: Path
) -> None:
    """Bronze reads 1 MiB blocks; a file with a longer row is loaded again from its start with 4 MiB
    blocks, and the first attempt leaves nothing behind: every row exactly once, one ingestion record."""
    lake = LocalLake(tmp_path / "lake")
    path = tmp_path / "products.csv"
    # 3.2 MB of row once CSV-quoted (over two 1 MiB blocks, under 4 MiB), each field under 1 MiB
    name, category, sku = "n" * 1_000_000, 'c"' * 450_000, "s" * 900_000
    small = [f"{i},SKU-{i:05d},Lamp {i},home,1.00,true\n" for i in range(1, 30_001)]  # > 1 MiB before it
    path.write_text(
        "product_id,sku,name,category,unit_price,active\n"
        + "".join(small)
        + f'30001,{sku},{name},"{category.replace(chr(34), chr(34) * 2)}",2.00,false\n'
        + "30002,SKU-30002,Cup,home,3.00,true\n",
        encoding="utf-8",
    )
    with pytest.raises(
        RowExceedsBlock, match="a row is longer than 1024 KiB"
    ):  # the first pass cannot read it
        list(iter_csv_batches(path, PRODUCTS.column_names, block_size=SMALL_READ_BLOCK_BYTES))
    record = ingest_file(wh, lake, PRODUCTS, path)
    assert (record.status, record.rows_bronze, record.rows_quarantined) == ("accepted", 30_002, 0)
    assert wh.count_rows(("atlas_bronze", "products")) == 30_002
    assert wh.fetch_all(
        "SELECT count(DISTINCT _atlas_row_number), min(_atlas_row_number), max(_atlas_row_number) "
        "FROM atlas_bronze.products"
    ) == [(30_002, 1, 30_002)]
    assert wh.fetch_all(
        "SELECT length(name), length(sku), category = %s FROM atlas_bronze.products "
        "WHERE product_id = '30001'",
        (category,),
    ) == [(1_000_000, 900_000, True)]
    assert [(status, count) for status, _, count, _ in ingestions(wh)] == [("accepted", 30_002)]


def test_each_bronze_row_carries_its_ingestion_time(wh: Warehouse, tmp_path: Path) -> None:
    """Loads leave ``_atlas_ingested_at`` to the table's default, the loading transaction's time: every
    row gets the instant its ingestion records, also in a bronze table created before that default."""
    lake = LocalLake(tmp_path / "lake")
    with wh.transaction() as conn:  # bronze as an earlier release created it: no default
        conn.execute("CREATE SCHEMA IF NOT EXISTS atlas_bronze")
        conn.execute(
            "CREATE TABLE atlas_bronze.products (product_id text, sku text, name text, category text, "
            "unit_price text, active text, _atlas_ingestion_id bigint, _atlas_row_number bigint, "
            "_atlas_partition text, _atlas_raw_line text, _atlas_ingested_at timestamptz)"
        )
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_bytes(
        HEADER + b"1,SKU-00001,Red Lamp,home,12.50,true\n2,SKU-00002,Blue Cup,home,3.00,false\n"
    )
    second.write_bytes(HEADER + b"3,SKU-00003,Green Pen,office,1.25,true\n")
    records = [ingest_file(wh, lake, PRODUCTS, path) for path in (first, second)]
    stamped = wh.fetch_all(
        "SELECT b._atlas_ingestion_id, count(*), "
        "count(*) FILTER (WHERE b._atlas_ingested_at = i.ingested_at) FROM atlas_bronze.products b "
        "JOIN atlas_meta.ingestions i ON i.ingestion_id = b._atlas_ingestion_id GROUP BY 1 ORDER BY 1"
    )
    assert stamped == [(records[0].ingestion_id, 2, 2), (records[1].ingestion_id, 1, 1)]
    times = wh.fetch_all("SELECT DISTINCT _atlas_ingested_at FROM atlas_bronze.products")
    assert len(times) == 2 and all(t is not None for (t,) in times)
