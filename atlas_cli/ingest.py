"""``atlas ingest``: one file now, as one Dagster run: bronze, then silver for the partitions it touched.

The file is read once first (sha256 and the partitions its rows map to, ``atlas_core.file_scan``); then
the dataset's bronze asset (run config naming the file) and its silver asset over exactly those
partitions run through the Dagster instance in one run (``atlas_core.upload_runs``, the same plan as
API uploads and the landing sensor's runs), so both are materializations of that run, with its
retries, events and lineage; the PII transform and quality checks apply as in any run. A rejected
file runs bronze alone, which records the rejection and fails with the reason. Gold and ai_ready
follow through automation when the daemon runs (``atlas up``), or with ``atlas materialize``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from atlas_cli.runs import RunOutcome, execute
from atlas_cli.runtime import Atlas
from atlas_core.contracts import Contract, load_contract, load_contracts
from atlas_core.errors import AtlasError, InputRejected
from atlas_core.file_scan import scan_file
from atlas_core.upload_runs import upload_run
from atlas_engine.ingestions import get_ingestion

# A rejected file fails its bronze step: the CLI prints the one-line reason itself, not Dagster's console log.
SILENT = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


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
    """Ingest ``path`` for ``dataset`` in one run (raises InputRejected, recorded, for an unusable file)."""
    if not path.is_file():
        raise InputRejected(f"{path}: no such file")
    contract, _ = _contract_for(atlas, dataset, contract_path)
    scan = scan_file(contract, path)
    plan = upload_run(contract, scan, trigger="cli", file=str(path.resolve()), require_new=True)
    defs = _definitions_with(atlas, contract_path, contract) if contract_path else atlas.definitions
    outcome = execute(
        atlas.instance,
        defs,
        [dg.AssetKey(a) for a in plan.assets],
        partition=plan.partition,
        partition_range=plan.partition_range,
        label=f"ingest {dataset}",
        show_progress=False,
        tags=plan.tags,
        run_config={**plan.run_config, **SILENT},
    )
    rows = atlas.warehouse.fetch_all(
        "SELECT ingestion_id FROM atlas_meta.ingestions WHERE run_id = %s AND dataset = %s "
        "ORDER BY ingestion_id DESC LIMIT 1",
        (outcome.run_id, dataset),
    )
    if not rows:
        raise AtlasError(
            f"{path.name}: run {outcome.run_id} recorded no ingestion: {'; '.join(outcome.failures)}"
        )
    stored = get_ingestion(atlas.warehouse, rows[0][0])
    assert stored is not None
    if stored["status"] == "rejected":
        raise InputRejected(str(stored["reason"]))
    # A duplicate ends its run at bronze (nothing new for silver): the record says so, not a failure.
    return IngestResult(stored, outcome if stored["status"] == "accepted" else None)
