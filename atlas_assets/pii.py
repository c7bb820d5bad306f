"""PII in Dagster: the silver assets' PII stage and report, and the ``pii_drift`` asset checks.

Everything that reaches Dagster from here is a column name, an entity name, a strategy, a
confidence or a count: never a value (docs/pii.md, "Leak boundary").
"""

import re
from collections.abc import Sequence

import dagster as dg

from atlas_assets.policies import check_policies
from atlas_core.contracts import ColumnType, Contract
from atlas_core.errors import ContractError
from atlas_core.sql_models import SqlModel
from atlas_engine.pii import PiiStage, latest_report, pii_drift, record_report
from atlas_resources.resources import LakeResource, PiiResource, WarehouseResource
from atlas_resources.warehouse import Warehouse

PII_DRIFT_CHECK = "pii_drift"
FREE_TEXT = "atlas/pii_free_text"
"""Metadata of a silver asset whose contract has free-text PII columns (every load runs the analyzer)."""


def _silver_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(["silver", dataset])


def enumerated_values(contract: Contract) -> set[str]:
    """The values a contract lists for its string columns (``allowed_values``): contract text, not data."""
    return {
        value
        for column in contract.columns
        if column.type == ColumnType.STRING and column.allowed_values
        for value in column.allowed_values
        if isinstance(value, str)
    }


def free_text_metadata(contract: Contract) -> dict[str, bool]:
    return {FREE_TEXT: True} if any(c.pii and c.pii.free_text for c in contract.columns) else {}


def preload_analyzer(defs: dg.Definitions, keys: Sequence[dg.AssetKey]) -> None:
    """Start the PII analyzer processes when a selected asset analyzes free text: they load Presidio
    while the run starts and its first steps (bronze) execute (``atlas_resources.analyzer_process``)."""
    pii = (defs.resources or {}).get("pii")
    if isinstance(pii, PiiResource) and any(
        defs.get_assets_def(key).metadata_by_key.get(key, {}).get(FREE_TEXT) for key in keys
    ):
        pii.preload()


def pii_stage(pii: PiiResource, wh: Warehouse, lake: LakeResource, contract: Contract) -> PiiStage:
    """The transform factory handed to ``build_silver`` (classifies the staged load, then anonymizes)."""
    engine = pii.engine(public_texts=enumerated_values(contract))
    return PiiStage(wh, lake.client(), contract, engine, pii.keyring(), pii.sample_size)


def pii_hidden_columns(stage: PiiStage) -> set[str]:
    """Columns kept out of previews: everything the policy classified as PII."""
    return set(stage.policy.pii_columns) if stage.policy is not None else set()


def pii_metadata(
    stage: PiiStage, wh: Warehouse, contract: Contract, partitions: Sequence[str], run_id: str
) -> dict[str, dg.MetadataValue]:
    """Record the PII report of this load and return it as materialization metadata."""
    columns = stage.report
    report_id = record_report(wh, contract.dataset, partitions, run_id, columns)
    pii_columns = {name: c["entity"] for name, c in columns.items() if c.get("entity") and c.get("strategy")}
    return {
        "pii/report": dg.MetadataValue.json(columns),
        "pii/columns": dg.MetadataValue.json(pii_columns),
        "pii/report_id": dg.MetadataValue.int(report_id),
        "pii/erased_rows": dg.MetadataValue.int(stage.erased_rows),
    }


def build_pii_drift_check(contract: Contract) -> dg.AssetChecksDefinition:
    severity = (
        dg.AssetCheckSeverity.ERROR if contract.pii.drift_severity == "error" else dg.AssetCheckSeverity.WARN
    )

    @dg.asset_check(
        asset=_silver_key(contract.dataset),
        name=PII_DRIFT_CHECK,
        blocking=False,
        **check_policies(),
        description=(
            f"Fails ({severity.value}) when the latest PII report of `{contract.dataset}` detects PII in a "
            "column the contract neither declares (`pii: {entity: ...}`) nor opts out (`pii: false`)."
        ),
    )
    def _pii_drift(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        wh = warehouse.client()
        report = latest_report(wh, contract.dataset, context.run.run_id) or latest_report(
            wh, contract.dataset
        )
        if report is None:
            return dg.AssetCheckResult(
                passed=True, severity=severity, metadata={"reason": "no PII report yet (silver not built)"}
            )
        drift = pii_drift(contract, report["columns"])
        return dg.AssetCheckResult(
            passed=not drift,
            severity=severity,
            metadata={
                "undeclared_pii": dg.MetadataValue.json(drift),
                "report_id": dg.MetadataValue.int(int(report["report_id"])),
                "columns_checked": len(report["columns"]),
            },
        )

    return _pii_drift


def check_consent_filters(contracts: list[Contract], models: list[SqlModel]) -> None:
    """Every gold model reading a silver dataset with a consent column must filter on that column.

    Rows without consent never reach gold (and therefore ai_ready, which reads gold only); a model
    that forgets the filter is refused when the definitions load.
    """
    consent = {c.dataset: c.pii.consent_column for c in contracts if c.pii.consent_column}
    for model in models:
        for layer, table in model.refs:
            column = consent.get(table) if layer == "silver" else None
            if column and not re.search(rf"\b{re.escape(column)}\b\s+IS\s+TRUE\b", model.sql, re.IGNORECASE):
                raise ContractError(
                    f"{model.path}: reads atlas_silver.{table}, whose contract names a consent column; "
                    f"filter with '{column} IS TRUE' (docs/pii.md, consent)"
                )


def pii_definitions(contracts: list[Contract], models: Sequence[SqlModel] = ()) -> dg.Definitions:
    check_consent_filters(contracts, list(models))
    return dg.Definitions(asset_checks=[build_pii_drift_check(c) for c in contracts])
