"""``/data/<layer>/{table}``: pages of warehouse rows, one route per layer so each has its roles.

Tables are looked up in the asset graph (never taken from the path into SQL). Raw values of PII
columns and the raw CSV line never leave the warehouse through the API: they come back as null and
are listed in ``masked_columns``. Silver serves the anonymized values its PII stage wrote (decrypting
an ``encrypt`` column's tokens is ``POST /pii/decrypt``: admin only, audited).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from atlas_api.api.deps import ServicesDep, TablePath, require
from atlas_api.api.routes.assets import CACHE_HEADER
from atlas_api.core import reads
from atlas_api.core.problems import not_found
from atlas_api.core.services import Services
from atlas_api.models import TablePage
from atlas_core import layout
from atlas_core.roles import DATA_ACCESS

router = APIRouter(prefix="/data", tags=["data"])
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page (at most ATLAS_API_PAGE_MAX)")]
Offset = Annotated[int, Query(ge=0, le=10**9)]


async def masked_columns(services: Services, layer: str, dataset: str) -> set[str]:
    """Columns whose values the API withholds (returns as null).

    Bronze holds raw values: every PII column (declared or detected) and the raw line are withheld.
    Silver holds what the PII stage published (hashed, masked, encrypted, pseudonymised); only PII
    columns left as they were (strategy ``keep`` or none) are withheld there.
    """
    if layer not in ("bronze", "silver"):
        return set()
    declared = reads.declared_pii_columns(services.contracts.get(dataset))
    async with services.pool.connection() as conn:
        reported = await reads.reported_pii_columns(conn, dataset)
    if layer == "bronze":
        return {layout.RAW_LINE, *declared, *reported}
    strategies = {**reported, **{c: d["strategy"] for c, d in declared.items() if d["strategy"] is not None}}
    for column in declared:
        strategies.setdefault(column, None)
    return {layout.RAW_LINE} | {c for c, strategy in strategies.items() if strategy in (None, "keep")}


async def page(
    services: Services, layer: str, table: str, limit: int, offset: int, response: Response
) -> dict[str, Any]:
    catalog = await services.catalog()
    asset = catalog.table(layer, table)
    if asset is None:
        raise not_found(f"no {layer} table {table!r}")
    limit = min(limit, services.settings.api_page_max)

    async def compute() -> dict[str, Any]:
        masked = await masked_columns(services, layer, asset.dataset)
        async with services.pool.connection() as conn:
            body = await reads.read_page(conn, layer, table, limit, offset, masked)
        return {"layer": layer, "table": table, "limit": limit, "offset": offset, **body}

    if layer in ("gold", "ai_ready"):
        value, where = await services.cache.get_or_compute(
            "data", {"layer": layer, "table": table, "limit": limit, "offset": offset}, compute
        )
    else:
        # Bronze and silver pages are not cached: nothing from below the PII boundary goes to Redis.
        value, where = await compute(), "uncached"
    response.headers[CACHE_HEADER] = where
    return value


def _route(layer: str) -> None:
    reader = require(DATA_ACCESS[layer])

    async def read(
        table: TablePath,
        services: ServicesDep,
        response: Response,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        return await page(services, layer, table, limit, offset, response)

    read.__doc__ = f"Rows of atlas_{layer}.<table>, ordered by its first column."
    router.add_api_route(
        f"/{layer}/{{table}}",
        read,
        methods=["GET"],
        response_model=TablePage,
        name=f"read_{layer}",
        dependencies=[Depends(reader)],
        responses={404: {"description": "Unknown table"}},
    )


for _layer in ("bronze", "silver", "gold", "ai_ready"):
    _route(_layer)
