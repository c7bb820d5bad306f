"""``/api/v1``: every versioned router in one place."""

from __future__ import annotations

from fastapi import APIRouter

from atlas_api.api.routes import (
    api_keys,
    assets,
    auth,
    backfills,
    data,
    datasets,
    ingestions,
    lineage,
    pii,
    quality,
    run_events,
    runs,
    users,
)

API_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_PREFIX)
api_router.include_router(auth.router)
api_router.include_router(auth.me_router)
api_router.include_router(users.router)
api_router.include_router(api_keys.router)
api_router.include_router(assets.router)
api_router.include_router(lineage.router)
api_router.include_router(quality.router)
api_router.include_router(runs.router)
api_router.include_router(run_events.router)
api_router.include_router(backfills.router)
api_router.include_router(datasets.router)
api_router.include_router(ingestions.router)
api_router.include_router(data.router)
api_router.include_router(pii.router)
