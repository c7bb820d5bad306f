"""Declarative automation, freshness policies and the daily schedule, applied in one place.

- Silver, gold and ai_ready assets get :func:`atlas_eager`: Dagster's ``eager()`` for every
  partition (not only the latest time window) that also waits until every dependency's blocking
  checks passed. So a landed file (landing sensor) or a backfilled bronze/silver partition flows
  downstream by itself, and a failed quality gate stops it. Bronze has no condition: sources are
  pulled by the landing sensor, the daily schedule or a person.
- Freshness: a contract column's ``freshness`` (e.g. ``1d``) becomes a ``FreshnessPolicy.time_window``
  on the dataset's bronze and silver assets (the tightest one when several columns declare it).
- ``atlas_daily``: the whole graph once a day (``ATLAS_SCHEDULE_CRON``, UTC): every source refreshed,
  the latest complete partition and every unpartitioned asset rebuilt.
"""

from datetime import datetime, timedelta

import dagster as dg

from atlas_core.contracts import Contract
from atlas_core.layout import Layer

AUTOMATED_LAYERS = {Layer.SILVER.value, Layer.GOLD.value, Layer.AI_READY.value}
DAILY_JOB = "atlas_daily_job"


def atlas_eager() -> dg.AutomationCondition:
    """``eager()`` over all partitions, gated on the dependencies' blocking checks."""
    return (
        dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("atlas_eager")


def freshness_windows(contracts: list[Contract]) -> dict[dg.AssetKey, timedelta]:
    windows: dict[dg.AssetKey, timedelta] = {}
    for contract in contracts:
        declared = [c.freshness_window for c in contract.columns if c.freshness_window is not None]
        if not declared:
            continue
        for layer in (Layer.BRONZE, Layer.SILVER):
            windows[dg.AssetKey([layer.value, contract.dataset])] = min(declared)
    return windows


def with_automation(defs: dg.Definitions, contracts: list[Contract]) -> dg.Definitions:
    """Return ``defs`` with automation conditions and freshness policies on every asset spec."""
    windows = freshness_windows(contracts)
    condition = atlas_eager()

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        changes: dict = {}
        if spec.key.path[0] in AUTOMATED_LAYERS and spec.automation_condition is None:
            changes["automation_condition"] = condition
        if spec.key in windows and spec.freshness_policy is None:
            changes["freshness_policy"] = dg.FreshnessPolicy.time_window(fail_window=windows[spec.key])
        return spec.replace_attributes(**changes) if changes else spec

    return defs.map_asset_specs(func=apply)


def daily_run_requests(graph: "dg.Definitions", scheduled: datetime) -> list[dg.RunRequest]:
    """One run per partitions definition: its latest complete partition; unpartitioned assets join the
    first."""
    asset_graph = graph.resolve_asset_graph()
    keys = sorted(
        (k for k in asset_graph.get_all_asset_keys() if asset_graph.get(k).is_materializable),
        key=lambda k: k.to_user_string(),
    )
    groups: dict[dg.PartitionsDefinition | None, list[dg.AssetKey]] = {}
    for key in keys:
        groups.setdefault(asset_graph.get(key).partitions_def, []).append(key)
    unpartitioned = groups.pop(None, [])
    requests = []
    stamp = scheduled.strftime("%Y-%m-%dT%H:%M")
    for index, (pdef, members) in enumerate(groups.items()):
        assert pdef is not None
        partition_keys = pdef.get_partition_keys(current_time=scheduled)
        if not partition_keys:
            continue
        last = partition_keys[-1]
        selection = members + (unpartitioned if index == 0 else [])
        requests.append(
            dg.RunRequest(
                run_key=f"daily:{stamp}:{index}",
                asset_selection=selection,
                partition_key=last,
                tags={"atlas/trigger": "schedule"},
            )
        )
        if index == 0:
            unpartitioned = []
    if unpartitioned:
        requests.append(
            dg.RunRequest(
                run_key=f"daily:{stamp}:unpartitioned",
                asset_selection=unpartitioned,
                tags={"atlas/trigger": "schedule"},
            )
        )
    return requests


def build_daily_schedule(defs_without_schedules: dg.Definitions, cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="atlas_daily",
        cron_schedule=cron,
        execution_timezone="UTC",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "The whole graph once a day: sources refreshed, "
            "latest partition and unpartitioned assets rebuilt."
        ),
    )
    def _daily(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        scheduled = context.scheduled_execution_time or datetime.now().astimezone()
        requests = daily_run_requests(defs_without_schedules, scheduled)
        return requests or dg.SkipReason("no partition is complete yet")

    return _daily
