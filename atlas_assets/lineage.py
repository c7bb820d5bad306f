"""Live OpenLineage for every Dagster run and asset step, read from the run's event log as it grows.

The Dagster run is a ``JOB`` run (START when it starts, COMPLETE / FAIL / ABORT when it ends or is
cancelled, even while queued); each asset step is a child run (``parent`` facet): STEP_START → START;
ASSET_MATERIALIZATION + STEP_SUCCESS → COMPLETE with the outputs' ``schema`` (``dagster/column_schema``),
``columnLineage`` (silver: from the contract's PII declarations, identity vs masked; gold: from the
model's SQL; ai_ready: from the feature definitions), ``dataQualityMetrics`` (``dagster/row_count``,
``null_counts``); STEP_FAILURE → FAIL; a step interrupted by a run's termination, or cut short by a
failed or cancelled run → ABORT; a step still running after a threshold → RUNNING.
ASSET_CHECK_EVALUATION → a ``<asset>.checks`` job whose input carries ``dataQualityAssertions``.
Inputs are the upstream assets of the asset graph (bronze: its source); ``nominalTime`` is the
partition window.

Who emits (:class:`LiveLineage`, each event once): the CLI polls its in-process runs every half second
while they execute; the ``atlas_lineage`` sensor polls runs the daemon launched every few seconds
(``ATLAS_LINEAGE_INTERVAL_SECONDS``). A run launched by the CLI carries the tag ``atlas/lineage=live``
from its creation, so the sensor leaves it alone; every run is tagged ``atlas/lineage=<n> emitted, <m>
failed`` once its last event is out.
"""

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
from openlineage.client.event_v2 import RunEvent, RunState

from atlas_assets.lineage_facts import DatasetNaming, LineageCatalog, run_step_facts
from atlas_assets.run_log import RunLog
from atlas_assets.runs_tail import FINISHED, atlas_sensor, finished_runs
from atlas_core.contracts import Contract
from atlas_core.errors import one_line
from atlas_core.features.spec import FeatureSetSpec
from atlas_core.lineage import (
    build_events,
)
from atlas_core.logs import get_logger
from atlas_core.run_tags import LINEAGE as LINEAGE_TAG
from atlas_core.sql_models import SqlModel
from atlas_engine.lineage import EmissionStats, LineageEmitter
from atlas_resources.resources import LakeResource, LineageResource, ProjectResource, WarehouseResource

log = get_logger("atlas.lineage")


@dataclass
class LineageConfig:
    namespace: str = "atlas"
    url: str | None = None
    file: str | None = None
    timeout_seconds: float = 5.0
    budget_seconds: float = 30.0
    running_after_seconds: float = 60.0

    @classmethod
    def of(cls, resource: LineageResource) -> "LineageConfig":
        return cls(
            resource.namespace,
            resource.url or None,
            resource.file or None,
            resource.timeout_seconds,
            resource.budget_seconds,
            resource.running_after_seconds,
        )


RUN_REFRESH_SECONDS = 5.0
"""How stale a polled run's record may get when no event says it changed (e.g. a cancel while queued)."""


class LiveLineage:
    """Emits each run's events as they become known, each once: poll a run while it executes, then once more
    after it ended (``finish`` tags it). Used by the CLI for in-process runs (polled every half second) and by
    the ``atlas_lineage`` sensor for runs the daemon launched (its cursor keeps what was emitted)."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        graph: object,
        naming: DatasetNaming,
        catalog: LineageCatalog,
        config: LineageConfig,
        emitted: dict[str, list[str]] | None = None,
    ) -> None:
        self.instance, self.graph, self.naming, self.catalog, self.config = (
            instance,
            graph,
            naming,
            catalog,
            config,
        )
        self.emitter = LineageEmitter.configured(
            config.url, config.file, timeout=config.timeout_seconds, budget_seconds=config.budget_seconds
        )
        self.emitted: dict[str, set[str]] = {run: set(keys) for run, keys in (emitted or {}).items()}
        self.stats: dict[str, EmissionStats] = defaultdict(EmissionStats)
        self._logs: dict[str, RunLog] = {}
        self._ended: dict[str, set[str]] = {}  # per run: steps ended and emitted (not rebuilt each poll)
        self._runs: dict[str, tuple[dg.DagsterRun, float]] = {}  # per run: the record and when it was read

    def _run(self, run_id: str, log: RunLog, fresh: bool) -> dg.DagsterRun | None:
        """The run's record, read again only when it may have changed: its end is in the event log, a
        few seconds passed (a status changed without an event), or ``fresh`` (the last poll)."""
        cached = self._runs.get(run_id)
        if cached is not None and not fresh:
            run, read_at = cached
            stale = log.run_end is not None or time.monotonic() - read_at > RUN_REFRESH_SECONDS
            if run.is_finished or not stale:
                return run
        current = self.instance.get_run_by_id(run_id)
        if current is not None:
            self._runs[run_id] = (current, time.monotonic())
        return current

    def pending(self, run_id: str, *, fresh: bool = False) -> list:
        """The run's events not emitted yet, in order: the run's START, its steps', the run's final event."""
        log = self._logs.setdefault(run_id, RunLog(run_id)).read(self.instance)  # only the new events
        run = self._run(run_id, log, fresh)
        if run is None:
            return []
        ended = self._ended.setdefault(run_id, set())
        done = self.emitted.setdefault(run_id, set())
        running_after = timedelta(seconds=self.config.running_after_seconds)
        first: list[RunEvent] = []
        steps: list[RunEvent] = []
        last: list[RunEvent] = []
        for facts in run_step_facts(self.graph, run, self.naming, self.catalog, log, ended):
            for event in build_events(
                facts,
                namespace=self.config.namespace,
                dagster_version=dg.__version__,
                running_after=running_after,
            ):
                key = f"{event.run.runId}:{event.eventType.value}"  # type: ignore[union-attr]
                if key in done:
                    continue
                if event.eventType == RunState.RUNNING and facts.ended_at is not None:
                    continue  # only while the step runs: a RUNNING after the fact would be a replay
                done.add(key)
                if facts.parent_run_id is None:
                    (first if event.eventType == RunState.START else last).append(event)
                else:
                    steps.append(event)
        ended.update(step.key for step in log.steps.values() if step.outcome is not None)  # final outcomes
        return [*first, *sorted(steps, key=lambda e: e.eventTime), *last]

    def poll(self, run_id: str, *, fresh: bool = False) -> EmissionStats:
        """Emit what is new for the run; never raises (lineage never fails a pipeline)."""
        try:
            stats = self.emitter.emit(self.pending(run_id, fresh=fresh))
        except Exception as exc:
            log.warning("lineage_poll_failed", run_id=run_id, error=one_line(exc))
            stats = EmissionStats(failed=1)
        self.stats[run_id].add(stats)
        return stats

    def finish(self, run_id: str) -> EmissionStats:
        """The last poll of an ended run; tags it ``atlas/lineage=<n> emitted, <m> failed`` and forgets it."""
        self.poll(run_id, fresh=True)
        total = self.stats.pop(run_id, EmissionStats())
        self.emitted.pop(run_id, None)
        self._logs.pop(run_id, None)
        self._ended.pop(run_id, None)
        self._runs.pop(run_id, None)
        try:
            self.instance.add_run_tags(
                run_id, {LINEAGE_TAG: f"{total.emitted} emitted, {total.failed + total.skipped} failed"}
            )
        except Exception as exc:
            log.warning("lineage_tag_failed", run_id=run_id, error=one_line(exc))
        return total


_IN_FLIGHT = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _load_cursor(cursor: str | None) -> tuple[str | None, dict[str, list[str]]]:
    if not cursor:
        return None, {}
    state = json.loads(cursor)
    if "tail" not in state:  # the cursor of the former finished-runs-only sensor
        return cursor, {}
    return state["tail"], state.get("live", {})


def build_lineage_sensor(
    contracts: list[Contract],
    models: list[SqlModel] = (),  # type: ignore[assignment]
    feature_sets: list[FeatureSetSpec] = (),  # type: ignore[assignment]
    interval_seconds: int = 5,
) -> dg.SensorDefinition:
    catalog = LineageCatalog.of(contracts, models, feature_sets)

    @atlas_sensor(
        "atlas_lineage",
        interval_seconds,
        "Emits OpenLineage events of daemon-launched runs while they run: START, RUNNING, "
        "COMPLETE/FAIL, ABORT for cancelled runs.",
    )
    def _lineage(
        context: dg.SensorEvaluationContext,
        lineage: LineageResource,
        warehouse: WarehouseResource,
        lake: LakeResource,
        project: ProjectResource,
    ) -> dg.SensorResult:
        tail, live = _load_cursor(context.cursor)
        finished, tail = finished_runs(context.instance, tail, statuses=FINISHED)
        in_flight = context.instance.get_runs(filters=dg.RunsFilter(statuses=_IN_FLIGHT), limit=50)
        candidates = {r.run_id: r for r in [*in_flight, *finished] if not r.tags.get(LINEAGE_TAG)}
        for run_id in live:
            if run_id not in candidates and (run := context.instance.get_run_by_id(run_id)) is not None:
                candidates[run_id] = run
        if not candidates:
            return dg.SensorResult(
                skip_reason="no run to report", cursor=json.dumps({"tail": tail, "live": {}})
            )
        naming = DatasetNaming.create(warehouse.postgres_url, lake.client(), project.project_dir)
        graph = context.repository_def.asset_graph if context.repository_def else None
        tracker = LiveLineage(context.instance, graph, naming, catalog, LineageConfig.of(lineage), live)
        total = EmissionStats()
        for run_id, run in candidates.items():
            if run.is_finished:
                total.add(tracker.finish(run_id))
            else:
                total.add(tracker.poll(run_id))
        live = {run_id: sorted(keys) for run_id, keys in tracker.emitted.items()}
        context.log.info(
            f"lineage: {total.emitted} events emitted, {total.failed} failed, {total.skipped} skipped"
        )
        return dg.SensorResult(cursor=json.dumps({"tail": tail, "live": live}))

    return _lineage
