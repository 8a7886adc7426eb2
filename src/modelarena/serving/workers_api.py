"""Routes through which remote workers announce themselves: register (and heartbeat by
registering again) and leave. Guarded by the shared worker secret.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from modelarena.errors import APIError
from modelarena.serving.openai_format import JSONResponse
from modelarena.serving.registry import WorkerRecord
from modelarena.serving.services import Services

router = APIRouter(prefix="/internal/workers")


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
        raise APIError(403, "Worker registration is disabled on this gateway: start it with "
                       "MODELARENA_WORKER_SECRET set, and give workers the same --secret.",
                       type="permission_error", code="workers_disabled")
    header = request.headers.get("authorization", "")
    if not hmac.compare_digest(header.encode(), f"Bearer {secret}".encode()):
        raise APIError(401, "Wrong worker secret.", type="authentication_error",
                       code="invalid_worker_secret")
    return svc


@router.post("")
async def register(announcement: Announcement, request: Request) -> JSONResponse:
    svc = _authorize(request)
    ttl = svc.settings.worker_ttl_s
    await svc.registry.upsert(WorkerRecord(**announcement.model_dump()), ttl)
    await svc.sync_workers()
    return JSONResponse({"id": announcement.id, "ttl_s": ttl})


@router.delete("/{worker_id}")
async def leave(worker_id: str, request: Request) -> JSONResponse:
    svc = _authorize(request)
    await svc.registry.remove(worker_id)
    await svc.sync_workers()
    return JSONResponse({"id": worker_id, "removed": True})
