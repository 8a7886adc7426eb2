"""Routes through which remote workers announce themselves: register (and heartbeat by
registering again) and leave. Guarded by the shared worker secret.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from modelarena.errors import APIError
from modelarena.serving.services import Services
from modelarena.serving.shared_state import SharedStateUnavailable
from modelarena.serving.worker_registry import WorkerRecord
from modelarena.web import openapi
from modelarena.web.guards import bearer_matches
from modelarena.web.json_body import StrictJSONRoute
from modelarena.web.responses import JSONResponse

router = APIRouter(
    prefix="/internal/workers", route_class=StrictJSONRoute, responses=openapi.errors(401, 403, 503)
)


class Announcement(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    model: str = Field(min_length=1, max_length=128)
    url: str = Field(pattern=r"^https?://")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _normalise(cls, url: str) -> str:
        return url.rstrip("/")  # as the upstream engine keeps it, so syncs compare equal


def _authorize(request: Request) -> Services:
    svc: Services = request.app.state.services
    secret = svc.settings.worker_secret
    if not secret:
        raise APIError(
            403,
            "Worker registration is disabled on this gateway: start it with "
            "MODELARENA_WORKER_SECRET set, and give workers the same --secret.",
            type="permission_error",
            code="workers_disabled",
        )
    if not bearer_matches(request, secret):
        raise APIError(
            401, "Wrong worker secret.", type="authentication_error", code="invalid_worker_secret"
        )
    return svc


class Registered(BaseModel):
    id: str
    ttl_s: float


class Removed(BaseModel):
    id: str
    removed: bool


@contextlib.contextmanager
def _registry_errors() -> Iterator[None]:
    try:
        yield
    except SharedStateUnavailable as exc:
        raise APIError(
            503,
            "The worker registry (Redis) is unreachable; the worker's next "
            "heartbeat will try again.",
            code="registry_unavailable",
            headers={"Retry-After": "5"},
        ) from exc


@router.post("", responses={200: {"model": Registered}})
async def register(announcement: Announcement, request: Request) -> JSONResponse:
    svc = _authorize(request)
    ttl = svc.settings.worker_ttl_s
    with _registry_errors():
        await svc.registry.upsert(WorkerRecord(**announcement.model_dump()), ttl)
        await svc.sync_workers()
    return JSONResponse({"id": announcement.id, "ttl_s": ttl})


@router.delete("/{worker_id}", responses={200: {"model": Removed}})
async def leave(worker_id: str, request: Request) -> JSONResponse:
    svc = _authorize(request)
    with _registry_errors():
        await svc.registry.remove(worker_id)
        await svc.sync_workers()
    return JSONResponse({"id": worker_id, "removed": True})
