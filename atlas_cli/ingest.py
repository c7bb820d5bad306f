"""``atlas ingest``: one file now, into bronze and then silver for the partitions it touched.

Silver is built through the Dagster instance (an in-process run of the silver asset for the
touched partition range), so the PII transform and the quality checks apply exactly as in any
run, and the ingestion record gets its ``rows_silver``/``rows_quarantined``. Bronze partitions are
reported to Dagster as materialized; gold and ai_ready follow through automation when the daemon
runs (``atlas up``), or with ``atlas materialize``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from atlas_cli.runs import RunOutcome, execute
from atlas_cli.runtime import Atlas
from atlas_core.contracts import Contract, load_contract, load_contracts
from atlas_core.errors import InputRejected
from atlas_core.layout import Layer
from atlas_engine.bronze import ingest_file
from atlas_engine.ingestions import get_ingestion


@dataclass
class IngestResult:
    record: dict[str, object]
    silver: RunOutcome | None


def _contract_for(atlas: Atlas, dataset: str, contract_path: Path | None) -> tuple[Contract, list[Contract]]:
    contracts = load_contracts(atlas.settings.resolved_contracts_dir())
    if contract_path is not None:
        contract = load_contract(contract_path)
        if contract.dataset != dataset:
            raise InputRejected(f"{contract_path}: declares dataset {contract.dataset!r}, not {dataset!r}")
        return contract, contracts
    for contract in contracts:
        if contract.dataset == dataset:
            return contract, contracts
    known = ", ".join(sorted(c.dataset for c in contracts)) or "none"
    raise InputRejected(f"unknown dataset {dataset!r} (contracts: {known}); pass --contract FILE")


def _definitions_with(atlas: Atlas, contract_path: Path, contract: Contract) -> dg.Definitions:
    """The project's definitions with ``contract`` replacing (or adding) its dataset's contract."""
    from atlas_assets.definitions import build_definitions

    directory = atlas.settings.resolved_home() / "contracts-override" / contract.dataset
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for source in sorted(atlas.settings.resolved_contracts_dir().glob("*.y*ml")):
        if load_contract(source).dataset != contract.dataset:
            shutil.copyfile(source, directory / source.name)
    shutil.copyfile(contract_path, directory / f"{contract.dataset}.yml")
    return build_definitions(atlas.settings.model_copy(update={"contracts_dir": directory}))


def ingest_now(atlas: Atlas, dataset: str, path: Path, contract_path: Path | None = None) -> IngestResult:
    """Ingest ``path`` for ``dataset`` (raises InputRejected, recorded, for an unusable file)."""
    if not path.is_file():
        raise InputRejected(f"{path}: no such file")
    contract, _ = _contract_for(atlas, dataset, contract_path)
    record = ingest_file(atlas.warehouse, atlas.lake, contract, path, source_system="cli", record_duplicate=True,
                         batch_rows=atlas.settings.batch_size)
    outcome = None
    if record.status == "accepted" and (record.partition_keys or contract.partitioning is None):
        defs = _definitions_with(atlas, contract_path, contract) if contract_path else atlas.definitions
        bronze = dg.AssetKey([Layer.BRONZE.value, dataset])
        for key in record.partition_keys if contract.partitioning is not None else [None]:
            atlas.instance.report_runless_asset_event(dg.AssetMaterialization(
                asset_key=bronze, partition=key, metadata={"ingestion": record.file, "sha256": record.sha256},
            ))
        silver = [dg.AssetKey([Layer.SILVER.value, dataset])]
        keys = sorted(record.partition_keys)
        if contract.partitioning is None:
            outcome = execute(atlas.instance, defs, silver, label=f"silver/{dataset}", show_progress=False)
        elif len(keys) == 1:
            outcome = execute(atlas.instance, defs, silver, partition=keys[0], label=f"silver/{dataset}",
                              show_progress=False)
        else:
            outcome = execute(atlas.instance, defs, silver, partition_range=(keys[0], keys[-1]),
                              label=f"silver/{dataset}", show_progress=False)
    assert record.ingestion_id is not None
    stored = get_ingestion(atlas.warehouse, record.ingestion_id)
    assert stored is not None
    return IngestResult(stored, outcome)
