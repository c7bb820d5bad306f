"""Gold assets generated from SQL models (``models/gold/*.sql``): one asset per model, its tests as checks.

A model's tests run inside the model's transaction (write-audit-publish). A failing ``error`` test
is a failed blocking check: nothing is published, no materialization is recorded, and downstream
assets of the run are skipped. ``warn`` tests are reported and never block.
"""

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa

from atlas_assets.metadata import preview
from atlas_assets.partitions import backfill_policy_for, partitions_for
from atlas_assets.policies import layer_policies
from atlas_assets.silver import silver_key
from atlas_assets.steps import atlas_step
from atlas_core.contracts import Contract
from atlas_core.errors import ContractError
from atlas_core.layout import Layer
from atlas_core.sql_models import SqlModel, lineage_code_versions
from atlas_engine.gold import CheckOutcome, ModelRun, run_model
from atlas_engine.gold_lake import exclusive_publish, export_model
from atlas_resources.resources import LakeResource, WarehouseResource


def gold_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([Layer.GOLD.value, name])


def layer_key(layer: str, table: str) -> dg.AssetKey:
    return silver_key(table) if layer == "silver" else gold_key(table)


def _table_schema(wh_columns: dict[str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, dtype) for name, dtype in wh_columns.items()])


def check_specs(model: SqlModel) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            c.name,
            asset=gold_key(model.name),
            description=f"{c.description} ({c.severity})",
            blocking=c.blocking,
        )
        for c in model.checks()
    ]


def check_result(model: SqlModel, outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=gold_key(model.name),
        check_name=outcome.check.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.check.blocking else dg.AssetCheckSeverity.WARN,
        metadata={"failing": outcome.failing, "checked": outcome.checked, "kind": outcome.check.kind},
    )


def _rule_metadata(run: ModelRun) -> dict[str, Any]:
    metadata: dict[str, Any] = {f"rule/{r.rule.name}": r.hits for r in run.rules}
    if run.rules:
        metadata["rules"] = dg.MetadataValue.json({r.rule.name: r.summary() for r in run.rules})
    return metadata


def _covers_all_partitions(context: dg.AssetExecutionContext) -> bool:
    pdef = context.assets_def.partitions_def
    if pdef is None:
        return False
    keys = pdef.get_partition_keys()
    selected = context.partition_key_range
    return bool(keys) and selected.start == keys[0] and selected.end == keys[-1]


def build_gold_asset(
    model: SqlModel, partitions: dg.PartitionsDefinition | None, pii_names: set[str], code_version: str
) -> dg.AssetsDefinition:
    deps = [layer_key(layer, t) for layer, t in model.all_refs if (layer, t) != ("gold", model.name)]
    rules = "; ".join(f"{r.name} ({r.kind}, {r.owner}): {r.description}" for r in model.rules)

    @dg.asset(
        key=gold_key(model.name),
        deps=deps,
        group_name="gold",
        description=model.header.description
        + (f"\n\nBusiness rules: {rules}" if rules else "")
        + f"\n\nAlso written as Parquet to atlas-gold/{model.name}/"
        + (" (one object per day)." if model.incremental else "."),
        partitions_def=partitions if model.incremental else None,
        backfill_policy=backfill_policy_for(partitions) if model.incremental else None,
        code_version=code_version,
        kinds={"postgres", "sql", "parquet"},
        **layer_policies(Layer.GOLD),
        owners=[f"team:{o}" for o in model.header.owners] or None,
        check_specs=check_specs(model),
        output_required=False,
        metadata={
            "dagster/table_name": f"atlas_gold.{model.name}",
            "atlas/layer": "gold",
            "model": model.path,
        },
    )
    @atlas_step
    def _gold(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, lake: LakeResource
    ) -> Iterator[object]:
        """Build, test and publish the model (its partition window) in one transaction, then write the
        published table (each day of the window) as Parquet to atlas-gold."""
        wh = warehouse.client()
        window: tuple[date, date] | None = None
        if model.incremental:
            tw = context.partition_time_window
            window = (tw.start.date(), tw.end.date())
        lake_client = lake.client()
        with exclusive_publish(wh, model.name):  # the lake ends with the build that committed last
            run = run_model(
                wh,
                model,
                window,
                rebuild=model.incremental and _covers_all_partitions(context),
                run_id=context.run_id,
            )
            lake_objects = export_model(wh, lake_client, model, window) if run.published else []
        results = [check_result(model, c) for c in run.checks]
        if not run.published:
            yield from results  # recorded as failed blocking checks
            failed = ", ".join(f"{c.check.name} ({c.failing} failing)" for c in run.blocking_failures)
            raise dg.Failure(
                f"gold.{model.name}: blocking tests failed: {failed}; nothing published", allow_retries=False
            )
        columns = wh.column_types((Layer.GOLD.schema, model.name))
        schema = pa.schema([pa.field(name, pa.string()) for name in columns])
        context.log.info(f"gold.{model.name}: {run.rows} rows written")
        metadata: dict[str, Any] = {
            "dagster/row_count": run.rows,
            "dagster/column_schema": _table_schema(columns),
            "preview": preview(wh, (Layer.GOLD.schema, model.name), schema, pii_names),
            "lake_objects": len(lake_objects),
            "lake_uri": lake_client.uri(Layer.GOLD.bucket, f"{model.name}/"),
            **_rule_metadata(run),
        }
        if run.fingerprint:
            metadata["fingerprint"] = run.fingerprint
        if run.rebuilt:
            metadata["rebuilt"] = True
        yield dg.MaterializeResult(metadata=metadata, check_results=results)

    return _gold


def gold_definitions(models: list[SqlModel], contracts: list[Contract]) -> dg.Definitions:
    by_dataset = {c.dataset: c for c in contracts}
    pii_names = {name for c in contracts for name in c.declared_pii_columns}
    partitions: dict[str, dg.PartitionsDefinition | None] = {}
    versions = lineage_code_versions(models)
    assets = []
    for model in models:  # load_models returns them in dependency order
        inherited: dg.PartitionsDefinition | None = None
        for layer, table in model.refs:
            if layer == "silver":
                if table not in by_dataset:
                    raise ContractError(
                        f"{model.path}: reads atlas_silver.{table}, which no contract declares"
                    )
                upstream: dg.PartitionsDefinition | None = partitions_for(by_dataset[table])
            else:
                upstream = partitions[table]
            inherited = inherited or upstream
        for layer, table in model.test_refs:
            if layer == "silver" and table not in by_dataset:
                raise ContractError(
                    f"{model.path}: a test reads atlas_silver.{table}, which no contract declares"
                )
        if model.incremental and inherited is None:
            raise ContractError(f"{model.path}: incremental models must read partitioned data")
        partitions[model.name] = inherited if model.incremental else None
        assets.append(build_gold_asset(model, inherited, pii_names, versions[model.name]))
    return dg.Definitions(assets=assets)
