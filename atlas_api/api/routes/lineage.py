"""``/lineage/{dataset}``: the dataset's assets with everything upstream and downstream of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from atlas_api.api.deps import DatasetPath, ReaderDep, ServicesDep
from atlas_api.api.routes.assets import CACHE_HEADER
from atlas_api.core.problems import not_found
from atlas_api.models import LineageOut

router = APIRouter(prefix="/lineage", tags=["lineage"])


@router.get("/{dataset}", response_model=LineageOut, responses={404: {"description": "Unknown dataset"}})
async def lineage(
    dataset: DatasetPath, principal: ReaderDep, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """Upstream/downstream graph of a dataset (nodes and edges between asset keys)."""
    catalog = await services.catalog()
    graph = catalog.lineage(dataset)
    if graph is None:
        raise not_found(f"unknown dataset {dataset!r}")
    response.headers[CACHE_HEADER] = "catalog"
    return graph
