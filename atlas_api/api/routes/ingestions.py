"""``/ingestions``: the files Atlas looked at most recently (accepted, rejected, duplicate) and why."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from atlas_api.api.deps import Principal, ServicesDep, require
from atlas_api.core.roles import EVERYONE
from atlas_api.models import IngestionList

router = APIRouter(prefix="/ingestions", tags=["ingestions"])
ReaderDep = Annotated[Principal, Depends(require(EVERYONE))]


@router.get("", response_model=IngestionList)
async def list_ingestions(
    principal: ReaderDep, services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    dataset: Annotated[str | None, Query(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = None,
) -> dict[str, Any]:
    """Most recent first: file name, status, rows loaded and quarantined, the one-line rejection reason."""
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT dataset, source_file AS file, status, reason, rows_bronze, rows_quarantined, source_system, "
            "ingested_at FROM atlas_meta.ingestions WHERE %(dataset)s::text IS NULL OR dataset = %(dataset)s "
            "ORDER BY ingested_at DESC, ingestion_id DESC LIMIT %(limit)s",
            {"dataset": dataset, "limit": limit},
        )
        rows = await cur.fetchall()
    return {"items": rows}
