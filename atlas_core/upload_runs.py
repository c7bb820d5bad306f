"""The Dagster run that ingests one uploaded file (API upload, ``atlas ingest``), described without Dagster.

Like the landing sensor's runs: the dataset's bronze asset with run config naming the file, plus its
silver asset over exactly the partitions the file's rows map to (a key, or a range in one run). A file
the scan rejects, or whose rows map to no partition, runs bronze alone (on the contract's first
partition, since a run of a partitioned asset needs one): its step records the outcome in
``atlas_meta.ingestions`` and, when rejected, fails with the one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from atlas_core.contracts import Contract
from atlas_core.file_scan import FileScan
from atlas_core.layout import Layer
from atlas_core.run_tags import RANGE_END, RANGE_START

PARTITION_TAG = "dagster/partition"
LANDING_TAG = "atlas/landing"  # runs of one dataset that load files never overlap (dagster.yaml)
TRIGGER_TAG = "atlas/trigger"
UPLOAD_TAG = "atlas/upload_sha256"


def bronze_op_name(dataset: str) -> str:
    """The op of the ``bronze/<dataset>`` asset (Dagster joins the key's path with ``__``)."""
    return f"{Layer.BRONZE.value}__{dataset}"


@dataclass
class UploadRun:
    assets: list[list[str]]
    run_config: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    partition: str | None = None
    partition_range: tuple[str, str] | None = None

    @property
    def partition_tags(self) -> dict[str, str]:
        if self.partition is not None:
            return {PARTITION_TAG: self.partition}
        if self.partition_range is not None:
            return {RANGE_START: self.partition_range[0], RANGE_END: self.partition_range[1]}
        return {}


def upload_run(
    contract: Contract,
    scan: FileScan,
    *,
    trigger: str,
    landing_key: str | None = None,
    file: str | None = None,
    require_new: bool = False,
) -> UploadRun:
    """The run for one file: ``landing_key`` (an object of atlas-bronze) or ``file`` (a local path).
    ``trigger`` (``api``, ``cli``) is both the run's trigger tag and the source system of the ingestion."""
    dataset = contract.dataset
    config: dict[str, Any] = {"source_system": trigger, "require_new": require_new}
    if landing_key is not None:
        config["landing_keys"] = [landing_key]
    if file is not None:
        config["files"] = [file]
    bronze, silver = [Layer.BRONZE.value, dataset], [Layer.SILVER.value, dataset]
    run = UploadRun(
        assets=[bronze],
        run_config={"ops": {bronze_op_name(dataset): {"config": config}}},
        tags={LANDING_TAG: dataset, TRIGGER_TAG: trigger, UPLOAD_TAG: scan.sha256[:16]},
    )
    keys = scan.partition_keys
    if scan.rejected is None and (keys or contract.partitioning is None):
        run.assets.append(silver)
        if contract.partitioning is not None:
            if len(keys) == 1:
                run.partition = keys[0]
            else:
                run.partition_range = (keys[0], keys[-1])
    elif contract.partitioning is not None:
        run.partition = contract.partitioning.start.isoformat()
    return run
