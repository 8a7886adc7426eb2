"""Administration behind a bearer token (`arena.admin_token`): take models in or out of
service, set their sampling weights, and review flagged battles."""

from __future__ import annotations

import hmac

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from modelarena.arena.api import arena
from modelarena.arena.setup import Arena
from modelarena.errors import APIError
from modelarena.serving.openai_format import JSONResponse
from modelarena.store import arena as store


def admin(request: Request, found: Arena = Depends(arena)) -> Arena:
    if not found.admin_token:
        raise APIError(403, "Administration is off; set arena.admin_token to turn it on.",
                       type="permission_error", code="admin_disabled")
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), found.admin_token.encode()):
        raise APIError(401, "A valid admin token is needed (Authorization: Bearer TOKEN).",
                       type="authentication_error", code="invalid_admin_token")
    return found


router = APIRouter(prefix="/api/admin")


class ModelChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    weight: float | None = Field(None, gt=0)


class FlagReview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    excluded: bool


@router.get("/models")
async def list_models(found: Arena = Depends(admin)) -> JSONResponse:
    service = found.service
    overrides = await to_thread.run_sync(store.model_overrides, service.db)
    serving = {c.name: c for c in await to_thread.run_sync(service.in_service)}
    rows = []
    for name in service.arena_models():
        override = overrides.get(name)
        rows.append({
            "name": name,
            "in_service": name in serving,
            "weight": serving[name].weight if name in serving else None,
            "enabled_override": override.enabled if override else None,
            "weight_override": override.weight if override else None,
        })
    return JSONResponse({"models": rows})


@router.patch("/models/{name:path}")
async def change_model(name: str, body: ModelChange, found: Arena = Depends(admin)
                       ) -> JSONResponse:
    changed = await to_thread.run_sync(
        lambda: store.set_model_override(found.service.db, name, enabled=body.enabled,
                                         weight=body.weight))
    if not changed:
        raise APIError(404, f"No model named {name!r} in the arena.", code="model_not_found")
    return JSONResponse({"name": name, "enabled": body.enabled, "weight": body.weight})


@router.get("/flags")
async def list_flags(unreviewed: bool = False, found: Arena = Depends(admin)) -> JSONResponse:
    flags = await to_thread.run_sync(store.list_flags, found.service.db, unreviewed)
    return JSONResponse({"flags": [
        {"id": f.id, "conversation": f.conversation_id, "kind": f.kind, "detail": f.detail,
         "excluded": f.excluded, "created_at": f.created_at.isoformat(),
         "reviewed_at": f.reviewed_at.isoformat() if f.reviewed_at else None}
        for f in flags
    ]})


@router.patch("/flags/{flag_id}")
async def review_flag(flag_id: int, body: FlagReview, found: Arena = Depends(admin)
                      ) -> JSONResponse:
    if not await to_thread.run_sync(store.review_flag, found.service.db, flag_id,
                                    body.excluded):
        raise APIError(404, f"No flag {flag_id}.", code="flag_not_found")
    return JSONResponse({"id": flag_id, "excluded": body.excluded})
