"""What one API instance holds while it runs: settings, pool, Dagster gateway, caches, limits, contracts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from atlas_api.core.cache import ResponseCache
from atlas_api.core.catalog import Catalog
from atlas_api.core.config import ApiSettings
from atlas_api.core.dagster import DagsterGateway
from atlas_api.core.db import Conn
from atlas_api.core.metrics import ApiMetrics
from atlas_api.core.ratelimit import RateLimiter
from atlas_core.contracts import Contract
from atlas_resources.lake import Lake, lake_from_settings


@dataclass
class Services:
    settings: ApiSettings
    pool: AsyncConnectionPool[Conn]
    dagster: DagsterGateway
    cache: ResponseCache
    limiter: RateLimiter
    metrics: ApiMetrics
    contracts: dict[str, Contract]
    _catalog: tuple[float, Catalog] | None = field(default=None, repr=False)
    _lake: Lake | None = field(default=None, repr=False)

    def lake(self) -> Lake:
        """The lake the pipeline uses (S3 when ``ATLAS_S3_ENDPOINT`` is set, else the local directory)."""
        if self._lake is None:
            self._lake = lake_from_settings(self.settings)
        return self._lake

    async def catalog(self) -> Catalog:
        """The asset graph, re-read from Dagster at most once per cache TTL (definitions change rarely)."""
        now = time.monotonic()
        if self._catalog is not None and now - self._catalog[0] < max(
            self.settings.api_cache_ttl_seconds, 1.0
        ):
            return self._catalog[1]
        catalog = Catalog.from_nodes(await self.dagster.asset_nodes())
        self._catalog = (now, catalog)
        return catalog

    async def watermark(self) -> str:
        """Latest materialization of every asset: changes whenever a new one lands."""
        catalog = await self.catalog()
        infos: list[dict[str, Any]] = await self.dagster.latest_info(
            [a.path for a in catalog.assets.values()]
        )
        marks = sorted(
            f"{'/'.join(i['assetKey']['path'])}@{(i.get('latestMaterialization') or {}).get('timestamp')}"
            for i in infos
        )
        return "|".join(marks)

    async def aclose(self) -> None:
        await self.cache.aclose()
        await self.limiter.aclose()
        await self.dagster.aclose()
        await self.pool.close()
