"""The FastAPI application: routes, OpenAI-shaped error handlers, background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelarena import __version__
from modelarena.errors import APIError
from modelarena.serving import gateway, workers_api
from modelarena.serving.openai_format import JSONResponse
from modelarena.serving.services import Services
from modelarena.serving.worker import Announcer

log = logging.getLogger(__name__)
ARENA_PATHS = ("/api/", "/side-by-side", "/chat", "/leaderboard", "/about")


def create_app(services: Services, announcer: Announcer | None = None) -> FastAPI:
    """An app over already-started services; its lifespan runs the background loops
    and, for a worker, the announcer that keeps it registered with its gateway. Shutdown
    closes everything here: after a SIGTERM, uvicorn re-raises the signal once it returns,
    so nothing after `serve()` would run."""

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        services.start_background()
        task = asyncio.create_task(announcer.run()) if announcer else None
        yield
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await announcer.leave()
        await services.close()

    app = FastAPI(title="modelarena", version=__version__, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.services = services
    app.include_router(gateway.router)
    app.include_router(workers_api.router)
    if services.arena is not None:
        from modelarena.arena import admin, api, pages
        from modelarena.arena.visitors import VisitorCookieMiddleware

        app.state.arena = services.arena
        app.include_router(api.router)
        app.include_router(admin.router)
        app.include_router(pages.router)
        app.add_middleware(VisitorCookieMiddleware, prefixes=ARENA_PATHS)
    add_error_handlers(app)
    return app


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        location = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(location) or None
        message = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            message, param = "The request body is not valid JSON.", None
        elif param:
            message = f"Invalid value for '{param}': {message}"
        return JSONResponse(
            APIError(400, message, param=param, code="invalid_request").body(),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        message = str(exc.detail)
        if exc.status_code == 404:
            message = "No such route. The OpenAI API lives under /v1, the arena's under /api."
        return JSONResponse(APIError(exc.status_code, message, type=kind).body(),
                              status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        error = APIError(500, f"Internal error ({type(exc).__name__}); it has been logged.",
                         type="server_error", code="internal_error")
        return JSONResponse(error.body(), status_code=500)
