"""The arena's HTTP surface on an app: its JSON/SSE API, the admin API, the pages, and
the visitor cookie on every path of theirs; and the body limits of its API."""

from __future__ import annotations

from fastapi import FastAPI

from modelarena.arena import admin, api, continuity, leaderboard_api, pages, topic_api
from modelarena.arena.assembly import Arena
from modelarena.arena.visitors import VisitorCookieMiddleware

PATHS = ("/api/", "/side-by-side", "/chat", "/leaderboard", "/about")
API_BODY_BYTES = 1024 * 1024  # prompts are short; images have their own limit
FORM_OVERHEAD_BYTES = 64 * 1024


def mount(app: FastAPI, arena: Arena) -> None:
    app.state.arena = arena
    app.include_router(api.router)
    app.include_router(continuity.router)
    app.include_router(leaderboard_api.router)
    app.include_router(topic_api.router)
    app.include_router(admin.router)
    app.include_router(pages.router)
    app.include_router(continuity.pages)
    app.add_middleware(VisitorCookieMiddleware, prefixes=PATHS)


def body_limit(path: str, image_max_bytes: int) -> int | None:
    """The largest request body an arena path takes; None for paths not the arena's."""
    if path == "/api/images":
        return image_max_bytes + FORM_OVERHEAD_BYTES
    if path.startswith("/api/"):
        return API_BODY_BYTES
    return None
