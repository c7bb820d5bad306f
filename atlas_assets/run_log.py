"""A Dagster run's step events, read incrementally from the event log: what lineage is built from."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

INTERRUPTS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}
_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.RUN_START,
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
}


@dataclass
class StepRecord:
    key: str
    started: datetime | None = None
    ended: datetime | None = None
    outcome: str | None = None
    error: str | None = None
    materializations: list = field(default_factory=list)
    checks: list = field(default_factory=list)


def _when(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _interrupted(error: object) -> bool:
    """A step stopped by a run's termination (not a failure of its own): Dagster's interrupt error."""
    while error is not None:
        if getattr(error, "cls_name", None) in INTERRUPTS:
            return True
        error = getattr(error, "cause", None)
    return False


@dataclass
class RunLog:
    """A run's step events read incrementally from the event log (a cursor per run): polled while it runs."""

    run_id: str
    steps: dict[str, StepRecord] = field(default_factory=dict)
    run_start: datetime | None = None
    run_end: datetime | None = None
    cursor: str | None = None

    def read(self, instance: dg.DagsterInstance) -> "RunLog":
        while True:
            conn = instance.get_records_for_run(self.run_id, cursor=self.cursor, of_type=_EVENTS, limit=1000)
            for record in conn.records:
                self._apply(record.event_log_entry)
            if conn.records:
                self.cursor = conn.cursor
            if not conn.has_more:
                return self

    def _apply(self, entry: dg.EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        kind = event.event_type
        if kind == dg.DagsterEventType.RUN_START:
            self.run_start = self.run_start or _when(entry.timestamp)
            return
        if kind in (
            dg.DagsterEventType.RUN_SUCCESS,
            dg.DagsterEventType.RUN_FAILURE,
            dg.DagsterEventType.RUN_CANCELED,
        ):
            self.run_end = _when(entry.timestamp)
            return
        if not entry.step_key:
            return
        step = self.steps.setdefault(entry.step_key, StepRecord(entry.step_key))
        if kind == dg.DagsterEventType.STEP_START:
            step.started = step.started or _when(entry.timestamp)
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            step.ended, step.outcome = _when(entry.timestamp), "COMPLETE"
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            error = getattr(event.event_specific_data, "error", None)
            step.ended, step.outcome = _when(entry.timestamp), "ABORT" if _interrupted(error) else "FAIL"
            lines = (error.message if error is not None else "step failed").strip().splitlines()
            step.error = lines[0] if lines else "step failed"
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            step.materializations.append(event.event_specific_data.materialization)  # type: ignore[union-attr]
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            step.checks.append(event.event_specific_data)
