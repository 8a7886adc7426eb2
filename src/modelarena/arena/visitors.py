"""Who is asking: the visitor cookie, the salted IP hash, same-origin checks on every
state-changing request, and per-visitor / per-IP rate limits."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from starlette.requests import cookie_parser

from modelarena.errors import APIError

COOKIE = "ma_visitor"
_VALID = re.compile(r"^[0-9a-f]{32}$")
_MAX_AGE = 365 * 24 * 3600


class VisitorCookieMiddleware:
    """Give every browser on the arena's pages and API a random visitor id in an
    `HttpOnly; SameSite=Lax` cookie; the id is on `request.state.visitor_id`."""

    def __init__(self, app, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not self._arena_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        visitor_id = _cookie(scope)
        new = visitor_id is None
        if new:
            visitor_id = secrets.token_hex(16)
        scope.setdefault("state", {})["visitor_id"] = visitor_id
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message) -> None:
            if new and message["type"] == "http.response.start":
                value = (
                    f"{COOKIE}={visitor_id}; Path=/; Max-Age={_MAX_AGE}; HttpOnly; "
                    f"SameSite=Lax" + ("; Secure" if secure else "")
                )
                message.setdefault("headers", []).append((b"set-cookie", value.encode()))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _arena_path(self, path: str) -> bool:
        return path == "/" or any(path.startswith(p) for p in self.prefixes)


def _cookie(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            # Starlette's parser is lenient: another site's odd cookie (JSON, spaces)
            # does not hide ours, as it would with http.cookies.
            found = cookie_parser(value.decode("latin-1")).get(COOKIE)
            if found and _VALID.match(found):
                return found
    return None


@dataclass(frozen=True)
class Visitor:
    """Who sent an arena request: the browser's visitor id and the client's address."""

    visitor_id: str
    ip: str


async def visitor(request: Request) -> Visitor:
    return Visitor(request.state.visitor_id, request.client.host if request.client else "")


def hash_ip(ip: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{ip}".encode()).hexdigest()


async def check_same_origin(request: Request) -> None:
    """Refuse a state-changing request that a browser sent from another site.

    Browsers send `Origin` (or at least `Sec-Fetch-Site`) on such requests; a client
    that sends neither is not a browser, so cross-site request forgery does not apply.
    """
    origin = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host", "")
    if origin:
        if origin == "null" or urlsplit(origin).netloc != host:
            raise APIError(
                403,
                "Cross-origin requests cannot change the arena.",
                code="cross_origin",
                type="permission_error",
            )
    elif request.headers.get("sec-fetch-site") == "cross-site":
        raise APIError(
            403,
            "Cross-origin requests cannot change the arena.",
            code="cross_origin",
            type="permission_error",
        )
