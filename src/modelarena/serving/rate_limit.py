"""Requests-per-minute limits per caller: a token bucket in memory, or a one-minute
window counter in Redis shared by every gateway replica.

While Redis is unreachable a Redis limiter raises `SharedStateUnavailable`; its user
decides: API keys refuse (503), the arena counts in this process meanwhile
(`FallbackRateLimiter`).
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from modelarena.serving.shared_state import RedisConnection, SharedStateUnavailable


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
        self._redis = RedisConnection(url)
        self._prefix = f"{prefix}:rate:"

    async def hit(self, caller: str, rpm: int) -> float | None:
        now = time.time()
        window = math.floor(now / 60)
        key = f"{self._prefix}{caller}:{window}"

        async def count(client) -> int:
            async with client.pipeline(transaction=True) as pipe:
                total, _ = await pipe.incr(key).expire(key, 120).execute()
            return total

        if await self._redis.run(count) > rpm:
            return (window + 1) * 60 - now
        return None

    async def close(self) -> None:
        await self._redis.close()


class FallbackRateLimiter:
    """`primary`, or while it is unavailable, a limiter in this process: the limit then
    holds per gateway process instead of across all of them."""

    def __init__(self, primary: RateLimiter) -> None:
        self._primary = primary
        self._fallback = MemoryRateLimiter()

    async def hit(self, caller: str, rpm: int) -> float | None:
        try:
            return await self._primary.hit(caller, rpm)
        except SharedStateUnavailable:
            return await self._fallback.hit(caller, rpm)

    async def close(self) -> None:
        await self._fallback.close()


def make_rate_limiter(redis_url: str | None, prefix: str = "modelarena") -> RateLimiter:
    return RedisRateLimiter(redis_url, prefix) if redis_url else MemoryRateLimiter()
