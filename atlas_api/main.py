"""The FastAPI application: ``create_app(settings)`` wires pool, Dagster gateway, cache, limits and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from atlas_api.api.main import api_router
from atlas_api.api.routes import dashboard, health
from atlas_api.core.cache import ResponseCache
from atlas_api.core.config import ApiSettings
from atlas_api.core.dagster import DagsterGateway
from atlas_api.core.db import make_pool
from atlas_api.core.metrics import ApiMetrics
from atlas_api.core.middleware import RequestContextMiddleware
from atlas_api.core.problems import install_problem_handlers, problem_response
from atlas_api.core.ratelimit import RateLimiter
from atlas_api.core.services import Services
from atlas_core import tracing
from atlas_core.contracts import load_contracts
from atlas_core.errors import AtlasError

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = structlog.get_logger("atlas.api")


def build_services(settings: ApiSettings, metrics: ApiMetrics) -> Services:
    if not settings.postgres_url:
        raise AtlasError("ATLAS_POSTGRES_URL is not set: start the API with `atlas api` or `atlas up`")
    namespace = settings.cache_namespace()
    gateway = DagsterGateway(settings.graphql_url(), submit_threads=settings.api_submit_threads)
    services_ref: dict[str, Services] = {}

    async def watermark() -> str:
        return await services_ref["services"].watermark()

    cache = ResponseCache(
        ttl=settings.api_cache_ttl_seconds,
        check_seconds=settings.api_cache_check_seconds,
        namespace=namespace,
        redis_url=settings.redis_url,
        watermark=watermark,
        on_result=lambda result: metrics.cache.labels(result).inc(),
    )
    services = Services(
        settings=settings,
        pool=make_pool(settings.postgres_url, settings.api_pool_size),
        dagster=gateway,
        cache=cache,
        limiter=RateLimiter(settings.api_trigger_rate_limit, namespace, settings.redis_url),
        metrics=metrics,
        contracts={c.dataset: c for c in load_contracts(settings.resolved_contracts_dir())},
    )
    services_ref["services"] = services
    return services


def create_app(settings: ApiSettings) -> FastAPI:
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracing.configure_tracing("atlas-api")  # only when OTEL_EXPORTER_OTLP_ENDPOINT asks for it
        services = build_services(settings, metrics)
        await services.pool.open(wait=True, timeout=30)
        app.state.services = services
        try:
            yield
        finally:
            await services.aclose()

    app = FastAPI(
        title="Atlas API",
        version="1.0.0",
        summary="Runs, backfills, quality, lineage and data of the Atlas medallion platform, with roles.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
        # FastAPI's native spans record url.path/url.query (values, tokens): Atlas' middleware traces
        # each request by route template instead (atlas_api/core/middleware.py).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never a traceback to the client: the type only (the server's log has the details).
        log.error(
            "unhandled_error",
            error=type(exc).__name__,
            route=getattr(request.scope.get("route"), "path", None),
            exc_info=exc,
        )
        return problem_response(request, 500, f"unexpected {type(exc).__name__}")

    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.include_router(api_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api_cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After", "X-Atlas-Cache"],
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
