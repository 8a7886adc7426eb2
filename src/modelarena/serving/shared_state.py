"""The connection to Redis, where gateway replicas share rate-limit counters and the worker
registry. An unreachable Redis must cost a request microseconds, not seconds, and the log
a line per outage, not a line per request: timeouts are short, a failed call is not
retried with backoff, and after a failure calls fail at once for a pause before Redis is
tried again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
PAUSE_S = 5.0  # after a failure, calls fail at once for this long


class SharedStateUnavailable(Exception):
    """Redis cannot be reached; the caller decides whether to refuse or go on without."""


class RedisConnection:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._errors = redis.RedisError
        # One immediate retry covers a kept-alive connection that Redis closed meanwhile.
        self.client = redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=2.0, retry=Retry(NoBackoff(), 1)
        )
        self._down_until = 0.0
        self._down = False

    async def run(self, operation: Callable[[Any], Awaitable[T]]) -> T:
        """`operation(client)`, or `SharedStateUnavailable` while Redis is unreachable."""
        if time.monotonic() < self._down_until:
            raise SharedStateUnavailable("Redis is unreachable")
        try:
            result = await operation(self.client)
        except self._errors as exc:
            self._down_until = time.monotonic() + PAUSE_S
            if not self._down:
                self._down = True
                log.error("Redis is unreachable (%s); trying again every %.0f s", exc, PAUSE_S)
            raise SharedStateUnavailable("Redis is unreachable") from exc
        if self._down:
            self._down = False
            log.info("Redis is reachable again")
        return result

    async def close(self) -> None:
        await self.client.aclose()
