"""Anomaly alerts after each run: quality scores sliding, PII shares shifting, steps slowing down.

``atlas_anomaly_alerts`` tails finished runs (daemon-launched ones); the CLI calls
:func:`alert_run_anomalies` right after its in-process runs. Either way a run is evaluated once: it is
tagged ``atlas/anomalies=<n> alerted``. Decisions: ``atlas_core.anomalies``; reads and delivery:
``atlas_engine.anomalies`` (same webhook as the failure alerts).
"""

import dagster as dg

from atlas_assets.runs_tail import FINISHED, atlas_sensor, finished_runs
from atlas_core.anomalies import AnomalyThresholds
from atlas_core.errors import one_line
from atlas_core.logs import get_logger
from atlas_engine.anomalies import alert_anomalies
from atlas_resources.resources import AlertsResource, WarehouseResource
from atlas_resources.warehouse import Warehouse

ANOMALY_TAG = "atlas/anomalies"
log = get_logger("atlas.alerts")


def alert_run_anomalies(
    instance: dg.DagsterInstance,
    wh: Warehouse,
    run_id: str,
    thresholds: AnomalyThresholds,
    *,
    webhook: str | None,
    timeout: float = 5.0,
) -> int:
    """Post the run's anomalies once; returns how many. Never raises (alerting never fails a run)."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.tags.get(ANOMALY_TAG):
        return 0
    try:
        alerted = len(alert_anomalies(wh, run_id, thresholds, webhook=webhook, timeout=timeout))
    except Exception as exc:
        log.warning("anomaly_evaluation_failed", run_id=run_id, error=one_line(exc))
        alerted = 0
    instance.add_run_tags(run_id, {ANOMALY_TAG: f"{alerted} alerted"})
    return alerted


def anomaly_alerts_sensor(interval_seconds: int = 30) -> dg.SensorDefinition:
    @atlas_sensor(
        "atlas_anomaly_alerts",
        interval_seconds,
        "Posts an alert when a finished run's quality scores fall below their trailing median, a "
        "column's detected PII share shifts, or a step runs k times slower than usual.",
    )
    def _anomalies(
        context: dg.SensorEvaluationContext, alerts: AlertsResource, warehouse: WarehouseResource
    ) -> dg.SensorResult:
        runs, cursor = finished_runs(context.instance, context.cursor, statuses=FINISHED)
        pending = [r for r in runs if not r.tags.get(ANOMALY_TAG)]
        if not pending:
            return dg.SensorResult(
                skip_reason=f"{len(runs)} finished run(s), nothing to evaluate", cursor=cursor
            )
        wh = warehouse.client()
        total = sum(
            alert_run_anomalies(
                context.instance,
                wh,
                r.run_id,
                alerts.thresholds(),
                webhook=alerts.webhook or None,
                timeout=alerts.timeout_seconds,
            )
            for r in pending
        )
        context.log.info(f"anomalies: {len(pending)} run(s) evaluated, {total} alert(s)")
        return dg.SensorResult(cursor=cursor)

    return _anomalies
