"""``/health`` (liveness), ``/ready`` (Postgres and Dagster GraphQL reachable) and ``/metrics``; no auth."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from atlas_api.api.deps import ServicesDep
from atlas_api.core.pipeline_metrics import pipeline_metrics_text
from atlas_api.models import Health, Readiness

router = APIRouter(tags=["health"])
READY_TIMEOUT_SECONDS = 3.0


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/ready", response_model=Readiness, responses={503: {"model": Readiness, "description": "Not ready"}}
)
async def ready(services: ServicesDep) -> JSONResponse:
    """Ready when the warehouse answers ``SELECT 1`` and Dagster's GraphQL API answers."""

    async def postgres() -> str:
        async with services.pool.connection(timeout=READY_TIMEOUT_SECONDS) as conn:
            await conn.execute("SELECT 1")
        return "ok"

    async def dagster() -> str:
        await services.dagster.ping()
        return "ok"

    results: dict[str, str] = {}
    for name, probe in (("postgres", postgres), ("dagster", dagster)):
        try:
            results[name] = await asyncio.wait_for(probe(), READY_TIMEOUT_SECONDS)
        except Exception as exc:  # any failure means "not ready"; the reason is the exception type only
            results[name] = f"unavailable ({type(exc).__name__})"
    ok = all(v == "ok" for v in results.values())
    body = Readiness(status="ok" if ok else "unavailable", **results)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics of this API process, and of the pipeline (read from the warehouse's bookkeeping)."""
    pipeline = await pipeline_metrics_text(services.pool)
    return Response(generate_latest(services.metrics.registry) + pipeline, media_type=CONTENT_TYPE_LATEST)
