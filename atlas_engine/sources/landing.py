"""Landing area: files dropped under ``atlas-bronze/landing/<dataset>/`` are ingested exactly once.

Uploads (API, ``atlas ingest``) wait under the hidden ``landing/<dataset>/.uploads/<id>/`` folder,
which the sensor skips: the run launched for an upload names its object in its run config.

Exactly once = the landing sensor's cursor (an object is requested once) + sha256 idempotency in
``atlas_meta.ingestions`` (the same content is never loaded twice, whatever its name). An ingested
object is copied to ``processed/<dataset>/<sha256>/<name>`` (its raw copy) before its rows load and
removed from the landing prefix only after they are committed; a rejected one ends up in
``rejected/<dataset>/<sha256>/<name>``; a duplicate is moved to ``processed/`` beside the original.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.contracts.sources import LandingSource
from atlas_core.errors import AtlasError, InputRejected
from atlas_core.file_open import sha256_file
from atlas_core.file_scan import filename_partition, scan_file
from atlas_engine.bronze import IngestionRecord, ingest_file, record_outcome
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


processed_key = layout.processed_key


def pending_objects(lake: Lake, contract: Contract) -> list[str]:
    """Keys waiting in the landing prefix, oldest name first (hidden files and folders, e.g. the uploads
    waiting for their own run, and folders' markers skipped)."""
    prefix = landing_prefix(contract)
    keys = lake.list(BUCKET, prefix)
    return [
        k
        for k in keys
        if not k.endswith("/")
        and not any(part.startswith(".") for part in PurePosixPath(k.removeprefix(prefix)).parts)
    ]


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
        scan = scan_file(contract, path, name)
    return LandingScan(key, scan.sha256, scan.partition_keys, scan.rejected)


def ingest_landing_object(
    wh: Warehouse,
    lake: Lake,
    contract: Contract,
    key: str,
    *,
    run_id: str | None = None,
    batch_rows: int = 50_000,
    source_system: str = "landing",
) -> IngestionRecord:
    """Ingest one landing object and move it out of the landing prefix (raises InputRejected when
    rejected)."""
    name = PurePosixPath(key).name
    dataset = contract.dataset
    with tempfile.TemporaryDirectory(prefix="atlas-landing-") as tmp:
        path = Path(tmp) / name
        lake.get_file(BUCKET, key, path)
        sha = sha256_file(path)
        try:
            fixed = filename_partition(contract, name)
        except InputRejected as exc:
            _reject(wh, lake, contract, key, sha, str(exc), run_id, source_system)
            raise
        try:
            record = ingest_file(
                wh,
                lake,
                contract,
                path,
                source_system=source_system,
                run_id=run_id,
                record_duplicate=True,
                batch_rows=batch_rows,
                raw_key=processed_key(dataset, sha, name),
                copy_from=key,
                partition_key=fixed,
                sha256=sha,
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


def _reject(
    wh: Warehouse,
    lake: Lake,
    contract: Contract,
    key: str,
    sha: str,
    reason: str,
    run_id: str | None,
    source_system: str,
) -> None:
    rejected = layout.rejected_key(contract.dataset, sha, PurePosixPath(key).name)
    lake.move(BUCKET, key, rejected)
    record_outcome(
        wh,
        contract.dataset,
        PurePosixPath(key).name,
        sha,
        "rejected",
        reason,
        str(contract.schema_version),
        source_system,
        lake.uri(BUCKET, rejected),
        run_id,
    )
