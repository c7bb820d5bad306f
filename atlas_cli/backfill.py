"""``atlas backfill``: re-materialize a partition range, with or without a running ``atlas up``.

Keys are validated first (Dagster silently drops unknown keys from mixed lists). Then:

- a Dagster webserver answers on ``127.0.0.1:ATLAS_WEBSERVER_PORT`` (``atlas up`` runs): a real Dagster
  backfill is launched through GraphQL and executed by the daemon (visible under Backfills in the
  UI); ``--wait`` polls it to the end;
- otherwise the range runs in-process through the instance, as ONE run (assets take partition ranges:
  ``BackfillPolicy.single_run()``) tagged ``atlas/backfill=<id>``; the command returns when it ends.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import dagster as dg
import httpx

from atlas_cli.runs import RunOutcome, execute, partitions_of, resolve_selection
from atlas_core.dagster_graphql import BACKFILL, LAUNCH_BACKFILL
from atlas_core.errors import AtlasError, InputRejected
from atlas_engine.backfills import validate_partition_range

BACKFILL_TAG = "atlas/backfill"
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@dataclass
class BackfillPlan:
    asset_keys: list[dg.AssetKey]
    partition_keys: list[str]

    @property
    def start(self) -> str:
        return self.partition_keys[0]

    @property
    def end(self) -> str:
        return self.partition_keys[-1]


@dataclass
class BackfillOutcome:
    backfill_id: str
    mode: str  # "in_process" or "daemon"
    status: str
    partitions: int
    runs: list[RunOutcome] = field(default_factory=list)


def plan_backfill(defs: dg.Definitions, selection: str, start: str, end: str) -> BackfillPlan:
    keys = resolve_selection(defs, selection)
    pdefs = partitions_of(defs, keys)
    if not pdefs:
        raise InputRejected(f"selection {selection!r} has no partitioned asset: use atlas materialize")
    if len(pdefs) > 1:
        raise InputRejected(
            f"selection {selection!r} mixes different partitionings: backfill them one at a time"
        )
    return BackfillPlan(keys, validate_partition_range(pdefs[0].get_partition_keys(), start, end))


def graphql_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/graphql"


def daemon_reachable(port: int) -> bool:
    try:
        response = httpx.post(graphql_url(port), json={"query": "{ version }"}, timeout=1.5)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and "version" in response.text


def launch_daemon_backfill(port: int, plan: BackfillPlan, tags: dict[str, str]) -> str:
    params = {
        "assetSelection": [{"path": list(k.path)} for k in plan.asset_keys],
        "partitionNames": plan.partition_keys,
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }
    response = httpx.post(
        graphql_url(port), json={"query": LAUNCH_BACKFILL, "variables": {"params": params}}, timeout=30
    )
    body = response.json()
    result = (body.get("data") or {}).get("launchPartitionBackfill") or {}
    if result.get("__typename") != "LaunchBackfillSuccess":
        detail = result.get("message") or body.get("errors") or result.get("__typename")
        raise AtlasError(f"Dagster refused the backfill: {str(detail).splitlines()[0]}")
    return str(result["backfillId"])


def backfill_status(port: int, backfill_id: str) -> str:
    body = httpx.post(
        graphql_url(port), json={"query": BACKFILL, "variables": {"id": backfill_id}}, timeout=10
    ).json()
    result = (body.get("data") or {}).get("partitionBackfillOrError") or {}
    return str(result.get("status") or result.get("__typename") or "UNKNOWN")


def run_backfill(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    plan: BackfillPlan,
    *,
    port: int | None,
    wait: bool,
    timeout_seconds: float = 3600,
) -> BackfillOutcome:
    backfill_id = uuid.uuid4().hex[:12]
    tags = {BACKFILL_TAG: backfill_id, "atlas/trigger": "backfill"}
    if port is not None and daemon_reachable(port):
        dagster_id = launch_daemon_backfill(port, plan, tags)
        status = backfill_status(port, dagster_id)
        deadline = time.monotonic() + timeout_seconds
        while wait and status not in DONE and time.monotonic() < deadline:
            time.sleep(2)
            status = backfill_status(port, dagster_id)
        return BackfillOutcome(dagster_id, "daemon", status, len(plan.partition_keys))
    outcome = execute(
        instance,
        defs,
        plan.asset_keys,
        partition_range=(plan.start, plan.end),
        label=f"backfill {plan.start}..{plan.end}",
        tags=tags,
    )
    status = "COMPLETED_SUCCESS" if outcome.success else "COMPLETED_FAILED"
    return BackfillOutcome(backfill_id, "in_process", status, len(plan.partition_keys), [outcome])
