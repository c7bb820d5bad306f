"""Sensors: landing files, run failures and failed quality checks.

- ``landing_<dataset>`` (one per contract with a ``landing`` source): every new object under the
  landing prefix is scanned once (sha256, partitions of its rows); rejected files are recorded, moved
  to ``rejected/`` and alerted right away; duplicates are recorded and moved to ``processed/``; the
  rest become ONE run per tick and dataset (bronze + silver for the touched partition range, tagged
  ``atlas/landing=<dataset>`` so runs of a dataset never overlap). Downstream assets follow through
  declarative automation.
- ``atlas_run_failure_alerts``: any failed run posts a Slack-compatible alert.
- ``atlas_quality_alerts``: failed asset checks of finished runs post one alert per run.
"""

import hashlib
import json
from typing import Any

import dagster as dg

from atlas_assets.bronze import bronze_key, bronze_op_name
from atlas_assets.runs_tail import FINISHED, atlas_sensor, finished_runs
from atlas_core.alerts import slack_payload
from atlas_core.contracts import Contract
from atlas_core.contracts.sources import LandingSource
from atlas_core.errors import InputRejected
from atlas_core.layout import Layer
from atlas_core.run_tags import RANGE_END, RANGE_START
from atlas_engine.alerts import send_alert
from atlas_engine.sources.landing import LandingScan, ingest_landing_object, pending_objects, scan_object
from atlas_resources.resources import AlertsResource, LakeResource, ProjectResource, WarehouseResource
from atlas_resources.warehouse import Warehouse

LANDING_TAG = "atlas/landing"


def silver_asset_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey([Layer.SILVER.value, dataset])


def landing_run_request(contract: Contract, scans: list[LandingScan]) -> dg.RunRequest:
    """One run for the new objects of a tick: bronze (these objects only) + silver over their partitions."""
    keys = sorted({k for s in scans for k in s.partition_keys})
    digest = hashlib.sha256("".join(sorted(s.sha256 for s in scans)).encode()).hexdigest()[:24]
    tags = {LANDING_TAG: contract.dataset, "atlas/trigger": "landing_sensor"}
    partition_key = None
    if contract.partitioning is not None:
        if len(keys) == 1:
            partition_key = keys[0]
        else:
            tags.update({RANGE_START: keys[0], RANGE_END: keys[-1]})
    return dg.RunRequest(
        run_key=f"landing:{contract.dataset}:{digest}",
        asset_selection=[bronze_key(contract.dataset), silver_asset_key(contract.dataset)],
        partition_key=partition_key,
        run_config={
            "ops": {bronze_op_name(contract.dataset): {"config": {"landing_keys": [s.key for s in scans]}}}
        },
        tags=tags,
    )


def build_landing_sensor(contract: Contract, interval_seconds: int, max_files: int) -> dg.SensorDefinition:
    assert isinstance(contract.source, LandingSource)

    @atlas_sensor(
        f"landing_{contract.dataset}",
        interval_seconds,
        f"Ingests new files under the landing prefix of {contract.dataset} exactly once.",
        asset_selection=[bronze_key(contract.dataset), silver_asset_key(contract.dataset)],
    )
    def _landing(
        context: dg.SensorEvaluationContext,
        warehouse: WarehouseResource,
        lake: LakeResource,
        project: ProjectResource,
        alerts: AlertsResource,
    ) -> dg.SensorResult:
        state = json.loads(context.cursor) if context.cursor else {}
        store = lake.client()
        pending = pending_objects(store, contract)
        # Objects leave the landing prefix once processed: the cursor only holds those still there.
        requested: dict[str, str] = {k: v for k, v in state.get("requested", {}).items() if k in pending}
        fresh = [k for k in pending if k not in requested][:max_files]
        to_run: list[LandingScan] = []
        wh = warehouse.client()
        for key in fresh:
            scan = scan_object(store, contract, key)
            requested[key] = scan.sha256
            if (
                scan.rejected is None
                and scan.partition_keys
                and not _already_accepted(wh, contract, scan.sha256)
            ):
                to_run.append(scan)
                continue
            # Rejections, duplicates and files without any mappable row need no run: settle them now.
            try:
                record = ingest_landing_object(
                    wh, store, contract, key, run_id=None, batch_rows=project.batch_size
                )
                context.log.info(f"{contract.dataset}: {key} {record.status} without a run")
            except InputRejected as exc:
                context.log.warning(f"{contract.dataset}: rejected {exc}")
                payload = slack_payload(
                    f"Atlas rejected a file for {contract.dataset}",
                    str(exc),
                    {"dataset": contract.dataset, "object": key, "sha256": scan.sha256[:16]},
                )
                _post(alerts, "file_rejected", payload, wh)
        cursor = json.dumps({"requested": requested}, sort_keys=True)
        if not to_run:
            return dg.SensorResult(skip_reason=f"no new files to run ({len(pending)} pending)", cursor=cursor)
        return dg.SensorResult(run_requests=[landing_run_request(contract, to_run)], cursor=cursor)

    return _landing


def _already_accepted(wh: Warehouse, contract: Contract, sha: str) -> bool:
    return bool(
        wh.fetch_all(
            "SELECT 1 FROM atlas_meta.ingestions WHERE dataset = %s AND sha256 = %s AND status = 'accepted'",
            (contract.dataset, sha),
        )
    )


def _post(alerts: AlertsResource, kind: str, payload: dict[str, Any], wh: Warehouse) -> None:
    """Send one alert to the configured webhook (recorded in ``atlas_meta.alerts`` either way)."""
    send_alert(kind, payload, webhook=alerts.webhook or None, timeout=alerts.timeout_seconds, wh=wh)


def _step_errors(context: dg.RunFailureSensorContext) -> list[str]:
    errors = []
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        error = getattr(data, "error", None)
        message = (error.message if error is not None else "failed").strip().splitlines()
        errors.append(f"{event.step_key}: {message[0] if message else 'failed'}")
    return errors


@dg.run_failure_sensor(
    name="atlas_run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts a Slack-compatible alert to ATLAS_ALERT_WEBHOOK for every failed run.",
)
def run_failure_alerts(
    context: dg.RunFailureSensorContext, alerts: AlertsResource, warehouse: WarehouseResource
) -> None:
    run = context.dagster_run
    errors = _step_errors(context) or [context.failure_event.message or "run failed"]
    partition = run.tags.get("dagster/partition") or (
        f"{run.tags[RANGE_START]}..{run.tags[RANGE_END]}" if RANGE_START in run.tags else ""
    )
    payload = slack_payload(
        f"Atlas run failed: {run.job_name}",
        "\n".join(f"• {e}" for e in errors[:10]),
        {"run": run.run_id, "partition": partition, "trigger": run.tags.get("atlas/trigger", "")},
    )
    _post(alerts, "run_failure", payload, warehouse.client())


def failed_checks_of_run(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """Failed check evaluations of a run: names, severities, partition counts (no values)."""
    failed: dict[tuple[str, str], dict] = {}
    cursor = None
    while True:
        conn = instance.get_records_for_run(
            run_id, cursor=cursor, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=500
        )
        for record in conn.records:
            evaluation: Any = record.event_log_entry.dagster_event.event_specific_data  # type: ignore[union-attr]
            if evaluation is None or getattr(evaluation, "passed", True):
                continue
            key = (evaluation.asset_key.to_user_string(), evaluation.check_name)
            item = failed.setdefault(
                key,
                {
                    "asset": key[0],
                    "check": key[1],
                    "severity": getattr(evaluation.severity, "value", "ERROR"),
                    "partitions": 0,
                },
            )
            item["partitions"] += 1
        cursor = conn.cursor
        if not conn.has_more:
            break
    return list(failed.values())


def quality_alerts(
    context: dg.SensorEvaluationContext, alerts: AlertsResource, warehouse: WarehouseResource
) -> dg.SensorResult:
    runs, cursor = finished_runs(context.instance, context.cursor, statuses=FINISHED)
    sent = 0
    for run in runs:
        failed = failed_checks_of_run(context.instance, run.run_id)
        if not failed:
            continue
        lines = [
            f"• {f['asset']} · {f['check']} ({f['severity']}, {f['partitions']} partition(s))" for f in failed
        ]
        payload = slack_payload(
            f"Atlas quality checks failed: {len(failed)} check(s)",
            "\n".join(lines[:20]),
            {"run": run.run_id, "status": run.status.value},
        )
        _post(alerts, "quality_failure", payload, warehouse.client())
        sent += 1
    if not sent:
        return dg.SensorResult(skip_reason=f"{len(runs)} finished run(s), no failed checks", cursor=cursor)
    return dg.SensorResult(cursor=cursor)


def quality_alerts_sensor(interval_seconds: int = 30) -> dg.SensorDefinition:
    return atlas_sensor(
        "atlas_quality_alerts",
        interval_seconds,
        "Posts one alert per finished run whose asset checks failed.",
    )(quality_alerts)


def sensor_definitions(
    contracts: list[Contract], interval_seconds: int, max_files: int, alerts_interval_seconds: int = 30
) -> dg.Definitions:
    landing = [
        build_landing_sensor(c, interval_seconds, max_files)
        for c in contracts
        if isinstance(c.source, LandingSource)
    ]
    return dg.Definitions(
        sensors=[*landing, run_failure_alerts, quality_alerts_sensor(alerts_interval_seconds)]
    )
