"""Landing area: files dropped under ``atlas-bronze/landing/<dataset>/`` are ingested exactly once.

Exactly once = the landing sensor's cursor (an object is requested once) + sha256 idempotency in
``atlas_meta.ingestions`` (the same content is never loaded twice, whatever its name). An ingested
object is copied to ``processed/<dataset>/<sha256>/<name>`` (its raw copy) before its rows load and
removed from the landing prefix only after they are committed; a rejected one ends up in
``rejected/<dataset>/<sha256>/<name>``; a duplicate is moved to ``processed/`` beside the original.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyarrow.compute as pc

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.contracts.model import LandingSource
from atlas_core.csvio import iter_csv_batches, sha256_file, with_block_fallback
from atlas_core.errors import AtlasError, InputRejected
from atlas_engine.bronze import (
    IngestionRecord,
    PartitionMapper,
    ingest_file,
    record_outcome,
    source_delimiter,
)
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Warehouse

BUCKET = layout.Layer.BRONZE.bucket


def landing_source(contract: Contract) -> LandingSource:
    if not isinstance(contract.source, LandingSource):
        kind = contract.source.kind if contract.source is not None else "none"
        raise AtlasError(f"{contract.dataset}: source kind is {kind}, not landing")
    return contract.source


def landing_prefix(contract: Contract) -> str:
    prefix = landing_source(contract).prefix or f"landing/{contract.dataset}/"
    return prefix if prefix.endswith("/") else prefix + "/"


def processed_key(dataset: str, sha256: str, filename: str) -> str:
    return f"processed/{dataset}/{sha256}/{filename}"


def pending_objects(lake: Lake, contract: Contract) -> list[str]:
    """Keys waiting in the landing prefix, oldest name first (hidden files and folders' markers skipped)."""
    keys = lake.list(BUCKET, landing_prefix(contract))
    return [k for k in keys if not PurePosixPath(k).name.startswith(".") and not k.endswith("/")]


def filename_partition(contract: Contract, filename: str) -> str | None:
    """The partition a file name names when the contract says ``partition_from: filename``."""
    source = landing_source(contract)
    if source.partition_from != "filename" or contract.partitioning is None:
        return None
    match = re.search(source.filename_pattern, filename)
    if not match:
        raise InputRejected(f"{filename}: no date in the file name (pattern {source.filename_pattern})")
    return match.group("date")


@dataclass
class LandingScan:
    """What the sensor learns from one object before asking for a run."""

    key: str
    sha256: str
    partition_keys: list[str] = field(default_factory=list)
    rejected: str | None = None


def scan_object(lake: Lake, contract: Contract, key: str) -> LandingScan:
    """Read one landing object (streamed, bounded memory): its sha256 and the partitions its rows map to."""
    name = PurePosixPath(key).name
    with tempfile.TemporaryDirectory(prefix="atlas-landing-") as tmp:
        path = Path(tmp) / name
        lake.get_file(BUCKET, key, path)
        sha = sha256_file(path)
        try:
            fixed = filename_partition(contract, name)
            mapper = PartitionMapper(contract, fixed)
            if fixed is not None and not mapper.in_range(fixed):
                raise InputRejected(f"{name}: partition {fixed} (from the file name) is outside the contract's range")

            def partition_keys(block_size: int) -> set[str]:
                keys: set[str] = set()
                for batch in iter_csv_batches(path, contract.column_names, delimiter=source_delimiter(contract),
                                              block_size=block_size):
                    keys.update(k for k in pc.unique(mapper.keys(batch)).to_pylist() if k is not None)
                return keys

            keys = with_block_fallback(partition_keys)
        except InputRejected as exc:
            return LandingScan(key, sha, [], str(exc))
    return LandingScan(key, sha, sorted(keys))


def ingest_landing_object(
    wh: Warehouse, lake: Lake, contract: Contract, key: str, *, run_id: str | None = None, batch_rows: int = 50_000
) -> IngestionRecord:
    """Ingest one landing object and move it out of the landing prefix (raises InputRejected when rejected)."""
    name = PurePosixPath(key).name
    dataset = contract.dataset
    with tempfile.TemporaryDirectory(prefix="atlas-landing-") as tmp:
        path = Path(tmp) / name
        lake.get_file(BUCKET, key, path)
        sha = sha256_file(path)
        try:
            fixed = filename_partition(contract, name)
        except InputRejected as exc:
            _reject(wh, lake, contract, key, sha, str(exc), run_id)
            raise
        try:
            record = ingest_file(
                wh, lake, contract, path, source_system="landing", run_id=run_id, record_duplicate=True,
                batch_rows=batch_rows, raw_key=processed_key(dataset, sha, name), copy_from=key,
                partition_key=fixed, sha256=sha,
            )
        except InputRejected:
            lake.delete(BUCKET, key)  # ingest_file moved its raw copy to rejected/
            raise
    if record.status == "duplicate":
        destination = processed_key(dataset, sha, name)
        if lake.exists(BUCKET, destination):
            lake.delete(BUCKET, key)
        else:
            lake.move(BUCKET, key, destination)
    else:
        lake.delete(BUCKET, key)
    return record


def _reject(wh: Warehouse, lake: Lake, contract: Contract, key: str, sha: str, reason: str, run_id: str | None) -> None:
    rejected = layout.rejected_key(contract.dataset, sha, PurePosixPath(key).name)
    lake.move(BUCKET, key, rejected)
    record_outcome(wh, contract.dataset, PurePosixPath(key).name, sha, "rejected", reason,
                   str(contract.schema_version), "landing", lake.uri(BUCKET, rejected), run_id)


def ingest_pending(
    wh: Warehouse, lake: Lake, contract: Contract, keys: list[str] | None = None, *,
    run_id: str | None = None, batch_rows: int = 50_000,
) -> tuple[list[IngestionRecord], list[str]]:
    """Ingest the given landing objects (default: every pending one). Returns records and rejection reasons."""
    records: list[IngestionRecord] = []
    rejected: list[str] = []
    present = set(pending_objects(lake, contract))
    for key in keys if keys is not None else sorted(present):
        if key not in present:
            continue  # already processed by an earlier attempt of this run
        try:
            records.append(ingest_landing_object(wh, lake, contract, key, run_id=run_id, batch_rows=batch_rows))
        except InputRejected as exc:
            rejected.append(str(exc))
    return records, rejected
