"""``/assets``: every asset with layer, table, last materialization, checks and quality score."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response

from atlas_api.api.deps import ReaderDep, ServicesDep
from atlas_api.core import reads
from atlas_api.core.catalog import AssetInfo
from atlas_api.core.services import Services
from atlas_api.models import AssetList

router = APIRouter(prefix="/assets", tags=["assets"])
CACHE_HEADER = "X-Atlas-Cache"


def _check_status(asset: AssetInfo) -> str:
    statuses = [c["status"] for c in asset.checks]
    if not statuses:
        return "none"
    if any(s in ("FAILED", "EXECUTION_FAILED") for s in statuses):
        return "failed"
    if all(s == "SUCCEEDED" for s in statuses):
        return "passed"
    return "pending"


def _millis(value: str | float) -> datetime:
    return datetime.fromtimestamp(float(value) / 1000.0, UTC)


async def build_asset_list(services: Services) -> dict[str, Any]:
    catalog = await services.catalog()
    latest = await services.dagster.latest_info([a.path for a in catalog.assets.values()])
    last = {"/".join(i["assetKey"]["path"]): i.get("latestMaterialization") for i in latest}
    async with services.pool.connection() as conn:
        scores = await reads.quality_scores(conn)
    items = []
    for asset in catalog.assets.values():
        mat = last.get(asset.key)
        items.append(
            {
                "key": asset.key,
                "layer": asset.layer,
                "table": asset.table,
                "dataset": asset.dataset,
                "group": asset.group,
                "description": asset.description,
                "partitioned": asset.partitioned,
                "partitions_total": len(asset.partition_keys) if asset.partition_keys is not None else None,
                "upstream": list(asset.upstream),
                "downstream": list(asset.downstream),
                "last_materialization": (
                    {
                        "timestamp": _millis(mat["timestamp"]).isoformat(),
                        "run_id": mat["runId"],
                        "partition": mat["partition"],
                    }
                    if mat
                    else None
                ),
                "checks": list(asset.checks),
                "check_status": _check_status(asset),
                # Scores are measured on loads past bronze (silver rules, gold/ai_ready checks when present).
                "quality_score": scores.get(asset.dataset) if asset.layer != "bronze" else None,
            }
        )
    return {"items": items}


@router.get("", response_model=AssetList)
async def list_assets(principal: ReaderDep, services: ServicesDep, response: Response) -> dict[str, Any]:
    """All assets (cached; a new materialization invalidates the cache)."""
    value, where = await services.cache.get_or_compute("assets", {}, lambda: build_asset_list(services))
    response.headers[CACHE_HEADER] = where
    return value
