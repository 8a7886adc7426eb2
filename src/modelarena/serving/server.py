"""Runs a gateway or worker: start the services, then uvicorn on the same event loop."""

from __future__ import annotations

import asyncio
import logging

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
        config = uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="warning",
            access_log=False, timeout_graceful_shutdown=5, lifespan="on",
        )
        server = uvicorn.Server(config)
        names = ", ".join(services.router.model_names())
        log.info("modelarena listening on http://%s:%d — models: %s",
                 settings.host, settings.port, names)
        await server.serve()
        return 0 if server.started else 1
    finally:
        await services.close()  # done already by the app's shutdown, unless it never ran
