"""`atlas pii forget` rewrites the lake the same way on both lake implementations: a local directory and
a real S3 API (SeaweedFS). The end-to-end erasure test (tests/pii) runs on the local lake; this runs the
lake part of it, ``scrub_lake``, against both."""

from __future__ import annotations

import csv
import gzip
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from atlas_core.contracts import Contract, load_contract
from atlas_engine.pii_erasure import scrub_lake
from atlas_resources.lake import Lake, LocalLake, S3Lake
from tests.support.seaweed import SeaweedS3

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lake]:
    if request.param == "local":
        lake: Lake = LocalLake(tmp_path / "lake")
    else:
        server: SeaweedS3 = request.getfixturevalue("seaweed")
        lake = S3Lake(server.endpoint, server.access_key, server.secret_key)
    lake.ensure_buckets()
    yield lake


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    """The customers contract under a dataset name of its own (the S3 server is shared by the suite)."""
    text = (PROJECT_DIR / "contracts" / "customers.yml").read_text(encoding="utf-8")
    dataset = f"customers_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{dataset}.yml"
    path.write_text(text.replace("dataset: customers", f"dataset: {dataset}", 1), encoding="utf-8")
    return load_contract(path)


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def test_forget_rewrites_raw_files_and_parquet_objects_on_both_lakes(lake: Lake, contract: Contract) -> None:
    dataset = contract.dataset
    subject, other = 900_000 + uuid.uuid4().int % 90_000, 17  # the subject's id is unique to this test
    header = ["customer_id", "email", "notes"]
    rows = [header, [f" 0{subject}", "gone@example.com", "x"], [str(other), "kept@example.com", "y"]]
    lake.put_bytes("atlas-bronze", f"raw/{dataset}/2026-11-01/a.csv", csv_bytes(rows))
    lake.put_bytes("atlas-bronze", f"raw/{dataset}/2026-11-02/b.csv.gz", gzip.compress(csv_bytes(rows)))
    lake.put_bytes("atlas-bronze", f"raw/{dataset}/2026-11-03/c.csv", csv_bytes([header, rows[2]]))
    table = pa.table(
        {"customer_id": pa.array([subject, other, other + 1], pa.int64()), "email_hash": ["h1", "h2", "h3"]}
    )
    lake.write_parquet("atlas-silver", f"{dataset}/part-1.parquet", table.to_batches(), table.schema)
    lake.write_parquet(
        "atlas-ai-ready", f"{dataset}_features/v1/train.parquet", table.to_batches(), table.schema
    )

    rewritten = scrub_lake(lake, contract, "customer_id", {str(subject)})

    assert sorted(rewritten) == sorted(
        [
            lake.uri("atlas-bronze", f"raw/{dataset}/2026-11-01/a.csv"),
            lake.uri("atlas-bronze", f"raw/{dataset}/2026-11-02/b.csv.gz"),
            lake.uri("atlas-silver", f"{dataset}/part-1.parquet"),
            lake.uri("atlas-ai-ready", f"{dataset}_features/v1/train.parquet"),
        ]
    )  # the file without the subject is left alone
    plain = lake.get_bytes("atlas-bronze", f"raw/{dataset}/2026-11-01/a.csv").decode()
    packed = gzip.decompress(lake.get_bytes("atlas-bronze", f"raw/{dataset}/2026-11-02/b.csv.gz")).decode()
    for text in (plain, packed):
        assert "gone@example.com" not in text and str(subject) not in text
        assert list(csv.reader(io.StringIO(text))) == [header, rows[2]]
    for bucket, key in [
        ("atlas-silver", f"{dataset}/part-1.parquet"),
        ("atlas-ai-ready", f"{dataset}_features/v1/train.parquet"),
    ]:
        back = pa.Table.from_batches(list(lake.read_parquet(bucket, key)))
        assert back.schema == table.schema
        assert back.column("customer_id").to_pylist() == [other, other + 1]
    # Forgetting again finds nothing left to rewrite.
    assert scrub_lake(lake, contract, "customer_id", {str(subject)}) == []
