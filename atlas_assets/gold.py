"""Gold assets generated from SQL models (``models/gold/*.sql``)."""


from datetime import date

import dagster as dg
import pyarrow as pa

from atlas_assets.metadata import preview
from atlas_assets.partitions import backfill_policy_for, partitions_for
from atlas_assets.policies import layer_policies
from atlas_assets.silver import silver_key
from atlas_core.contracts import Contract
from atlas_core.errors import ContractError
from atlas_core.layout import Layer
from atlas_core.models import SqlModel
from atlas_engine.gold import run_model
from atlas_resources.resources import WarehouseResource


def gold_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([Layer.GOLD.value, name])


def _topological(models: list[SqlModel]) -> list[SqlModel]:
    by_name = {m.name: m for m in models}
    ordered: list[SqlModel] = []
    state: dict[str, str] = {}

    def visit(model: SqlModel, chain: list[str]) -> None:
        if state.get(model.name) == "done":
            return
        if state.get(model.name) == "visiting":
            raise ContractError(f"{model.path}: dependency cycle {' -> '.join([*chain, model.name])}")
        state[model.name] = "visiting"
        for layer, table in model.refs:
            if layer == "gold":
                visit(by_name[table], [*chain, model.name])
        state[model.name] = "done"
        ordered.append(model)

    for model in models:
        visit(model, [])
    return ordered


def _table_schema(wh_columns: list[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, dtype) for name, dtype in wh_columns])


def build_gold_asset(
    model: SqlModel, partitions: dg.PartitionsDefinition | None, pii_names: set[str]
) -> dg.AssetsDefinition:
    deps = [silver_key(t) if layer == "silver" else gold_key(t) for layer, t in model.refs]

    @dg.asset(
        key=gold_key(model.name),
        deps=deps,
        group_name="gold",
        description=model.header.description,
        partitions_def=partitions if model.incremental else None,
        backfill_policy=backfill_policy_for(partitions) if model.incremental else None,
        code_version=model.code_version,
        kinds={"postgres", "sql"},
        **layer_policies(Layer.GOLD),
        owners=[f"team:{o}" for o in model.header.owners] or None,
        metadata={"dagster/table_name": f"atlas_gold.{model.name}", "atlas/layer": "gold", "model": model.path},
    )
    def _gold(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        wh = warehouse.client()
        window: tuple[date, date] | None = None
        if model.incremental:
            tw = context.partition_time_window
            window = (tw.start.date(), tw.end.date())
        rows = run_model(wh, model, window)
        columns = wh.fetch_all(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (Layer.GOLD.schema, model.name),
        )
        schema = pa.schema([pa.field(name, pa.string()) for name, _ in columns])
        context.log.info(f"gold.{model.name}: {rows} rows written")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": _table_schema(columns),
                "preview": preview(wh, (Layer.GOLD.schema, model.name), schema, pii_names),
            }
        )

    return _gold


def gold_definitions(models: list[SqlModel], contracts: list[Contract]) -> dg.Definitions:
    by_dataset = {c.dataset: c for c in contracts}
    pii_names = {name for c in contracts for name in c.declared_pii_columns}
    partitions: dict[str, dg.PartitionsDefinition | None] = {}
    assets = []
    for model in _topological(models):
        inherited: dg.PartitionsDefinition | None = None
        for layer, table in model.refs:
            if layer == "silver":
                if table not in by_dataset:
                    raise ContractError(f"{model.path}: reads atlas_silver.{table}, which no contract declares")
                upstream: dg.PartitionsDefinition | None = partitions_for(by_dataset[table])
            else:
                upstream = partitions[table]
            inherited = inherited or upstream
        if model.incremental and inherited is None:
            raise ContractError(f"{model.path}: incremental models must read partitioned data")
        partitions[model.name] = inherited if model.incremental else None
        assets.append(build_gold_asset(model, inherited, pii_names))
    return dg.Definitions(assets=assets)
