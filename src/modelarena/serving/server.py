"""Runs a gateway or worker: start the services, then uvicorn on the same event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

import uvicorn

from modelarena.config import Settings
from modelarena.serving.app import create_app
from modelarena.serving.services import Services, StartupError
from modelarena.serving.worker import Announcer

log = logging.getLogger("modelarena")


def run_server(
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
        services = await Services.start(settings, use_database=use_database)
    except StartupError as exc:
        log.error("%s", exc)
        return 1
    try:
        app = create_app(services, announcer)
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
        names = ", ".join(services.router.model_names())
        log.info(
            "modelarena listening on http://%s:%d — models: %s", settings.host, settings.port, names
        )
        await server.serve()
        return 0 if server.started else 1
    finally:
        await services.close()  # done already by the app's shutdown, unless it never ran


def _tune_garbage_collector() -> None:
    """Keep the collector's pauses out of request latency: everything loaded at start-up
    (modules, models, the ORM's mappings) moves out of the collector's sight, so a full
    collection only walks what requests created since."""
    gc.collect()
    gc.freeze()
