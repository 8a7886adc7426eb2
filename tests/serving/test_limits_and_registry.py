"""Rate limiters and worker registries, in memory and in the machine's real Redis."""

import asyncio
import uuid

from modelarena.serving.rate_limit import MemoryRateLimiter, RedisRateLimiter
from modelarena.serving.worker_registry import MemoryRegistry, RedisRegistry, WorkerRecord


def test_memory_limiter_allows_rpm_then_says_when_to_retry():
    async def scenario():
        limiter = MemoryRateLimiter()
        results = [await limiter.hit("k", 3) for _ in range(4)]
        assert results[:3] == [None, None, None]
        assert 0 < results[3] <= 20.0  # one token refills in 60/3 s
        assert await limiter.hit("other", 3) is None

    asyncio.run(scenario())


def test_redis_limiter_counts_across_instances(redis_url):
    async def scenario():
        prefix = f"test-{uuid.uuid4().hex[:8]}"
        first, second = RedisRateLimiter(redis_url, prefix), RedisRateLimiter(redis_url, prefix)
        assert await first.hit("k", 2) is None
        assert await second.hit("k", 2) is None
        wait = await first.hit("k", 2)
        assert wait is not None and 0 < wait <= 60
        await first.close()
        await second.close()

    asyncio.run(scenario())


def record(worker_id: str) -> WorkerRecord:
    return WorkerRecord(worker_id, "m", f"http://127.0.0.1:1/{worker_id}", {"organization": "o"})


def test_memory_registry_expires_silent_workers():
    async def scenario():
        registry = MemoryRegistry()
        await registry.upsert(record("a"), ttl_s=0.05)
        await registry.upsert(record("b"), ttl_s=60)
        assert {r.id for r in await registry.alive()} == {"a", "b"}
        await asyncio.sleep(0.1)
        assert [r.id for r in await registry.alive()] == ["b"]
        await registry.remove("b")
        assert await registry.alive() == []

    asyncio.run(scenario())


def test_redis_registry_is_shared_and_expires(redis_url):
    async def scenario():
        prefix = f"test-{uuid.uuid4().hex[:8]}"
        one, two = RedisRegistry(redis_url, prefix), RedisRegistry(redis_url, prefix)
        await one.upsert(record("a"), ttl_s=0.3)
        await one.upsert(record("b"), ttl_s=60)
        assert {r.id for r in await two.alive()} == {"a", "b"}
        assert (await two.alive())[0].metadata == {"organization": "o"}
        await asyncio.sleep(0.5)
        assert [r.id for r in await two.alive()] == ["b"]
        await two.remove("b")
        assert await one.alive() == []
        await one.close()
        await two.close()

    asyncio.run(scenario())
