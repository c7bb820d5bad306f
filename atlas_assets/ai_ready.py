"""AI-ready assets: model-ready feature tables with deterministic splits and content versions."""


import dagster as dg

from atlas_assets.gold import gold_key
from atlas_assets.metadata import column_schema
from atlas_assets.policies import layer_policies
from atlas_core.layout import Layer
from atlas_engine.ai_ready import FRACTIONS, SPLIT_SEED, build_customer_features
from atlas_resources.resources import LakeResource, WarehouseResource


@dg.asset(
    key=dg.AssetKey([Layer.AI_READY.value, "customer_features"]),
    deps=[gold_key("fact_orders"), gold_key("dim_customer")],
    group_name="ai_ready",
    description=(
        "Per-customer recency/frequency/monetary and behaviour features, z-scored with statistics fitted "
        f"on the train split only; `split` is train/validation/test by hashing customer_id (seed {SPLIT_SEED}, "
        f"{FRACTIONS}); `version` is a content hash. Exported to atlas-ai-ready/customer_features/<version>/."
    ),
    kinds={"postgres", "parquet"},
    **layer_policies(Layer.AI_READY),
    metadata={"dagster/table_name": "atlas_ai_ready.customer_features", "atlas/layer": "ai_ready"},
)
def customer_features(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, lake: LakeResource
) -> dg.MaterializeResult:
    result = build_customer_features(warehouse.client(), lake.client())
    context.log.info(f"customer_features: {result.rows} rows, version {result.version}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.rows,
            "dagster/column_schema": column_schema(result.schema),
            "version": result.version,
            "splits": dg.MetadataValue.json(result.split_counts),
            "normalization": dg.MetadataValue.json(result.stats),
            "lake_uri": result.lake_uri or "",
        },
        data_version=dg.DataVersion(result.version),
    )


def ai_ready_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[customer_features])
