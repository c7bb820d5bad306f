"""``/backfills``: launch a partition-range backfill (validated first) and follow it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request

from atlas_api.api.deps import ReaderDep, ServicesDep, TriggerDep, audited_trigger, launch_route, trigger_tags
from atlas_api.core.problems import not_found
from atlas_api.models import BackfillAccepted, BackfillOut, BackfillRequest

router = APIRouter(prefix="/backfills", tags=["backfills"])
BackfillIdPath = Annotated[str, Path(pattern=r"^[a-z0-9]{1,32}$")]


@router.post("", response_model=BackfillAccepted, **launch_route())
async def launch_backfill(
    body: BackfillRequest, principal: TriggerDep, services: ServicesDep, request: Request
) -> BackfillAccepted:
    """Backfill ``partition_from``..``partition_to`` (inclusive) of partitioned assets; the daemon runs it."""
    catalog = await services.catalog()
    assets = catalog.resolve(body.assets)
    partitions = catalog.partition_range(assets, body.partition_from, body.partition_to)
    tags = trigger_tags(principal, request)
    title = f"atlas api: {', '.join(a.key for a in assets)[:80]} {partitions[0]}..{partitions[-1]}"
    keys = [a.key for a in assets]
    async with audited_trigger(
        services, request, principal, "backfill.launch", target=",".join(keys), metric="backfill"
    ) as audit:
        backfill_id = await services.dagster.launch_backfill(
            [a.path for a in assets], partitions, tags, title
        )
        audit.ok(
            f"backfill:{backfill_id}",
            {"assets": keys, "from": partitions[0], "to": partitions[-1], "partitions": len(partitions)},
        )
    return BackfillAccepted(backfill_id=backfill_id, partitions=partitions)


@router.get(
    "/{backfill_id}", response_model=BackfillOut, responses={404: {"description": "Unknown backfill"}}
)
async def get_backfill(
    backfill_id: BackfillIdPath, principal: ReaderDep, services: ServicesDep
) -> BackfillOut:
    """Status of a backfill and the runs it launched."""
    found = await services.dagster.backfill(backfill_id)
    if found is None:
        raise not_found(f"unknown backfill {backfill_id}")
    return BackfillOut(
        backfill_id=found["id"],
        status=found["status"],
        assets=["/".join(k["path"]) for k in found.get("assetSelection") or []],
        partitions=found.get("partitionNames") or [],
        runs=[{"run_id": r["runId"], "status": r["status"]} for r in found.get("runs") or []],
        created_at=datetime.fromtimestamp(found["timestamp"], UTC) if found.get("timestamp") else None,
        ended_at=datetime.fromtimestamp(found["endTimestamp"], UTC) if found.get("endTimestamp") else None,
    )
