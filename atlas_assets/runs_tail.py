"""What Atlas sensors share: their defaults, and the tail of finished runs read from the instance's event log
with a cursor (for the lineage, quality and anomaly sensors)."""

import json
from collections.abc import Callable
from typing import Any

import dagster as dg

FINISHED = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)


def atlas_sensor(
    name: str, interval_seconds: int, description: str, **options: Any
) -> Callable[[Callable[..., Any]], dg.SensorDefinition]:
    """``dg.sensor`` as every Atlas sensor is declared: running by default, evaluated every
    ``interval_seconds``."""
    return dg.sensor(
        name=name,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
        **options,
    )


def finished_runs(
    instance: dg.DagsterInstance,
    cursor: str | None,
    *,
    statuses: tuple[dg.DagsterEventType, ...] = FINISHED,
    limit: int = 25,
) -> tuple[list[dg.DagsterRun], str]:
    """Runs that finished after ``cursor`` (oldest first) and the cursor to store for the next tick.

    On the first evaluation (no cursor) the tail starts at the current end: history is not replayed.
    """
    state: dict[str, str | None] = json.loads(cursor) if cursor else {}
    runs: dict[str, tuple[int, dg.DagsterRun]] = {}
    for status in statuses:
        name = status.value
        if cursor is None:
            latest = instance.fetch_run_status_changes(status, limit=1, ascending=False)
            state[name] = latest.cursor if latest.records else None
            continue
        result = instance.fetch_run_status_changes(
            status, limit=limit, cursor=state.get(name), ascending=True
        )
        for record in result.records:
            run = instance.get_run_by_id(record.run_id)
            if run is not None:
                runs[run.run_id] = (record.storage_id, run)
        if result.records:
            state[name] = result.cursor
    ordered = [run for _, run in sorted(runs.values(), key=lambda item: item[0])]
    return ordered, json.dumps(state, sort_keys=True)
