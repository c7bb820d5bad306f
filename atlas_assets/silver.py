"""Silver assets: typed, validated, deduplicated rows of each contract's dataset."""

import dagster as dg
from psycopg import sql

from atlas_assets.bronze import bronze_key
from atlas_assets.metadata import column_schema, preview
from atlas_assets.partitions import partitions_for, selected_partition_keys
from atlas_assets.pii import free_text_metadata, pii_hidden_columns, pii_metadata, pii_stage
from atlas_assets.policies import contract_asset_options
from atlas_assets.quality_checks import QualityGate, quality_check_specs, referenced_datasets
from atlas_assets.steps import atlas_step
from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_engine.anomalies import quality_trend, trend_metadata
from atlas_engine.profiling import null_counts
from atlas_engine.silver import QualityGateFailed, build_silver
from atlas_resources.resources import LakeResource, PiiResource, WarehouseResource


def silver_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey([layout.Layer.SILVER.value, dataset])


def hidden_columns(contract: Contract) -> set[str]:
    return set(contract.declared_pii_columns)


def build_silver_asset(contract: Contract, trend_loads: int = 10) -> dg.AssetsDefinition:
    partitions = partitions_for(contract)

    @dg.asset(
        key=silver_key(contract.dataset),
        deps=[bronze_key(contract.dataset), *(silver_key(d) for d in referenced_datasets(contract))],
        check_specs=quality_check_specs(contract, silver_key(contract.dataset)),
        group_name="silver",
        description=(
            f"`{contract.dataset}` typed by its contract, validated row by row and deduplicated on "
            f"{contract.primary_key or 'nothing'}; failing rows go to atlas_quarantine.{contract.dataset}. "
            f"Also written as Parquet to atlas-silver/{contract.dataset}/."
        ),
        **contract_asset_options(contract, partitions, layout.Layer.SILVER),
        metadata={
            "dagster/table_name": f"atlas_silver.{contract.dataset}",
            "atlas/layer": "silver",
            **free_text_metadata(contract),
        },
    )
    @atlas_step
    def _silver(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, lake: LakeResource, pii: PiiResource
    ) -> dg.MaterializeResult:
        wh = warehouse.client()
        stage = pii_stage(pii, wh, lake, contract)  # anonymizes what silver publishes (docs/pii.md)
        keys = selected_partition_keys(context)
        quality = QualityGate(wh, contract, silver_key(contract.dataset))
        try:
            result = build_silver(
                wh,
                lake.client(),
                contract,
                keys,
                run_id=context.run_id,
                on_staged=quality,
                scan_staged=quality.scan,
                transform_factory=stage,
                digest=pii.keyring().hmac_hex,
            )
        except QualityGateFailed as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        context.log.info(
            f"{contract.dataset}: {result.rows_in} rows in, {result.rows_silver} to silver, "
            f"{result.rows_quarantined} quarantined"
        )
        assert result.schema is not None
        where = sql.SQL("{} = ANY(%s)").format(sql.Identifier(layout.PARTITION))
        check_results = quality.check_results(context)  # records this load's scores: the trend ends with them
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows_silver,
                "dagster/column_schema": column_schema(result.schema),
                "null_counts": dg.MetadataValue.json(
                    null_counts(
                        wh,
                        (layout.Layer.SILVER.schema, contract.dataset),
                        [f.name for f in result.schema if not f.name.startswith("_atlas_")],
                        where,
                        (result.partitions,),
                    )
                ),
                "rows_in": result.rows_in,
                "rows_quarantined": result.rows_quarantined,
                "rule_failures": dg.MetadataValue.json(result.rule_failures),
                "standardized_cells": dg.MetadataValue.json(result.standardized),
                "repaired_cells": dg.MetadataValue.json(result.repaired_cells),
                **{f"score/{d}": float(s) for d, s in result.dimension_scores().items()},
                # Per dimension, the scores of the last loads (this one last) and their trailing median.
                "quality/trend": dg.MetadataValue.json(
                    trend_metadata(quality_trend(wh, contract.dataset, trend_loads, context.run_id))
                ),
                "preview": preview(
                    wh,
                    (layout.Layer.SILVER.schema, contract.dataset),
                    result.schema,
                    hidden_columns(contract) | pii_hidden_columns(stage),
                    where,
                    (result.partitions,),
                ),
                **pii_metadata(stage, wh, contract, result.partitions, context.run_id),
            },
            check_results=check_results,
        )

    return _silver


def silver_definitions(contracts: list[Contract], trend_loads: int = 10) -> dg.Definitions:
    return dg.Definitions(assets=[build_silver_asset(c, trend_loads) for c in contracts])
