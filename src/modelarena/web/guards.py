"""Who may pass: ASGI guards in front of every route (the `Host` a request names must be
one of ours, against DNS rebinding; its body must fit the limit of its path, 413), which
answer in OpenAI's error shape before any route runs; and bearer-token checks.
"""

from __future__ import annotations

import fnmatch
import hmac
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelarena.errors import APIError
from modelarena.web.responses import JSONResponse


def host_name(header: str) -> str:
    """The name in a `Host` header, without its port: `[::1]:80` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheck:
    """Refuse requests whose `Host` is not an allowed name (`*.example.org` patterns
    allowed). A page on another site whose name a rebinding DNS points at this server
    sends its own name, so it is refused before it can drive the API."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = [name.lower() for name in allowed]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            name = host_name(header)
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allowed):
                error = APIError(
                    400,
                    f"This server does not answer to the host name {name!r}. "
                    "An operator can add it to the allowed_hosts setting.",
                    code="host_not_allowed",
                )
                await _answer(error, scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse a request body larger than `limit_for(path)` bytes: at once when
    Content-Length says so, else as soon as the bytes received pass the limit."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _answer(_too_large(limit), scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # Raised inside the route's body read; FastAPI passes HTTP exceptions on
                # to the error handlers, which answer in our shape.
                raise HTTPException(413, _too_large(limit).message)
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"The request body is larger than this endpoint's limit of {limit:,} bytes.",
        code="request_too_large",
    )


async def _answer(error: APIError, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(error.body(), status_code=error.status)
    await response(scope, receive, send)


def bearer_matches(request: Request, secret: str) -> bool:
    """Whether the request carries `Authorization: Bearer <secret>` (compared in constant
    time; the scheme is required)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), secret.encode()
    )
