"""The API's documentation page (`/docs`): Swagger UI over the OpenAPI document, with its
script, style sheet and icon served by this server (the fastapi-offline package ships
them), so the page works without reaching any other site.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

from modelarena.errors import APIError

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


@functools.cache
def _asset(name: str) -> bytes:
    return (resources.files("fastapi_offline") / "static" / name).read_bytes()


def mount(app: FastAPI, path: str = "/docs") -> None:
    """Swagger UI at `path`, its files under `path`/assets/."""

    @app.get(path, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        assets = f"{root}{path}/assets"
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            # No badge from the online validator: nothing outside this server is asked.
            swagger_ui_parameters={"validatorUrl": None},
        )
        # The page's language, for screen readers (FastAPI's template names none).
        return HTMLResponse(bytes(page.body).replace(b"<html>", b'<html lang="en">', 1))

    @app.get(path + "/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            raise APIError(404, f"No documentation file {name!r}.", code="not_found")
        return Response(
            _asset(name),
            media_type=ASSETS[name],
            headers={"Cache-Control": "public, max-age=86400"},
        )
