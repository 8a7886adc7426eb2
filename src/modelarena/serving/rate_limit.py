"""Requests-per-minute limits per caller: a token bucket in memory, or a one-minute
window counter in Redis shared by every gateway replica.
"""

from __future__ import annotations

import math
import time
from typing import Protocol


class RateLimiter(Protocol):
    async def hit(self, caller: str, rpm: int) -> float | None:
        """Count one request; None when allowed, else seconds until the next is."""
        ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """A token bucket per caller holding up to `rpm` tokens, refilled at rpm/60 per s."""

    MAX_CALLERS = 100_000

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def hit(self, caller: str, rpm: int) -> float | None:
        now = time.monotonic()
        if len(self._buckets) > self.MAX_CALLERS:
            # A bucket untouched for a minute is full again: forgetting it changes nothing.
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
        tokens, last = self._buckets.get(caller, (float(rpm), now))
        rate = rpm / 60.0
        tokens = min(float(rpm), tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[caller] = (tokens - 1.0, now)
        return None

    async def close(self) -> None:
        self._buckets.clear()


class RedisRateLimiter:
    """A fixed one-minute window per caller, counted atomically in Redis."""

    def __init__(self, url: str, prefix: str = "modelarena") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = f"{prefix}:rate:"

    async def hit(self, caller: str, rpm: int) -> float | None:
        now = time.time()
        window = math.floor(now / 60)
        key = f"{self._prefix}{caller}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(key).expire(key, 120).execute()
        if count > rpm:
            return (window + 1) * 60 - now
        return None

    async def close(self) -> None:
        await self._redis.aclose()


def make_rate_limiter(redis_url: str | None, prefix: str = "modelarena") -> RateLimiter:
    return RedisRateLimiter(redis_url, prefix) if redis_url else MemoryRateLimiter()
