"""Who is calling, and may they: API keys (from config/env or the database, where only
hashes are kept) and each caller's requests-per-minute limit.

Keys are off by default on loopback; on any other address, or once a key exists, every
/v1 request needs `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from anyio import to_thread
from fastapi import Request

from modelarena.config import LOOPBACK, Settings
from modelarena.errors import APIError
from modelarena.serving.rate_limit import RateLimiter
from modelarena.serving.shared_state import SharedStateUnavailable
from modelarena.store import repo
from modelarena.store.db import Database

CACHE_S = 10.0


@dataclass(frozen=True)
class ApiCaller:
    id: str  # "key:<id>", "config-key:<hash prefix>" or "ip:<address>"
    rpm: int  # 0 = unlimited


class Auth:
    def __init__(self, settings: Settings, db: Database | None, limiter: RateLimiter) -> None:
        self._config_keys = {repo.hash_key(k) for k in settings.api_keys}
        self._db = db
        self._limiter = limiter
        self._default_rpm = settings.rate_limit_rpm
        self._explicit = settings.auth_required
        self._loopback = settings.host in LOOPBACK
        self._cache: dict[str, tuple[ApiCaller | None, float]] = {}
        self._db_has_keys: tuple[bool, float] = (False, 0.0)

    async def required(self) -> bool:
        if self._explicit is not None:
            return self._explicit
        if not self._loopback or self._config_keys:
            return True
        return await self._any_db_keys()

    async def _any_db_keys(self) -> bool:
        value, expires = self._db_has_keys
        if self._db is not None and time.monotonic() >= expires:
            value = await to_thread.run_sync(repo.count_active_keys, self._db) > 0
            self._db_has_keys = (value, time.monotonic() + CACHE_S)
        return value

    async def check(self, request: Request) -> ApiCaller:
        """The caller of `request`, after the key check and the rate limit."""
        caller = await self._identify(request)
        if caller.rpm:
            try:
                wait = await self._limiter.hit(caller.id, caller.rpm)
            except SharedStateUnavailable as exc:
                # A key's limit may be a quota shared by every replica: without the
                # shared count, refuse rather than let each replica grant it anew.
                raise APIError(
                    503,
                    "Rate limits cannot be checked right now (their shared "
                    "store is unreachable); retry shortly.",
                    code="rate_limiter_unavailable",
                    headers={"Retry-After": "5"},
                ) from exc
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                raise APIError(
                    429,
                    f"Rate limit reached: {caller.rpm} requests per minute. Retry in {seconds} s.",
                    type="rate_limit_error",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(seconds)},
                )
        return caller

    async def _identify(self, request: Request) -> ApiCaller:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else ""
        caller = await self._lookup(key) if key else None
        if caller is not None:
            return caller
        if await self.required():
            if key:
                raise _unauthorized("Invalid API key (unknown or revoked).")
            raise _unauthorized(
                "Missing API key. Send it as 'Authorization: Bearer <key>'; an "
                "administrator creates keys with `modelarena keys create`."
            )
        # Keys are off: SDKs that insist on sending one ("EMPTY", "x") are welcome.
        address = request.client.host if request.client else "unknown"
        return ApiCaller(f"ip:{address}", self._default_rpm)

    async def _lookup(self, key: str) -> ApiCaller | None:
        digest = repo.hash_key(key)
        if digest in self._config_keys:  # named by its hash: the key never leaves memory
            return ApiCaller(f"config-key:{digest[:16]}", self._default_rpm)
        cached = self._cache.get(digest)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        info = await to_thread.run_sync(repo.find_active_key, self._db, key) if self._db else None
        caller = None
        if info is not None:
            rpm = info.rpm_limit if info.rpm_limit is not None else self._default_rpm
            caller = ApiCaller(f"key:{info.id}", rpm)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (caller, time.monotonic() + CACHE_S)
        return caller


def _unauthorized(message: str) -> APIError:
    return APIError(
        401,
        message,
        type="authentication_error",
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )
