"""Bronze assets: one per contract, bringing its source (file, landing, postgres, http) into bronze."""

from pathlib import Path

import dagster as dg

from atlas_assets.partitions import partitions_for, selected_partition_keys
from atlas_assets.policies import contract_asset_options
from atlas_assets.steps import atlas_step
from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_engine.bronze import bronze_row_counts
from atlas_engine.sources import pull_source
from atlas_resources.resources import LakeResource, ProjectResource, WarehouseResource


class BronzeConfig(dg.Config):
    """Run configuration of a bronze asset: what to ingest instead of pulling the whole source.

    Set by the landing sensor (``landing_keys``), the API's upload endpoint (``landing_keys`` of the
    upload, ``require_new``) and ``atlas ingest`` (``files``: local paths, for the in-process executor).
    """

    landing_keys: list[str] = []
    files: list[str] = []
    source_system: str = ""
    require_new: bool = False


def bronze_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey([layout.Layer.BRONZE.value, dataset])


def bronze_op_name(dataset: str) -> str:
    return "__".join(bronze_key(dataset).path)


def source_kind(contract: Contract) -> str:
    """The contract's source kind; ``explicit`` when files are only given by hand (``atlas ingest``)."""
    return contract.source.kind if contract.source is not None else "explicit"


def build_bronze_asset(contract: Contract) -> dg.AssetsDefinition:
    partitions = partitions_for(contract)

    @dg.asset(
        key=bronze_key(contract.dataset),
        group_name="bronze",
        description=(
            f"Raw, append-only copy of `{contract.dataset}` from its `{source_kind(contract)}` source: every "
            "source file kept in atlas-bronze, its rows as text "
            f"in atlas_bronze.{contract.dataset}, one record "
            f"per file in atlas_meta.ingestions (source, time, file, rows, sha256, schema version). A file "
            f"already ingested is a no-op. Partitions whose rows arrived are reported as materialized."
        ),
        **contract_asset_options(contract, partitions, layout.Layer.BRONZE),
        metadata={
            "dagster/table_name": f"atlas_bronze.{contract.dataset}",
            "atlas/layer": "bronze",
            "atlas/source_kind": source_kind(contract),
        },
        owners=[f"team:{contract.owner}"] if contract.owner else None,
    )
    @atlas_step
    def _bronze(
        context: dg.AssetExecutionContext,
        config: BronzeConfig,
        project: ProjectResource,
        warehouse: WarehouseResource,
        lake: LakeResource,
    ) -> dg.MaterializeResult:
        wh, store = warehouse.client(), lake.client()
        pulled = pull_source(
            wh,
            store,
            contract,
            project_dir=Path(project.project_dir),
            run_id=context.run_id,
            batch_rows=project.batch_size,
            landing_keys=config.landing_keys or None,
            files=[Path(f) for f in config.files] or None,
            source_system=config.source_system or None,
        )
        for record in pulled.records:
            context.log.info(
                f"{contract.dataset}: {record.file} {record.status} "
                f"({record.rows_bronze} rows, sha256 {record.sha256[:12]})"
            )
        for reason in pulled.rejected:
            context.log.warning(f"{contract.dataset}: rejected {reason}")
        if pulled.rejected and not pulled.records:
            raise dg.Failure(f"rejected: {'; '.join(pulled.rejected)}", allow_retries=False)
        if config.require_new and not any(r.status == "accepted" for r in pulled.records):
            # An upload's run is about its file: a duplicate (or nothing found) ends the run, silver is
            # skipped.
            if not pulled.records:
                raise dg.Failure(
                    "nothing to ingest: the run's files are gone (already processed?)", allow_retries=False
                )
            reasons = [f"{r.file}: {r.reason}" for r in pulled.records]
            raise dg.Failure(f"duplicate: {'; '.join(reasons)}", allow_retries=False)
        keys = selected_partition_keys(context)
        # Ingestion is not partition-scoped (a file holds any days): report the other partitions that
        # received rows too, so automation rebuilds exactly those downstream.
        for key in sorted(set(pulled.touched_partitions) - set(keys or [])):
            if partitions is not None and partitions.has_partition_key(key):
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=context.asset_key, partition=key, metadata={"atlas/reason": "rows ingested"}
                    )
                )
        new = [r for r in pulled.records if r.status == "accepted"]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": bronze_row_counts(wh, contract, keys),
                "files_seen": len(pulled.records) + len(pulled.rejected),
                "files_ingested": len(new),
                "files_rejected": len(pulled.rejected),
                "rows_appended": sum(r.rows_bronze for r in new),
                "partitions_touched": dg.MetadataValue.json(pulled.touched_partitions),
                "schema_version": contract.schema_version,
                "ingestions": dg.MetadataValue.json(
                    [
                        {"file": r.file, "sha256": r.sha256, "status": r.status, "rows": r.rows_bronze}
                        for r in pulled.records
                    ]
                ),
            }
        )

    return _bronze


def bronze_definitions(contracts: list[Contract]) -> dg.Definitions:
    return dg.Definitions(assets=[build_bronze_asset(c) for c in contracts])
