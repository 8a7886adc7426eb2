"""A remote worker's announcer: registers the worker with a gateway (over HTTP) or in
Redis, repeats it as a heartbeat, and says goodbye on shutdown.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from modelarena.serving.worker_registry import RedisRegistry, WorkerRecord

log = logging.getLogger(__name__)


class Announcer:
    def __init__(
        self,
        record: WorkerRecord,
        *,
        gateway_url: str | None,
        redis_url: str | None,
        redis_prefix: str = "modelarena",
        secret: str | None,
        heartbeat_s: float,
    ) -> None:
        if not gateway_url and not redis_url:
            raise ValueError("a worker needs --gateway URL or --redis URL to announce itself")
        self.record = record
        self._gateway = gateway_url.rstrip("/") if gateway_url else None
        self._redis = RedisRegistry(redis_url, redis_prefix) if redis_url else None
        self._headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self._heartbeat = heartbeat_s
        self._registered = False

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=5.0, headers=self._headers) as client:
            while True:
                try:
                    await self._announce(client)
                    if not self._registered:
                        log.info("registered %s as worker %s", self.record.model, self.record.id)
                    self._registered = True
                except Exception as exc:
                    log.warning("cannot register with the gateway (will retry): %s", exc)
                    self._registered = False
                await asyncio.sleep(self._heartbeat)

    async def _announce(self, client: httpx.AsyncClient) -> None:
        if self._redis:
            await self._redis.upsert(self.record, ttl_s=3 * self._heartbeat)
            return
        response = await client.post(f"{self._gateway}/internal/workers", json=self.record.__dict__)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code} {response.text[:300]}")
        ttl = response.json().get("ttl_s")
        if ttl and self._heartbeat > ttl / 3:
            # Heartbeats must arrive well inside the gateway's TTL, or the worker flaps.
            log.warning(
                "heartbeat %.1f s is too slow for the gateway's %.1f s TTL; using %.1f s",
                self._heartbeat,
                ttl,
                ttl / 3,
            )
            self._heartbeat = ttl / 3

    async def leave(self) -> None:
        try:
            if self._redis:
                await self._redis.remove(self.record.id)
                await self._redis.close()
            else:
                async with httpx.AsyncClient(timeout=3.0, headers=self._headers) as client:
                    await client.delete(f"{self._gateway}/internal/workers/{self.record.id}")
        except Exception as exc:
            log.warning("could not unregister cleanly: %s", exc)
