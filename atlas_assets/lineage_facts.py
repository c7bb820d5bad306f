"""What one Dagster run tells OpenLineage: the facts of the run and of each asset step and check, read
from the run's event log (:class:`RunLog`), with dataset names (:class:`DatasetNaming`) and column
lineage from the contracts, models and feature sets (:class:`LineageCatalog`). :mod:`atlas_assets.lineage`
turns them into events as runs progress."""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg

from atlas_assets.run_log import RunLog, StepRecord
from atlas_core.column_lineage import DerivedColumn, feature_set_column_lineage, model_column_lineage
from atlas_core.contracts import Contract
from atlas_core.contracts.sources import FileSource, HttpSource, LandingSource, PostgresSource
from atlas_core.features.spec import FeatureSetSpec
from atlas_core.layout import LAYERS, Layer
from atlas_core.lineage import (
    Assertion,
    DatasetRef,
    OutputFacts,
    StepFacts,
    derived_column_lineage,
    silver_column_lineage,
)
from atlas_core.logs import get_logger
from atlas_core.run_tags import RANGE_END, RANGE_START
from atlas_core.sql_models import SqlModel
from atlas_resources import pgurl
from atlas_resources.lake import Lake, LocalLake

log = get_logger("atlas.lineage")

LAYER_NAMES = {layer.value for layer in LAYERS}


@dataclass
class DatasetNaming:
    """OpenLineage dataset names: ``postgres://host:port`` + ``db.schema.table``; the lake as ``s3://bucket``
    or ``file`` + path; sources by their kind."""

    postgres_namespace: str
    database: str
    lake_kind: str  # "s3" or "file"
    lake_root: str = ""
    project_dir: str = "."

    @classmethod
    def create(cls, postgres_url: str, lake: Lake, project_dir: str) -> "DatasetNaming":
        if isinstance(lake, LocalLake):
            return cls(
                postgres_namespace(postgres_url),
                pgurl.database_of(postgres_url),
                "file",
                str(lake.root),
                project_dir,
            )
        return cls(postgres_namespace(postgres_url), pgurl.database_of(postgres_url), "s3", "", project_dir)

    def table(self, schema: str, table: str) -> DatasetRef:
        return DatasetRef(self.postgres_namespace, f"{self.database}.{schema}.{table}")

    def asset(self, key: dg.AssetKey) -> DatasetRef:
        if len(key.path) == 2 and key.path[0] in LAYER_NAMES:
            return self.table(Layer(key.path[0]).schema, key.path[1])
        return DatasetRef("dagster", key.to_user_string())

    def qualified(self, schema_table: str) -> DatasetRef:
        """``atlas_silver.orders`` (as SQL names it) → the warehouse table's dataset."""
        schema, _, table = schema_table.rpartition(".")
        return self.table(schema or "public", table)

    def lake(self, bucket: str, path: str) -> DatasetRef:
        if self.lake_kind == "s3":
            return DatasetRef(f"s3://{bucket}", path)
        return DatasetRef("file", f"{self.lake_root.rstrip('/')}/{bucket}/{path}")

    def source(self, contract: Contract) -> DatasetRef:
        source = contract.source
        if isinstance(source, FileSource):
            path = (
                source.path if Path(source.path).is_absolute() else str(Path(self.project_dir) / source.path)
            )
            return DatasetRef("file", path)
        if isinstance(source, LandingSource):
            return self.lake(
                Layer.BRONZE.bucket, (source.prefix or f"landing/{contract.dataset}/").rstrip("/")
            )
        if isinstance(source, PostgresSource):
            return DatasetRef(f"postgres://{source.url_env}", source.table or f"query:{contract.dataset}")
        assert isinstance(source, HttpSource)
        parts = urlsplit(source.url)
        return DatasetRef(f"{parts.scheme}://{parts.netloc}", parts.path or "/")


def postgres_namespace(url: str) -> str:
    host = pgurl.describe_host(url)
    name, _, port = host.rpartition(":")
    if name.startswith("/"):  # a Unix socket: the server is local
        name = "localhost"
    return f"postgres://{name}:{port}"


def _metadata_facts(output: OutputFacts, materializations: list) -> None:
    """Schema, row count and null counts from the step's materialization metadata (names and counts only)."""
    for materialization in materializations:
        metadata = materialization.metadata or {}
        schema = metadata.get("dagster/column_schema")
        if isinstance(schema, dg.TableSchemaMetadataValue) and not output.columns:
            output.columns = [(c.name, c.type) for c in schema.schema.columns]
        rows = metadata.get("dagster/row_count")
        if isinstance(rows, dg.IntMetadataValue) and rows.value is not None and output.row_count is None:
            output.row_count = int(rows.value)
        nulls = metadata.get("null_counts")
        if (
            isinstance(nulls, dg.JsonMetadataValue)
            and isinstance(nulls.data, dict)
            and not output.null_counts
        ):
            output.null_counts = {str(k): int(v) for k, v in nulls.data.items() if isinstance(v, int)}


def _nominal(run: dg.DagsterRun, pdef: dg.PartitionsDefinition | None) -> tuple[datetime, datetime] | None:
    if not isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        return None
    first = run.tags.get("dagster/partition") or run.tags.get(RANGE_START)
    last = run.tags.get("dagster/partition") or run.tags.get(RANGE_END)
    if not first or not last:
        return None
    try:
        return (
            pdef.time_window_for_partition_key(first).start.astimezone(UTC),
            pdef.time_window_for_partition_key(last).end.astimezone(UTC),
        )
    except Exception:
        return None


def _op_assets(graph: object) -> dict[str, list[dg.AssetKey]]:
    by_op: dict[str, list[dg.AssetKey]] = defaultdict(list)
    for key in graph.get_all_asset_keys():  # type: ignore[attr-defined]
        node = graph.get(key)  # type: ignore[attr-defined]
        assets_def = getattr(node, "assets_def", None)
        if assets_def is not None and node.is_materializable:
            by_op[assets_def.node_def.name].append(key)
    return by_op


@dataclass
class LineageCatalog:
    """What column lineage is derived from: contracts (silver), SQL models (gold), feature sets (ai_ready)."""

    contracts: dict[str, Contract] = field(default_factory=dict)
    models: dict[str, SqlModel] = field(default_factory=dict)
    feature_sets: dict[str, FeatureSetSpec] = field(default_factory=dict)
    _gold: dict[str, dict[str, DerivedColumn]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        contracts: list[Contract],
        models: Sequence[SqlModel] = (),
        feature_sets: Sequence[FeatureSetSpec] = (),
    ) -> "LineageCatalog":
        return cls(
            {c.dataset: c for c in contracts}, {m.name: m for m in models}, {f.name: f for f in feature_sets}
        )

    def gold(self, name: str) -> dict[str, DerivedColumn]:
        if name not in self._gold:
            self._gold[name] = model_column_lineage(self.models[name])
        return self._gold[name]


def run_step_facts(
    graph: object,
    run: dg.DagsterRun,
    naming: DatasetNaming,
    catalog: LineageCatalog,
    log: RunLog,
    skip: Collection[str] = (),
) -> list[StepFacts]:
    """Everything one run did so far (``log``, as last read), as OpenLineage job runs: the run itself, one
    per asset step, one per step that ran checks. Steps still running have no outcome (START, maybe
    RUNNING, only). ``skip``: step keys left out (a poller's steps already ended and emitted)."""
    by_op = _op_assets(graph)
    run_ended = run.status in (
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    )
    run_end = (log.run_end or datetime.now(UTC)) if run_ended else None
    facts: list[StepFacts] = [_run_facts(run, log, run_end)] if (log.run_start or run_end) else []
    for step in log.steps.values():
        if step.started is None or step.key in skip:
            continue
        outcome, ended = step.outcome, step.ended
        if outcome is None and run_end is not None:  # cut short by a failed or cancelled run
            outcome, ended = "ABORT", run_end
        keys = by_op.get(step.key) or sorted({m.asset_key for m in step.materializations}, key=str)
        for key in keys:
            node = graph.get(key)  # type: ignore[attr-defined]
            facts.append(_asset_facts(run, step, key, node, naming, catalog, outcome, ended))
        if step.checks:
            facts.append(_check_facts(run, step, keys, naming, outcome, ended))
    return facts


_RUN_OUTCOMES = {
    dg.DagsterRunStatus.SUCCESS: "COMPLETE",
    dg.DagsterRunStatus.FAILURE: "FAIL",
    dg.DagsterRunStatus.CANCELED: "ABORT",
}


def _run_facts(run: dg.DagsterRun, log: RunLog, run_end: datetime | None) -> StepFacts:
    """The Dagster run as the parent job run of its steps (a run cancelled while queued: START and ABORT)."""
    started = log.run_start or run_end or datetime.now(UTC)
    return StepFacts(
        job_name=run.job_name,
        run_key=run.run_id,
        parent_run_id=None,
        parent_job_name=run.job_name,
        started_at=started,
        ended_at=run_end,
        outcome=_RUN_OUTCOMES.get(run.status) if run_end else None,
        job_type="JOB",
        error="run cancelled" if run.status == dg.DagsterRunStatus.CANCELED else None,
    )


def _asset_facts(
    run: dg.DagsterRun,
    step: StepRecord,
    key: dg.AssetKey,
    node: object,
    naming: DatasetNaming,
    catalog: LineageCatalog,
    outcome: str | None,
    ended: datetime | None,
) -> StepFacts:
    assert step.started is not None
    layer, name = (key.path[0], key.path[-1]) if len(key.path) == 2 else ("", key.to_user_string())
    inputs = [naming.asset(parent) for parent in sorted(node.parent_keys, key=str)]  # type: ignore[attr-defined]
    contracts = catalog.contracts
    if layer == Layer.BRONZE.value and name in contracts and contracts[name].source is not None:
        inputs = [naming.source(contracts[name]), *inputs]
    output = OutputFacts(naming.asset(key))
    _metadata_facts(output, [m for m in step.materializations if m.asset_key == key])
    outputs = [output]
    if layer == Layer.SILVER.value and name in contracts:
        bronze = naming.asset(dg.AssetKey([Layer.BRONZE.value, name]))
        output.column_lineage = silver_column_lineage(contracts[name], bronze)
        outputs.append(OutputFacts(naming.lake(Layer.SILVER.bucket, name), columns=list(output.columns)))
    elif layer == Layer.GOLD.value and name in catalog.models:
        output.column_lineage = derived_column_lineage(catalog.gold(name), naming.qualified)
    elif layer == Layer.AI_READY.value and name in catalog.feature_sets:
        columns = [c for c, _ in output.columns]
        output.column_lineage = derived_column_lineage(
            feature_set_column_lineage(catalog.feature_sets[name], columns), naming.qualified
        )
    return _step_facts(
        run,
        step,
        ".".join(key.path),
        key.to_user_string(),
        outcome,
        ended,
        inputs=inputs,
        outputs=outputs,
        nominal=_nominal(run, node.partitions_def),  # type: ignore[attr-defined]
    )


def _check_facts(
    run: dg.DagsterRun,
    step: StepRecord,
    keys: list[dg.AssetKey],
    naming: DatasetNaming,
    outcome: str | None,
    ended: datetime | None,
) -> StepFacts:
    assert step.started is not None
    grouped: dict[DatasetRef, dict[str, Assertion]] = defaultdict(dict)
    for evaluation in step.checks:
        ref = naming.asset(evaluation.asset_key)
        severity = getattr(evaluation.severity, "value", "ERROR")
        current = grouped[ref].get(evaluation.check_name)
        success = bool(evaluation.passed) and (current is None or current.success)
        grouped[ref][evaluation.check_name] = Assertion(evaluation.check_name, success, severity)
    checked = sorted({e.asset_key for e in step.checks}, key=str)
    base = ".".join(keys[0].path) if len(keys) == 1 else ".".join(checked[0].path) if checked else step.key
    return _step_facts(
        run,
        step,
        f"{base}.checks",
        "checks",
        outcome,
        ended,
        job_type="ASSET_CHECK",
        assertions={ref: list(items.values()) for ref, items in grouped.items()},
    )


def _step_facts(
    run: dg.DagsterRun,
    step: StepRecord,
    job_name: str,
    part: str,
    outcome: str | None,
    ended: datetime | None,
    **facts: Any,
) -> StepFacts:
    """One job run of a step (its ``part``: an asset key or ``checks``), child of the Dagster run."""
    assert step.started is not None
    return StepFacts(
        job_name=job_name,
        run_key=f"{run.run_id}:{step.key}:{part}",
        parent_run_id=run.run_id,
        parent_job_name=run.job_name,
        started_at=step.started,
        ended_at=ended,
        outcome=outcome,
        error=step.error,
        **facts,
    )
