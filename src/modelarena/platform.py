"""The composition root: builds the running platform from the settings (the serving
services, the arena over them) and the one web app that mounts every surface, then serves
it with uvicorn. The only module that knows every part; no part knows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from anyio import to_thread
from fastapi import FastAPI

from modelarena import __version__
from modelarena.arena import web as arena_web
from modelarena.arena.assembly import Arena, build_arena
from modelarena.config import Settings
from modelarena.errors import StartupError
from modelarena.serving import gateway, workers_api
from modelarena.serving.services import Services
from modelarena.serving.worker import Announcer
from modelarena.web import docs_page, openapi
from modelarena.web.errors import add_error_handlers
from modelarena.web.guards import BodyLimit, HostCheck

log = logging.getLogger("modelarena")


@dataclass
class Platform:
    """Everything a running server holds: the serving services and, with a database, the
    arena."""

    services: Services
    arena: Arena | None

    @classmethod
    async def start(cls, settings: Settings, *, use_database: bool = True) -> Platform:
        services = await Services.start(settings, use_database=use_database)
        arena = None
        if services.db is not None:
            arena = await to_thread.run_sync(
                build_arena,
                settings,
                services.db,
                services.router,
                services.limiter,
                services.models.catalog,
            )
        return cls(services, arena)


def create_app(platform: Platform, announcer: Announcer | None = None) -> FastAPI:
    """An app over an already-started platform; its lifespan runs the background loops
    and, for a worker, the announcer that keeps it registered with its gateway. Shutdown
    closes everything here: after a SIGTERM, uvicorn re-raises the signal once it returns,
    so nothing after `serve()` would run."""
    services, arena = platform.services, platform.arena

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        services.start_background()
        tasks = [asyncio.create_task(announcer.run())] if announcer else []
        if arena is not None:
            tasks.append(asyncio.create_task(arena.leaderboard.run()))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if announcer:
            await announcer.leave()
        await services.close()

    app = FastAPI(
        title="modelarena",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # docs_page serves it without a CDN
        redoc_url=None,
        responses=openapi.errors(400, 413),
    )
    app.openapi = lambda: openapi.document(app)  # type: ignore[method-assign]
    docs_page.mount(app)
    app.state.services = services
    app.include_router(gateway.router)
    app.include_router(workers_api.router)
    if arena is not None:
        arena_web.mount(app, arena)
    settings = services.settings
    app.add_middleware(BodyLimit, limit_for=_body_limits(settings))
    if settings.host_names != ["*"]:
        app.add_middleware(HostCheck, allowed=settings.host_names)
    add_error_handlers(app)
    return app


def _body_limits(settings: Settings) -> Callable[[str], int]:
    """The largest request body of each path: the arena's own limits on its API,
    `max_body_bytes` everywhere else (/v1)."""

    def limit_for(path: str) -> int:
        arena = arena_web.body_limit(path, settings.arena.image_max_bytes)
        return settings.max_body_bytes if arena is None else arena

    return limit_for


def run(
    settings: Settings, *, use_database: bool = True, announcer: Announcer | None = None
) -> int:
    """Serve until interrupted; returns the process exit status."""
    # Database calls run in worker threads that hold the GIL in pure Python (the ORM); the
    # event loop waits up to one switch interval each time it wants the GIL back. 1 ms
    # instead of 5 ms keeps those waits out of request latency.
    sys.setswitchinterval(0.001)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_serve(settings, use_database, announcer))
    return uvloop.run(_serve(settings, use_database, announcer))


async def _serve(settings: Settings, use_database: bool, announcer: Announcer | None) -> int:
    try:
        platform = await Platform.start(settings, use_database=use_database)
    except StartupError as exc:
        log.error("%s", exc)
        return 1
    try:
        app = create_app(platform, announcer)
        _tune_garbage_collector()
        # X-Forwarded-For names the client only when a proxy we trust wrote it: believed
        # from anyone, a client could claim a new address per request and escape every
        # per-IP limit (uvicorn's own default trusts 127.0.0.1).
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            lifespan="on",
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or "",
        )
        if settings.host_names == ["*"]:
            log.warning(
                "bound to %s and answering to any host name: set allowed_hosts to "
                "the names clients use (see docs/security.md)",
                settings.host,
            )
        server = uvicorn.Server(config)
        names = ", ".join(platform.services.router.model_names())
        log.info(
            "modelarena listening on http://%s:%d — models: %s", settings.host, settings.port, names
        )
        await server.serve()
        return 0 if server.started else 1
    finally:
        # Done already by the app's shutdown, unless it never ran.
        await platform.services.close()


def _tune_garbage_collector() -> None:
    """Keep the collector's pauses out of request latency: everything loaded at start-up
    (modules, models, the ORM's mappings) moves out of the collector's sight, so a full
    collection only walks what requests created since."""
    gc.collect()
    gc.freeze()
