"""``/runs``: list and inspect Dagster runs, launch one (validated first), stream its events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from atlas_api.api.deps import (
    ReaderDep,
    RunIdPath,
    ServicesDep,
    TriggerDep,
    audited_trigger,
    launch_route,
    trigger_tags,
)
from atlas_api.core.dagster import TERMINAL_STATUSES
from atlas_api.core.problems import conflict, not_found, unprocessable
from atlas_api.models import RunAccepted, RunList, RunOut, RunReexecution, RunRequest
from atlas_core import run_tags

router = APIRouter(prefix="/runs", tags=["runs"])
RunStatus = Literal[
    "QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS", "FAILURE", "CANCELING", "CANCELED"
]


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def run_out(run: dict[str, Any]) -> RunOut:
    tags = {t["key"]: t["value"] for t in run.get("tags") or []}
    return RunOut(
        run_id=run["runId"],
        status=run["status"],
        job_name=run["jobName"],
        assets=["/".join(k["path"]) for k in run.get("assetSelection") or []],
        partition=tags.get("dagster/partition"),
        backfill_id=tags.get("dagster/backfill"),
        created_at=_time(run.get("creationTime")),
        started_at=_time(run.get("startTime")),
        ended_at=_time(run.get("endTime")),
    )


@router.get("", response_model=RunList)
async def list_runs(
    principal: ReaderDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    status: Annotated[RunStatus | None, Query(description="Only runs with this Dagster status")] = None,
) -> RunList:
    """Most recent runs first."""
    runs = await services.dagster.runs(limit, [status] if status else None)
    return RunList(items=[run_out(r) for r in runs])


@router.get("/{run_id}", response_model=RunOut, responses={404: {"description": "Unknown run"}})
async def get_run(run_id: RunIdPath, principal: ReaderDep, services: ServicesDep) -> RunOut:
    """One run; ``status`` is Dagster's run status (QUEUED, STARTED, SUCCESS, FAILURE, ...)."""
    run = await services.dagster.run(run_id)
    if run is None:
        raise not_found(f"unknown run {run_id}")
    return run_out(run)


@router.post("", response_model=RunAccepted, **launch_route())
async def launch_run(
    body: RunRequest, principal: TriggerDep, services: ServicesDep, request: Request
) -> RunAccepted:
    """Launch a run of the given assets (one partition, when given). Keys are validated before launching."""
    catalog = await services.catalog()
    assets = catalog.resolve(body.assets)
    tags = trigger_tags(principal, request)
    if body.partition is not None:
        catalog.validate_partition(assets, body.partition)
        tags[run_tags.PARTITION] = body.partition
    else:
        keys = catalog.partition_keys_of(assets)
        if keys:
            # No partition named: the run covers the whole range (partitioned assets handle ranges).
            tags[run_tags.RANGE_START] = keys[0]
            tags[run_tags.RANGE_END] = keys[-1]
    locations = {(a.location, a.repository) for a in assets}
    if len(locations) > 1:
        raise unprocessable("the selected assets live in different code locations; launch them separately")
    location, repository = locations.pop()
    async with audited_trigger(
        services, request, principal, "run.launch", target=",".join(a.key for a in assets), metric="run"
    ) as audit:
        run_id = await services.dagster.submit_run([a.path for a in assets], tags, location, repository)
        audit.ok(f"run:{run_id}", {"assets": [a.key for a in assets], "partition": body.partition})
    return RunAccepted(run_id=run_id)


@router.post(
    "/{run_id}/reexecute",
    response_model=RunAccepted,
    **launch_route(
        {404: "Unknown run", 409: "The run has not finished", 422: "Dagster refused the re-execution"}
    ),
)
async def reexecute_run(
    run_id: RunIdPath, body: RunReexecution, principal: TriggerDep, services: ServicesDep, request: Request
) -> RunAccepted:
    """Re-execute a finished run, by default from failure (the steps that failed or never ran), as the
    Dagster UI's "Re-execute from failure" does. Asset steps are idempotent, so nothing is loaded twice."""
    run = await services.dagster.run(run_id)
    if run is None:
        raise not_found(f"unknown run {run_id}")
    if run["status"] not in TERMINAL_STATUSES:
        raise conflict(f"run {run_id} is {run['status']}; only a finished run can be re-executed")
    tags = trigger_tags(principal, request)
    async with audited_trigger(
        services, request, principal, "run.reexecute", target=f"run:{run_id}", metric="reexecution"
    ) as audit:
        new_run = await services.dagster.reexecute(run_id, body.strategy, tags)
        audit.ok(f"run:{new_run}", {"parent": run_id, "strategy": body.strategy})
    return RunAccepted(run_id=new_run)


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    response_model=RunOut,
    responses={
        404: {"description": "Unknown run"},
        409: {"description": "The run has already finished"},
        422: {"description": "Dagster refused to cancel the run"},
    },
)
async def cancel_run(
    run_id: RunIdPath, principal: TriggerDep, services: ServicesDep, request: Request
) -> RunOut:
    """Cancel a queued or running run through Dagster's terminate mutation. Answers with the run as Dagster
    reports it right after the request (``CANCELING`` until its process has stopped, then ``CANCELED``)."""
    run = await services.dagster.run(run_id)
    if run is None:
        raise not_found(f"unknown run {run_id}")
    if run["status"] in TERMINAL_STATUSES:
        raise conflict(f"run {run_id} is {run['status']}; only a queued or running run can be cancelled")
    async with audited_trigger(
        services, request, principal, "run.cancel", target=f"run:{run_id}", metric="cancel"
    ) as audit:
        await services.dagster.terminate(run_id)
        audit.ok(f"run:{run_id}", {})
    refreshed = await services.dagster.run(run_id)
    return run_out(refreshed or run)
