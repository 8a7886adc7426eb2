"""The arena's server-rendered pages (battle, side-by-side, chat, leaderboard, about,
admin) and their static files, Plotly's JavaScript included, served locally."""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from modelarena import __version__
from modelarena.arena.render import highlight_css
from modelarena.web.static_files import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
STATIC = StaticFiles.from_directory(
    WEB / "static", extra={"plotly.min.js": PLOTLY_JS, "highlight.css": highlight_css().encode()}
)
templates = Jinja2Templates(directory=WEB / "templates")
templates.env.globals["static_url"] = STATIC.url  # cacheable URLs, new when a file changes
router = APIRouter(include_in_schema=False)  # pages and files, not API

# Answers are sanitised before they reach a page; this policy is a second line of
# defence: no inline or foreign script can run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _page(request: Request, template: str, **context) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, {"version": __version__, "path": request.url.path, **context}
    )
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/", response_class=HTMLResponse)
async def battle(request: Request) -> HTMLResponse:
    return _page(request, "arena.html", mode="battle", title="Arena (battle)")


@router.get("/side-by-side", response_class=HTMLResponse)
async def side_by_side(request: Request) -> HTMLResponse:
    return _page(request, "arena.html", mode="side_by_side", title="Side by side")


@router.get("/chat", response_class=HTMLResponse)
async def chat(request: Request) -> HTMLResponse:
    return _page(request, "arena.html", mode="chat", title="Direct chat")


@router.get("/leaderboard", response_class=HTMLResponse)
async def leaderboard(request: Request) -> HTMLResponse:
    return _page(request, "leaderboard.html", title="Leaderboard")


@router.get("/about", response_class=HTMLResponse)
async def about(request: Request) -> HTMLResponse:
    return _page(request, "about.html", title="About")


@router.get("/admin", response_class=HTMLResponse)
async def admin(request: Request) -> HTMLResponse:
    return _page(request, "admin.html", title="Admin")


@router.get("/static/{name}")
async def static(request: Request, name: str) -> Response:
    return await STATIC.response(name, request.headers, request.query_params.get("v"))
