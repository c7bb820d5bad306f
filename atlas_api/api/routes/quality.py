"""``/quality/{dataset}``: the six dimension scores (latest), their history per run and their trend."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from atlas_api.api.deps import DatasetPath, ReaderDep, ServicesDep
from atlas_api.api.routes.assets import CACHE_HEADER
from atlas_api.core import reads
from atlas_api.core.problems import not_found
from atlas_api.core.services import Services
from atlas_api.models import QualityOut

router = APIRouter(prefix="/quality", tags=["quality"])


async def build_quality(services: Services, dataset: str) -> dict[str, Any]:
    catalog = await services.catalog()
    async with services.pool.connection() as conn:
        latest = {r["dimension"]: r for r in await reads.quality_latest(conn, dataset)}
        history = await reads.quality_history(conn, dataset)
        trend = await reads.quality_trend(conn, dataset, services.settings.quality_trend_loads)
    dimensions = [
        {k: reads.json_value(v) for k, v in latest[d].items()}
        if d in latest
        else {"dimension": d, "score": None}
        for d in reads.DIMENSIONS
    ]
    checks = [c for a in catalog.assets.values() if a.dataset == dataset for c in a.checks]
    return {
        "dataset": dataset,
        "dimensions": dimensions,
        "history": [{**h, "evaluated_at": reads.json_value(h["evaluated_at"])} for h in history],
        "checks": checks,
        "trend": trend,
    }


@router.get("/{dataset}", response_model=QualityOut, responses={404: {"description": "Unknown dataset"}})
async def quality(
    dataset: DatasetPath, principal: ReaderDep, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """Completeness, validity, consistency, accuracy, timeliness, uniqueness: latest scores, history, and the
    trend of each dimension over the last loads (``ATLAS_QUALITY_TREND_LOADS``) with its trailing median."""
    catalog = await services.catalog()
    if dataset not in catalog.datasets():
        raise not_found(f"unknown dataset {dataset!r}")
    value, where = await services.cache.get_or_compute(
        "quality", {"dataset": dataset}, lambda: build_quality(services, dataset)
    )
    response.headers[CACHE_HEADER] = where
    return value
