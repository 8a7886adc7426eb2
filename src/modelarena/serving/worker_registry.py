"""The registry of remote workers: who serves which model at which URL, kept alive by
heartbeats. In memory for one gateway, or in Redis so that every replica sees the same
workers. A worker whose heartbeats stop expires after the TTL.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import orjson

from modelarena.serving.shared_state import RedisConnection


@dataclass(frozen=True)
class WorkerRecord:
    id: str
    model: str
    url: str
    metadata: dict[str, Any] = field(default_factory=dict)


class Registry(Protocol):
    async def upsert(self, record: WorkerRecord, ttl_s: float) -> None: ...
    async def remove(self, worker_id: str) -> None: ...
    async def alive(self) -> list[WorkerRecord]: ...
    async def close(self) -> None: ...


class MemoryRegistry:
    """Workers of this process only."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[WorkerRecord, float]] = {}

    async def upsert(self, record: WorkerRecord, ttl_s: float) -> None:
        self._records[record.id] = (record, time.monotonic() + ttl_s)

    async def remove(self, worker_id: str) -> None:
        self._records.pop(worker_id, None)

    async def alive(self) -> list[WorkerRecord]:
        now = time.monotonic()
        for worker_id, (_, expires) in list(self._records.items()):
            if expires < now:
                del self._records[worker_id]
        return [record for record, _ in self._records.values()]

    async def close(self) -> None:
        self._records.clear()


class RedisRegistry:
    """Workers shared by every gateway replica; Redis expires silent ones by key TTL.
    Raises `SharedStateUnavailable` while Redis is unreachable."""

    def __init__(self, url: str, prefix: str = "modelarena") -> None:
        self._redis = RedisConnection(url)
        self._prefix = f"{prefix}:worker:"

    async def upsert(self, record: WorkerRecord, ttl_s: float) -> None:
        await self._redis.run(
            lambda client: client.set(
                self._prefix + record.id, orjson.dumps(asdict(record)), px=int(ttl_s * 1000)
            )
        )

    async def remove(self, worker_id: str) -> None:
        await self._redis.run(lambda client: client.delete(self._prefix + worker_id))

    async def alive(self) -> list[WorkerRecord]:
        async def read(client) -> list[bytes | None]:
            keys = [key async for key in client.scan_iter(match=self._prefix + "*", count=500)]
            return await client.mget(keys) if keys else []

        return [
            WorkerRecord(**orjson.loads(v)) for v in await self._redis.run(read) if v is not None
        ]

    async def close(self) -> None:
        await self._redis.close()


def make_registry(redis_url: str | None, prefix: str = "modelarena") -> Registry:
    return RedisRegistry(redis_url, prefix) if redis_url else MemoryRegistry()
