"""AI-ready assets generated from feature set files (``models/ai_ready/<name>.yml``): one asset per file."""

import dagster as dg

from atlas_assets.gold import layer_key
from atlas_assets.metadata import column_schema
from atlas_assets.policies import layer_policies
from atlas_assets.steps import atlas_step
from atlas_core.contracts import Contract
from atlas_core.errors import ContractError
from atlas_core.features.spec import FeatureSetSpec
from atlas_core.features.splits import spec_hash
from atlas_core.layout import Layer
from atlas_core.sql_models import SqlModel, lineage_code_versions
from atlas_engine.ai_ready import build_feature_set
from atlas_resources.resources import LakeResource, WarehouseResource


def ai_ready_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([Layer.AI_READY.value, name])


def build_feature_set_asset(spec: FeatureSetSpec, code_version: str) -> dg.AssetsDefinition:
    split = spec.split
    formats = ", ".join(spec.export.formats)

    @dg.asset(
        key=ai_ready_key(spec.name),
        deps=[layer_key(layer, table) for layer, table in spec.refs],
        group_name="ai_ready",
        description=(
            f"{spec.description}\n\nEntity `{spec.entity_key}`, event timestamp `{spec.event_timestamp}` "
            f"(features use only source rows strictly before it). `split` by hashing {spec.entity_key} "
            f"(seed {split.seed}, {split.fractions}); transforms "
            "fitted on train. `version` = hash of content, "
            "spec and upstream fingerprints, recorded in "
            f"atlas_meta.dataset_versions; exported ({formats}) to "
            f"atlas-ai-ready/{spec.name}/<version>/."
        ),
        code_version=code_version,
        kinds={"postgres", "parquet"},
        **layer_policies(Layer.AI_READY),
        owners=[f"team:{o}" for o in spec.owners] or None,
        metadata={
            "dagster/table_name": f"atlas_ai_ready.{spec.name}",
            "atlas/layer": "ai_ready",
            "feature_set": spec.path,
        },
    )
    @atlas_step
    def _feature_set(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        """Compute the features point-in-time, fit on train, version, export and publish."""
        result = build_feature_set(warehouse.client(), lake.client(), spec, run_id=context.run_id)
        context.log.info(
            f"{spec.name}: {result.rows} rows, version {result.version}"
            + (" (export reused)" if result.reused_export else "")
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "dagster/column_schema": column_schema(result.schema),
                "version": result.version,
                "content_hash": result.content_hash,
                "spec_hash": result.spec_hash,
                "upstream": dg.MetadataValue.json(result.upstream),
                "splits": dg.MetadataValue.json(result.split_counts),
                "normalization": dg.MetadataValue.json(result.stats),
                "lake_uri": result.lake_uri or "",
            },
            data_version=dg.DataVersion(result.version),
        )

    return _feature_set


def ai_ready_definitions(
    specs: list[FeatureSetSpec], models: list[SqlModel], contracts: list[Contract]
) -> dg.Definitions:
    known = {("gold", m.name) for m in models} | {("silver", c.dataset) for c in contracts}
    for spec in specs:
        for layer, table in spec.refs:
            if (layer, table) not in known:
                raise ContractError(
                    f"{spec.path}: reads atlas_{layer}.{table}, which no model or contract defines"
                )
    versions = lineage_code_versions(models)
    assets = []
    for spec in specs:
        # The spec and the code lineage of the models it reads: an edited upstream rule makes it stale.
        upstream = sorted(versions[t] for layer, t in spec.refs if layer == "gold")
        assets.append(
            build_feature_set_asset(spec, spec_hash({"spec": spec.spec_hash, "upstream": upstream}))
        )
    return dg.Definitions(assets=assets)
