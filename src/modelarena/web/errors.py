"""Every error an HTTP surface answers, in OpenAI's shape: our own errors, validation
errors (400, naming the parameter), HTTP errors of the framework (404, 405 with every
method of the path, 413), and anything unexpected (a logged 500)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from modelarena.errors import APIError
from modelarena.web.responses import JSONResponse

log = logging.getLogger(__name__)


def _most_telling(errors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Of pydantic's errors, the one to report: for a value that may take several shapes
    (`stop`: a string or a list), a broken limit says more than "not a string"."""
    if not errors:
        return {}
    return min(errors, key=lambda e: str(e.get("type", "")).endswith("_type"))


def _param(location: Sequence[Any]) -> str | None:
    """A dotted parameter name from pydantic's location, without where it came from
    (body, query, path, header, cookie) and the names of the shapes pydantic tried
    (`list[constrained-str]`, `TextPart`)."""
    parts = [str(part) for part in location]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    kept = [p for p in parts if not _SHAPE.search(p) and p not in _TYPE_NAMES]
    return ".".join(kept) or None


_SHAPE = re.compile(r"[\[\]-]|^[A-Z]")
_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict"}
_SOURCES = {"body", "query", "path", "header", "cookie"}


def _methods_of(request: Request) -> list[str]:
    """The methods some route of the request's path accepts."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = _most_telling(exc.errors())
        param = _param(first.get("loc", ()))
        message = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error")
            message = "The request body is not valid JSON" + (f": {reason}." if reason else ".")
            param = None
        elif param:
            message = f"Invalid value for '{param}': {message}"
        return JSONResponse(
            APIError(400, message, param=param, code="invalid_request").body(),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else None
        message = str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            message = "No such route. The OpenAI API lives under /v1, the arena's under /api."
        if exc.status_code == 405:  # every route of the path, not just the first one's
            allowed = _methods_of(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"This path takes {', '.join(allowed)} requests."
        code = {413: "request_too_large", 405: "method_not_allowed"}.get(exc.status_code)
        return JSONResponse(
            APIError(exc.status_code, message, type=kind, code=code).body(),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        error = APIError(
            500,
            f"Internal error ({type(exc).__name__}); it has been logged.",
            type="server_error",
            code="internal_error",
        )
        return JSONResponse(error.body(), status_code=500)
