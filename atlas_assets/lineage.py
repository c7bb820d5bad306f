"""OpenLineage for every asset step, replayed from a run's Dagster events (no asset code involved).

STEP_START → START; ASSET_MATERIALIZATION + STEP_SUCCESS → COMPLETE with the outputs' ``schema``
(``dagster/column_schema``), ``columnLineage`` (silver: from the contract's PII declarations,
identity vs masked), ``dataQualityMetrics`` (``dagster/row_count``, ``null_counts``); STEP_FAILURE →
FAIL; steps cut short by a failed or cancelled run → ABORT; steps longer than a threshold also get
a RUNNING event. ASSET_CHECK_EVALUATION → a ``<asset>.checks`` job whose input carries
``dataQualityAssertions``. Inputs are the upstream assets of the asset graph (bronze: its source).
``parent`` is the Dagster run, ``nominalTime`` the partition window.

Emitted by ``atlas_lineage`` (a sensor tailing finished runs, for daemon-launched runs) and by the
CLI right after in-process runs; a run is tagged ``atlas/lineage`` once emitted, so never twice.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg

from atlas_assets.runs_tail import FINISHED, finished_runs
from atlas_core.contracts import Contract
from atlas_core.contracts.model import FileSource, HttpSource, LandingSource, PostgresSource
from atlas_core.layout import LAYERS, Layer
from atlas_core.lineage import (
    Assertion,
    DatasetRef,
    OutputFacts,
    StepFacts,
    build_events,
    silver_column_lineage,
)
from atlas_engine.lineage import EmissionStats, LineageEmitter
from atlas_resources import pgurl
from atlas_resources.lake import Lake, LocalLake
from atlas_resources.resources import LakeResource, LineageResource, ProjectResource, WarehouseResource

LINEAGE_TAG = "atlas/lineage"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
_EVENTS = {
    dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_CANCELED,
}
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
            return cls(postgres_namespace(postgres_url), pgurl.database_of(postgres_url), "file", str(lake.root),
                       project_dir)
        return cls(postgres_namespace(postgres_url), pgurl.database_of(postgres_url), "s3", "", project_dir)

    def table(self, schema: str, table: str) -> DatasetRef:
        return DatasetRef(self.postgres_namespace, f"{self.database}.{schema}.{table}")

    def asset(self, key: dg.AssetKey) -> DatasetRef:
        if len(key.path) == 2 and key.path[0] in LAYER_NAMES:
            return self.table(Layer(key.path[0]).schema, key.path[1])
        return DatasetRef("dagster", key.to_user_string())

    def lake(self, bucket: str, path: str) -> DatasetRef:
        if self.lake_kind == "s3":
            return DatasetRef(f"s3://{bucket}", path)
        return DatasetRef("file", f"{self.lake_root.rstrip('/')}/{bucket}/{path}")

    def source(self, contract: Contract) -> DatasetRef:
        source = contract.source
        if isinstance(source, FileSource):
            path = source.path if Path(source.path).is_absolute() else str(Path(self.project_dir) / source.path)
            return DatasetRef("file", path)
        if isinstance(source, LandingSource):
            return self.lake(Layer.BRONZE.bucket, (source.prefix or f"landing/{contract.dataset}/").rstrip("/"))
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


@dataclass
class _Step:
    key: str
    started: datetime | None = None
    ended: datetime | None = None
    outcome: str | None = None
    error: str | None = None
    materializations: list = field(default_factory=list)
    checks: list = field(default_factory=list)


def _when(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _read_steps(instance: dg.DagsterInstance, run_id: str) -> tuple[dict[str, _Step], datetime | None]:
    steps: dict[str, _Step] = {}
    run_end: datetime | None = None
    cursor = None
    while True:
        conn = instance.get_records_for_run(run_id, cursor=cursor, of_type=_EVENTS, limit=1000)
        for record in conn.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type
            if kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_CANCELED):
                run_end = _when(entry.timestamp)
                continue
            if not entry.step_key:
                continue
            step = steps.setdefault(entry.step_key, _Step(entry.step_key))
            if kind == dg.DagsterEventType.STEP_START:
                step.started = step.started or _when(entry.timestamp)
            elif kind == dg.DagsterEventType.STEP_SUCCESS:
                step.ended, step.outcome = _when(entry.timestamp), "COMPLETE"
            elif kind == dg.DagsterEventType.STEP_FAILURE:
                step.ended, step.outcome = _when(entry.timestamp), "FAIL"
                error = getattr(event.event_specific_data, "error", None)
                lines = (error.message if error is not None else "step failed").strip().splitlines()
                step.error = lines[0] if lines else "step failed"
            elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
                step.materializations.append(event.event_specific_data.materialization)  # type: ignore[union-attr]
            elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                step.checks.append(event.event_specific_data)
        cursor = conn.cursor
        if not conn.has_more:
            break
    return steps, run_end


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
        if isinstance(nulls, dg.JsonMetadataValue) and isinstance(nulls.data, dict) and not output.null_counts:
            output.null_counts = {str(k): int(v) for k, v in nulls.data.items() if isinstance(v, int)}


def _nominal(run: dg.DagsterRun, pdef: dg.PartitionsDefinition | None) -> tuple[datetime, datetime] | None:
    if not isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        return None
    first = run.tags.get("dagster/partition") or run.tags.get(RANGE_START)
    last = run.tags.get("dagster/partition") or run.tags.get(RANGE_END)
    if not first or not last:
        return None
    try:
        return (pdef.time_window_for_partition_key(first).start.astimezone(UTC),
                pdef.time_window_for_partition_key(last).end.astimezone(UTC))
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


def run_step_facts(
    instance: dg.DagsterInstance, graph: object, run: dg.DagsterRun, naming: DatasetNaming,
    contracts: dict[str, Contract],
) -> list[StepFacts]:
    """Everything one run did, as OpenLineage job runs (one per asset step, one per step that ran checks)."""
    steps, run_end = _read_steps(instance, run.run_id)
    by_op = _op_assets(graph)
    run_failed = run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    facts: list[StepFacts] = []
    for step in steps.values():
        if step.started is None:
            continue
        outcome, ended = step.outcome, step.ended
        if outcome is None and run_failed:
            outcome, ended = "ABORT", run_end or datetime.now(UTC)
        keys = by_op.get(step.key) or sorted({m.asset_key for m in step.materializations}, key=str)
        for key in keys:
            node = graph.get(key)  # type: ignore[attr-defined]
            facts.append(_asset_facts(run, step, key, node, naming, contracts, outcome, ended))
        if step.checks:
            facts.append(_check_facts(run, step, keys, naming, outcome, ended))
    return facts


def _asset_facts(
    run: dg.DagsterRun, step: _Step, key: dg.AssetKey, node: object, naming: DatasetNaming,
    contracts: dict[str, Contract], outcome: str | None, ended: datetime | None,
) -> StepFacts:
    assert step.started is not None
    layer, name = (key.path[0], key.path[-1]) if len(key.path) == 2 else ("", key.to_user_string())
    inputs = [naming.asset(parent) for parent in sorted(node.parent_keys, key=str)]  # type: ignore[attr-defined]
    if layer == Layer.BRONZE.value and name in contracts and contracts[name].source is not None:
        inputs = [naming.source(contracts[name]), *inputs]
    output = OutputFacts(naming.asset(key))
    _metadata_facts(output, [m for m in step.materializations if m.asset_key == key])
    outputs = [output]
    if layer == Layer.SILVER.value and name in contracts:
        bronze = naming.asset(dg.AssetKey([Layer.BRONZE.value, name]))
        output.column_lineage = silver_column_lineage(contracts[name], bronze)
        outputs.append(OutputFacts(naming.lake(Layer.SILVER.bucket, name), columns=list(output.columns)))
    return StepFacts(
        job_name=".".join(key.path), run_key=f"{run.run_id}:{step.key}:{key.to_user_string()}",
        parent_run_id=run.run_id, parent_job_name=run.job_name, started_at=step.started, ended_at=ended,
        outcome=outcome, inputs=inputs, outputs=outputs,
        nominal=_nominal(run, node.partitions_def),  # type: ignore[attr-defined]
        error=step.error,
    )


def _check_facts(
    run: dg.DagsterRun, step: _Step, keys: list[dg.AssetKey], naming: DatasetNaming, outcome: str | None,
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
    return StepFacts(
        job_name=f"{base}.checks", run_key=f"{run.run_id}:{step.key}:checks", parent_run_id=run.run_id,
        parent_job_name=run.job_name, started_at=step.started, ended_at=ended,
        outcome="FAIL" if outcome == "FAIL" else outcome, job_type="ASSET_CHECK",
        assertions={ref: list(items.values()) for ref, items in grouped.items()}, error=step.error,
    )


@dataclass
class LineageConfig:
    namespace: str = "atlas"
    url: str | None = None
    file: str | None = None
    timeout_seconds: float = 5.0
    budget_seconds: float = 30.0
    running_after_seconds: float = 60.0


def run_events(instance: dg.DagsterInstance, graph: object, run_id: str, naming: DatasetNaming,
               contracts: dict[str, Contract], config: LineageConfig) -> list:
    run = instance.get_run_by_id(run_id)
    if run is None:
        return []
    events = []
    for facts in run_step_facts(instance, graph, run, naming, contracts):
        events.extend(build_events(facts, namespace=config.namespace, dagster_version=dg.__version__,
                                   running_after=timedelta(seconds=config.running_after_seconds)))
    return sorted(events, key=lambda e: e.eventTime)


def emit_run_lineage(
    instance: dg.DagsterInstance, graph: object, run_id: str, naming: DatasetNaming,
    contracts: dict[str, Contract], config: LineageConfig,
) -> EmissionStats:
    """Emit a finished run's events once (the run is tagged); never raises."""
    stats = EmissionStats()
    try:
        run = instance.get_run_by_id(run_id)
        if run is None or run.tags.get(LINEAGE_TAG):
            return stats
        events = run_events(instance, graph, run_id, naming, contracts, config)
        emitter = LineageEmitter.configured(config.url, config.file, timeout=config.timeout_seconds,
                                            budget_seconds=config.budget_seconds)
        stats = emitter.emit(events)
        instance.add_run_tags(run_id, {LINEAGE_TAG: f"{stats.emitted} emitted, {stats.failed + stats.skipped} failed"})
    except Exception as exc:  # lineage never fails a pipeline
        from atlas_core.logs import get_logger
        from atlas_core.transient import one_line

        get_logger("atlas.lineage").warning("lineage_run_failed", run_id=run_id, error=one_line(exc))
        stats.failed += 1
    return stats


def build_lineage_sensor(contracts: list[Contract], interval_seconds: int = 30) -> dg.SensorDefinition:
    by_dataset = {c.dataset: c for c in contracts}

    @dg.sensor(
        name="atlas_lineage",
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Emits OpenLineage events for runs launched by the daemon once they finish.",
    )
    def _lineage(
        context: dg.SensorEvaluationContext, lineage: LineageResource, warehouse: WarehouseResource,
        lake: LakeResource, project: ProjectResource,
    ) -> dg.SensorResult:
        runs, cursor = finished_runs(context.instance, context.cursor, statuses=FINISHED)
        pending = [r for r in runs if not r.tags.get(LINEAGE_TAG)]
        if not pending:
            return dg.SensorResult(skip_reason=f"{len(runs)} finished run(s), nothing to emit", cursor=cursor)
        naming = DatasetNaming.create(warehouse.postgres_url, lake.client(), project.project_dir)
        config = LineageConfig(lineage.namespace, lineage.url or None, lineage.file or None, lineage.timeout_seconds,
                               lineage.budget_seconds, lineage.running_after_seconds)
        graph = context.repository_def.asset_graph if context.repository_def else None
        total = EmissionStats()
        for run in pending:
            total.add(emit_run_lineage(context.instance, graph, run.run_id, naming, by_dataset, config))
        context.log.info(f"lineage: {total.emitted} events emitted, {total.failed} failed, {total.skipped} skipped")
        return dg.SensorResult(cursor=cursor)

    return _lineage
