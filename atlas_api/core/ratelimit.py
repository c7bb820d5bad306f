"""Per-principal fixed-window rate limits (per minute), in Redis when configured, else in-process."""

from __future__ import annotations

import asyncio
import math
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

WINDOW_SECONDS = 60


class RateLimiter:
    def __init__(self, per_minute: int, namespace: str, redis_url: str | None) -> None:
        self.per_minute = per_minute
        self.namespace = namespace
        self._redis = aioredis.from_url(redis_url, socket_timeout=2) if redis_url else None
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def hit(self, bucket: str, principal: str) -> int | None:
        """Count one request; returns the seconds to wait (for ``Retry-After``) when over the limit."""
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        count = await self._incr(bucket, principal, window)
        return retry_after if count > self.per_minute else None

    async def _incr(self, bucket: str, principal: str, window: int) -> int:
        if self._redis is not None:
            key = f"{self.namespace}:rate:{bucket}:{principal}:{window}"
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, WINDOW_SECONDS * 2)
                    count, _ = await pipe.execute()
                return int(count)
            except RedisError:
                pass  # Redis down: fall back to this process' own count rather than failing requests
        async with self._lock:
            for old in [k for k in self._counts if k[2] < window]:
                del self._counts[old]
            key_local = (bucket, principal, window)
            self._counts[key_local] = self._counts.get(key_local, 0) + 1
            return self._counts[key_local]
