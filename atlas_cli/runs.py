"""Execute asset selections through the Dagster instance (runs and events land in its storage)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from atlas_core.errors import AtlasError, InputRejected
from atlas_core.run_tags import LINEAGE as LINEAGE_TAG
from atlas_core.run_tags import LIVE, RANGE_END, RANGE_START

LAUNCH_TAG = "atlas/launch"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    seconds: float
    failures: list[str] = field(default_factory=list)
    materialized: int = 0
    lineage_events: int = 0
    checks: list[dict[str, object]] = field(default_factory=list)


def resolve_selection(defs: dg.Definitions, selection: str) -> list[dg.AssetKey]:
    """Dagster selection syntax (``key:silver/orders+``, ``group:gold``), or plain keys ``silver/orders``."""
    graph = defs.resolve_asset_graph()
    text = selection.strip()
    if text in ("*", "all"):
        keys = graph.get_all_asset_keys()
    else:
        if ":" not in text and not any(ch in text for ch in "+*() "):
            text = f'key:"{text}"'
        try:
            keys = dg.AssetSelection.from_string(text).resolve(graph)
        except Exception as exc:
            raise InputRejected(f"invalid selection {selection!r}: {str(exc).splitlines()[0]}") from None
    if not keys:
        raise InputRejected(f"selection {selection!r} matches no asset")
    return sorted(keys, key=lambda k: k.to_user_string())


def partitions_of(defs: dg.Definitions, keys: Sequence[dg.AssetKey]) -> list[dg.PartitionsDefinition]:
    graph = defs.resolve_asset_graph()
    found: list[dg.PartitionsDefinition] = []
    for key in keys:
        pdef = graph.get(key).partitions_def
        if pdef is not None and pdef not in found:
            found.append(pdef)
    return found


def validate_partition(pdefs: list[dg.PartitionsDefinition], key: str) -> None:
    if not pdefs:
        raise InputRejected(f"partition {key!r} given, but no selected asset is partitioned")
    for pdef in pdefs:
        if not pdef.has_partition_key(key):
            keys = pdef.get_partition_keys()
            span = f"{keys[0]} .. {keys[-1]}" if keys else "none"
            raise InputRejected(f"unknown partition {key!r} (valid: {span})")


@dataclass
class WorkerRunResult:
    """What ``execute`` needs from a run executed by executor workers (``execute_job``)."""

    run_id: str
    success: bool
    all_events: list[dg.DagsterEvent]

    def get_asset_materialization_events(self) -> list[dg.DagsterEvent]:
        return [e for e in self.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]


def uses_celery(defs: dg.Definitions) -> bool:
    return defs.executor is not None and getattr(defs.executor, "name", "") == "atlas_celery"


def execute_on_workers(
    instance: dg.DagsterInstance,
    keys: Sequence[dg.AssetKey],
    partition: str | None,
    tags: dict[str, str],
    run_config: dict[str, Any] | None = None,
) -> WorkerRunResult:
    """Run through the job's own executor (Celery): steps are pickled to workers, which rebuild the job
    from ``atlas_assets.jobs`` and the same environment."""
    from atlas_assets.jobs import atlas_asset_job

    run_tags = {**tags, **({"dagster/partition": partition} if partition else {})}
    with dg.execute_job(
        dg.reconstructable(atlas_asset_job),
        instance,
        tags=run_tags,
        asset_selection=list(keys),
        run_config={**QUIET, **(run_config or {})},
        raise_on_error=False,
    ) as result:
        return WorkerRunResult(result.run_id, result.success, list(result.all_events))


def failure_reasons(result: dg.ExecuteInProcessResult | WorkerRunResult) -> list[str]:
    reasons = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.event_specific_data.error if event.event_specific_data else None  # type: ignore[union-attr]
        while error is not None and error.cause is not None:
            error = error.cause
        message = (error.message if error is not None else "failed").strip().splitlines()[0]
        message = (
            message.split(": ", 1)[1]
            if message.startswith(("dagster.", "atlas_")) and ": " in message
            else message
        )
        reasons.append(f"{event.step_key}: {message}")
    return reasons


def execute(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    keys: Sequence[dg.AssetKey],
    *,
    partition: str | None = None,
    partition_range: tuple[str, str] | None = None,
    label: str = "materializing",
    show_progress: bool = True,
    tags: dict[str, str] | None = None,
    run_config: dict[str, Any] | None = None,
) -> RunOutcome:
    from atlas_cli.telemetry import run_scope

    run_id = str(uuid.uuid4())
    with run_scope(run_id, [k.to_user_string() for k in keys], partition, partition_range) as traced:
        outcome = _execute(
            instance,
            defs,
            keys,
            run_id=run_id,
            partition=partition,
            partition_range=partition_range,
            label=label,
            show_progress=show_progress,
            tags={**traced.tags, **(tags or {})},
            run_config={**QUIET, **(run_config or {})},
        )
        traced.finished(outcome.run_id, outcome.success, outcome.materialized)
        return outcome


def start_analyzer(defs: dg.Definitions, keys: Sequence[dg.AssetKey]) -> None:
    """Start the PII analyzer processes when this process will run a step that analyzes free text."""
    from atlas_assets.pii import preload_analyzer

    if not uses_celery(defs):  # this process runs the steps
        preload_analyzer(defs, keys)


def _execute(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    keys: Sequence[dg.AssetKey],
    *,
    run_id: str,
    partition: str | None,
    partition_range: tuple[str, str] | None,
    label: str,
    show_progress: bool,
    tags: dict[str, str],
    run_config: dict[str, Any],
) -> RunOutcome:
    from atlas_cli.lineage_hook import live_lineage

    job = defs.resolve_implicit_global_asset_job_def()
    # atlas/lineage=live: this process emits the run's lineage while it runs (the sensor leaves it alone).
    tags = {"atlas/trigger": "cli", **tags, LINEAGE_TAG: LIVE, LAUNCH_TAG: run_id}
    if partition_range is not None:
        tags.update({RANGE_START: partition_range[0], RANGE_END: partition_range[1]})
    holder: dict[str, object] = {}

    def target() -> None:
        try:
            if uses_celery(defs):
                holder["result"] = execute_on_workers(instance, keys, partition, tags, run_config)
            else:
                holder["result"] = job.execute_in_process(
                    instance=instance,
                    asset_selection=list(keys),
                    partition_key=partition,
                    tags=tags,
                    run_id=run_id,
                    raise_on_error=False,
                    run_config=run_config,
                )
        except BaseException as exc:  # surfaced below in the calling thread
            holder["error"] = exc

    lineage = live_lineage(instance, defs)
    start_analyzer(defs, keys)
    started = time.monotonic()
    thread = threading.Thread(target=target, name="atlas-run", daemon=True)
    thread.start()
    executing: str | None = None
    steps_done: StepsDone | None = None
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=len(keys))
        while thread.is_alive():
            thread.join(0.5)
            executing = executing or _launched_run(instance, run_id)
            if executing is not None:
                steps_done = steps_done or StepsDone(executing)
                progress.update(task, completed=min(steps_done.poll(instance), len(keys)))
                if lineage is not None:
                    lineage.poll(executing)  # bounded, never raises
    if "error" in holder:
        error = holder["error"]
        if isinstance(error, AtlasError):
            raise error
        raise AtlasError(
            f"run {run_id} could not start: {type(error).__name__}: {str(error).splitlines()[0]}"
        )
    result = holder["result"]
    assert isinstance(result, (dg.ExecuteInProcessResult, WorkerRunResult))
    run_id = result.run_id
    seconds = time.monotonic() - started
    emitted = lineage.finish(run_id).emitted if lineage is not None else 0  # the final events
    _alert_anomalies(instance, run_id)
    return RunOutcome(
        run_id,
        result.success,
        seconds,
        failure_reasons(result),
        len(result.get_asset_materialization_events()),
        emitted,
        check_outcomes(result),
    )


def _alert_anomalies(instance: dg.DagsterInstance, run_id: str) -> None:
    """Quality, PII-share and duration anomalies of the run, to the alert webhook (bounded, never raises)."""
    import os

    from atlas_assets.anomaly_alerts import alert_run_anomalies
    from atlas_core.settings import get_settings
    from atlas_resources.warehouse import Warehouse

    settings = get_settings()
    url = settings.postgres_url or os.environ.get("ATLAS_POSTGRES_URL", "")
    if url:
        alert_run_anomalies(
            instance,
            Warehouse(url),
            run_id,
            settings.anomaly_thresholds(),
            webhook=settings.alert_webhook,
            timeout=settings.alert_timeout_seconds,
        )


def check_outcomes(result: dg.ExecuteInProcessResult | WorkerRunResult) -> list[dict[str, object]]:
    """One entry per asset check evaluation of the run (per partition when the check is partitioned)."""
    evaluations = [
        e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return [
        {
            "asset": evaluation.asset_key.to_user_string(),
            "check": evaluation.check_name,
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            "partition": evaluation.partition,
        }
        for evaluation in evaluations
        if isinstance(evaluation, dg.AssetCheckEvaluation)
    ]


def _launched_run(instance: dg.DagsterInstance, launch_id: str) -> str | None:
    """The run's id once it exists (in-process runs get ``launch_id``; ``execute_job`` picks its own)."""
    if instance.get_run_by_id(launch_id) is not None:
        return launch_id
    runs = instance.get_run_records(filters=dg.RunsFilter(tags={LAUNCH_TAG: launch_id}), limit=1)
    return runs[0].dagster_run.run_id if runs else None


@dataclass
class StepsDone:
    """Steps of a run that ended, counted incrementally (each poll reads only the new events)."""

    run_id: str
    count: int = 0
    cursor: str | None = None

    def poll(self, instance: dg.DagsterInstance) -> int:
        try:
            page = instance.get_records_for_run(
                run_id=self.run_id,
                cursor=self.cursor,
                of_type={
                    dg.DagsterEventType.STEP_SUCCESS,
                    dg.DagsterEventType.STEP_FAILURE,
                    dg.DagsterEventType.STEP_SKIPPED,
                },
            )
        except Exception:
            return self.count
        if page.records:
            self.count += len(page.records)
            self.cursor = page.cursor
        return self.count


def materialize_all(
    instance: dg.DagsterInstance, defs: dg.Definitions, keys: Sequence[dg.AssetKey], label: str
) -> list[RunOutcome]:
    """Materialize ``keys`` over all their partitions: one run when they share a partitions definition."""
    pdefs = partitions_of(defs, keys)
    if not pdefs:
        return [execute(instance, defs, keys, label=label)]
    if len(pdefs) == 1:
        all_keys = pdefs[0].get_partition_keys()
        return [execute(instance, defs, keys, partition_range=(all_keys[0], all_keys[-1]), label=label)]
    # Different partitions definitions cannot share a run: one run per asset, in dependency order.
    outcomes: list[RunOutcome] = []
    for key in toposort(defs, keys):
        outcomes.extend(materialize_all(instance, defs, [key], label=f"{label} {key.to_user_string()}"))
        if not outcomes[-1].success:
            break
    return outcomes


def toposort(defs: dg.Definitions, keys: Sequence[dg.AssetKey]) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    wanted = set(keys)
    ordered: list[dg.AssetKey] = []
    seen: set[dg.AssetKey] = set()

    def visit(key: dg.AssetKey) -> None:
        if key in seen:
            return
        seen.add(key)
        for parent in sorted(graph.get(key).parent_keys, key=lambda k: k.to_user_string()):
            if parent in wanted:
                visit(parent)
        ordered.append(key)

    for key in sorted(wanted, key=lambda k: k.to_user_string()):
        visit(key)
    return ordered
