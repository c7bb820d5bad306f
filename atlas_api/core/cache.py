"""Read caching: in-process with a TTL, and in Redis (shared by API processes) when configured.

Entries are keyed on a *version*: the latest materialization of every asset (from Dagster's GraphQL
API, re-read at most every ``check_seconds``) plus a generation counter bumped by uploads. A new
materialization therefore changes the key, and the old entries are simply never read again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger("atlas.api.cache")
MAX_LOCAL_ENTRIES = 512


class ResponseCache:
    def __init__(
        self,
        *,
        ttl: float,
        check_seconds: float,
        namespace: str,
        redis_url: str | None,
        watermark: Callable[[], Awaitable[str]],
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.ttl = ttl
        self.check_seconds = check_seconds
        self.namespace = namespace
        self._watermark = watermark
        self._redis = aioredis.from_url(redis_url, socket_timeout=2) if redis_url else None
        self._on_result = on_result or (lambda _result: None)
        self._local: dict[str, tuple[float, Any]] = {}
        self._version: tuple[float, str] | None = None
        self._generation = 0
        self._version_lock = asyncio.Lock()

    @property
    def uses_redis(self) -> bool:
        return self._redis is not None

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def version(self) -> str:
        now = time.monotonic()
        if self._version is not None and now - self._version[0] < self.check_seconds:
            return self._version[1]
        async with self._version_lock:
            if self._version is not None and time.monotonic() - self._version[0] < self.check_seconds:
                return self._version[1]
            mark = await self._watermark()
            generation = await self._shared_generation()
            value = hashlib.sha256(f"{mark}|{generation}".encode()).hexdigest()[:16]
            self._version = (time.monotonic(), value)
            return value

    async def _shared_generation(self) -> str:
        if self._redis is None:
            return str(self._generation)
        try:
            return str(await self._redis.get(f"{self.namespace}:generation") or 0)
        except RedisError:
            return f"local-{self._generation}"

    async def invalidate(self) -> None:
        """Something changed that Dagster does not know about (an upload): forget everything."""
        self._generation += 1
        self._local.clear()
        self._version = None
        if self._redis is not None:
            try:
                await self._redis.incr(f"{self.namespace}:generation")
            except RedisError as exc:
                log.warning("cache_invalidate_failed", error=type(exc).__name__)

    async def get_or_compute(
        self, name: str, params: dict[str, Any], compute: Callable[[], Awaitable[Any]]
    ) -> tuple[Any, str]:
        """(value, where) with ``where`` one of ``memory``, ``redis``, ``miss``. Values must be JSON-able."""
        if self.ttl <= 0:
            return await compute(), "miss"
        version = await self.version()
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
        key = f"{self.namespace}:{name}:{version}:{digest}"
        now = time.monotonic()
        hit = self._local.get(key)
        if hit is not None and hit[0] > now:
            self._on_result("memory")
            return hit[1], "memory"
        if self._redis is not None:
            try:
                raw = await self._redis.get(key)
            except RedisError:
                raw = None
            if raw is not None:
                value = json.loads(raw)
                self._remember(key, value)
                self._on_result("redis")
                return value, "redis"
        value = await compute()
        self._remember(key, value)
        if self._redis is not None:
            try:
                await self._redis.set(key, json.dumps(value, default=str), ex=max(1, int(self.ttl)))
            except RedisError as exc:
                log.warning("cache_store_failed", error=type(exc).__name__)
        self._on_result("miss")
        return value, "miss"

    def _remember(self, key: str, value: Any) -> None:
        if len(self._local) >= MAX_LOCAL_ENTRIES:
            now = time.monotonic()
            self._local = {k: v for k, v in self._local.items() if v[0] > now}
            if len(self._local) >= MAX_LOCAL_ENTRIES:
                self._local.clear()
        self._local[key] = (time.monotonic() + self.ttl, value)
