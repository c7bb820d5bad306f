"""Bronze assets: one per contract, appending the raw rows of its source files."""


from pathlib import Path

import dagster as dg

from atlas_assets.partitions import backfill_policy_for, partitions_for, selected_partition_keys
from atlas_assets.policies import layer_policies
from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.errors import InputRejected
from atlas_engine.bronze import bronze_row_counts, ingest_file, source_files
from atlas_resources.resources import LakeResource, ProjectResource, WarehouseResource


def bronze_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey([layout.Layer.BRONZE.value, dataset])


def build_bronze_asset(contract: Contract) -> dg.AssetsDefinition:
    partitions = partitions_for(contract)

    @dg.asset(
        key=bronze_key(contract.dataset),
        group_name="bronze",
        description=(
            f"Raw, append-only copy of `{contract.dataset}`: every source file kept in atlas-bronze, its rows "
            f"as text in atlas_bronze.{contract.dataset}, one record per file in atlas_meta.ingestions "
            f"(source, time, file, rows, sha256, schema version). A file already ingested is a no-op."
        ),
        partitions_def=partitions,
        backfill_policy=backfill_policy_for(partitions),
        code_version=contract.fingerprint,
        kinds={"postgres", "parquet"},
        **layer_policies(layout.Layer.BRONZE),
        metadata={"dagster/table_name": f"atlas_bronze.{contract.dataset}", "atlas/layer": "bronze"},
        owners=[f"team:{contract.owner}"] if contract.owner else None,
    )
    def _bronze(
        context: dg.AssetExecutionContext, project: ProjectResource, warehouse: WarehouseResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        wh, store = warehouse.client(), lake.client()
        files = source_files(contract, Path(project.project_dir))
        if not files:
            raise dg.Failure(f"{contract.dataset}: no source file matches {contract.source.model_dump().get('path')}")
        ingested = []
        for path in files:
            try:
                record = ingest_file(wh, store, contract, path, run_id=context.run_id, batch_rows=project.batch_size)
            except InputRejected as exc:
                raise dg.Failure(str(exc), allow_retries=False) from None
            ingested.append(record)
            context.log.info(
                f"{contract.dataset}: {path.name} {record.status} ({record.rows_bronze} rows, sha256 {record.sha256[:12]})"
            )
        keys = selected_partition_keys(context)
        rows = bronze_row_counts(wh, contract, keys)
        new = [r for r in ingested if r.status == "accepted"]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "files_seen": len(ingested),
                "files_ingested": len(new),
                "rows_appended": sum(r.rows_bronze for r in new),
                "schema_version": contract.schema_version,
                "ingestions": dg.MetadataValue.json(
                    [{"file": r.file, "sha256": r.sha256, "status": r.status, "rows": r.rows_bronze} for r in ingested]
                ),
            }
        )

    return _bronze


def bronze_definitions(contracts: list[Contract]) -> dg.Definitions:
    return dg.Definitions(assets=[build_bronze_asset(c) for c in contracts])
