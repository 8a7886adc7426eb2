"""Everything a running gateway holds: settings, database, router with its engines, the
live models that follow the model registry, auth, metrics and the worker registry —
started before the server listens and closed after it stops. Background loops keep backend
health, registered models and workers current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from anyio import to_thread

from modelarena.config import Settings
from modelarena.engines.openai_upstream import OpenAIUpstreamEngine
from modelarena.errors import StartupError
from modelarena.serving.auth import Auth
from modelarena.serving.live_models import LiveModels
from modelarena.serving.metrics import Metrics
from modelarena.serving.rate_limit import RateLimiter, make_rate_limiter
from modelarena.serving.router import Backend, Router
from modelarena.serving.shared_state import SharedStateUnavailable
from modelarena.serving.worker_registry import Registry, WorkerRecord, make_registry
from modelarena.store.db import Database, shown_url

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    router: Router
    models: LiveModels
    auth: Auth
    metrics: Metrics
    registry: Registry
    limiter: RateLimiter
    db: Database | None
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _closed: bool = False

    @classmethod
    async def start(cls, settings: Settings, *, use_database: bool = True) -> Services:
        """Open the database, load every configured model, and connect the registry."""
        db = None
        if use_database:
            db = Database(settings.database_url)
            try:
                await to_thread.run_sync(db.migrate)
            except Exception as exc:
                shown = shown_url(settings.database_url)
                raise StartupError(f"database {shown}: {exc}") from exc
        router = Router()
        models = LiveModels(settings, db, router)
        await models.start()
        limiter = make_rate_limiter(settings.redis_url, settings.redis_prefix)
        services = cls(
            settings=settings,
            router=router,
            models=models,
            auth=Auth(settings, db, limiter),
            metrics=Metrics(router),
            registry=make_registry(settings.redis_url, settings.redis_prefix),
            limiter=limiter,
            db=db,
        )
        return services

    def start_background(self) -> None:
        self._tasks = [
            asyncio.create_task(
                self._every(self.settings.health_interval_s, self.router.check_health)
            ),
            asyncio.create_task(
                self._every(min(1.0, self.settings.worker_ttl_s / 4), self.sync_workers)
            ),
            asyncio.create_task(self._every(self.settings.models_poll_s, self.models.poll)),
        ]

    async def close(self) -> None:
        """Stop the loops and release every engine and connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.models.close()
        for backend in self.router.backends():  # the workers'
            await backend.engine.close()
        await self.registry.close()
        await self.limiter.close()
        if self.db:
            self.db.close()
        log.info("all models and connections closed")

    @staticmethod
    async def _every(seconds: float, job) -> None:
        """Run `job` now and then every `seconds`. A failure is not fatal, and a job that
        keeps failing logs its first failure in full, then one line a minute."""
        name = getattr(job, "__name__", job)
        failures, next_report = 0, 0.0
        while True:
            try:
                await job()
                if failures:
                    log.info("background job %s works again after %d failures", name, failures)
                failures = 0
            except SharedStateUnavailable:
                pass  # the connection has logged the outage once
            except Exception:
                failures += 1
                now = time.monotonic()
                if failures == 1:
                    log.exception("background job %s failed", name)
                    next_report = now + 60
                elif now >= next_report:
                    log.error("background job %s is still failing (%d times)", name, failures)
                    next_report = now + 60
            await asyncio.sleep(seconds)

    async def sync_workers(self) -> None:
        """Make the router's worker backends match the registry's live workers."""
        alive = {record.id: record for record in await self.registry.alive()}
        current = {b.id: b for b in self.router.backends() if b.source == "worker"}
        for backend_id, backend in current.items():
            record = alive.get(backend_id.removeprefix("worker:"))
            engine = backend.engine
            moved = (
                isinstance(engine, OpenAIUpstreamEngine)
                and record is not None
                and (record.url.rstrip("/") != engine.base_url)
            )
            if record is None or moved:
                self.router.remove(backend_id)
                await backend.engine.close()
                log.info("worker %s for %s dropped (no heartbeat)", backend_id, backend.model)
        for record in alive.values():
            if f"worker:{record.id}" not in {b.id for b in self.router.backends()}:
                await self._add_worker(record)

    async def _add_worker(self, record: WorkerRecord) -> None:
        engine = OpenAIUpstreamEngine(
            name=record.model, base_url=record.url, api_key=self.settings.worker_secret
        )
        await engine.start()
        self.router.add(
            Backend(
                id=f"worker:{record.id}",
                model=record.model,
                engine=engine,
                metadata=record.metadata,
                source="worker",
            )
        )
        log.info("worker %s serves %s at %s", record.id, record.model, record.url)
