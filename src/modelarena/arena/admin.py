"""Administration behind a bearer token (`arena.admin_token`): take models in or out of
service, set their sampling weights, and review flagged battles (reading their text)."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from modelarena.arena import shapes
from modelarena.arena.api import ConversationId, arena
from modelarena.arena.assembly import Arena
from modelarena.arena.export import conversation_records
from modelarena.errors import APIError
from modelarena.store import arena as store
from modelarena.web import openapi
from modelarena.web.guards import bearer_matches
from modelarena.web.json_body import StrictJSONRoute
from modelarena.web.responses import JSONResponse


async def admin(request: Request, found: Arena = Depends(arena)) -> Arena:
    if not found.admin_token:
        raise APIError(
            403,
            "Administration is off; set arena.admin_token to turn it on.",
            type="permission_error",
            code="admin_disabled",
        )
    if not bearer_matches(request, found.admin_token):
        raise APIError(
            401,
            "A valid admin token is needed (Authorization: Bearer TOKEN).",
            type="authentication_error",
            code="invalid_admin_token",
        )
    return found


router = APIRouter(
    prefix="/api/admin", route_class=StrictJSONRoute, responses=openapi.errors(401, 403, 404)
)


class ModelChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool | None = None
    weight: float | None = Field(None, gt=0, le=1e6, allow_inf_nan=False)


class FlagReview(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    excluded: bool


@router.get("/models", responses={200: {"model": shapes.AdminModels}})
async def list_models(found: Arena = Depends(admin)) -> JSONResponse:
    """Every arena model: whether it battles now, its weight, and the admin's overrides
    (null: the configured value applies)."""
    service = found.service
    overrides = await to_thread.run_sync(store.model_overrides, service.db)
    serving = {c.name for c in await to_thread.run_sync(service.lineup.in_service)}
    rows = []
    for name in service.lineup.arena_models():
        override = overrides.get(name)
        rows.append(
            {
                "name": name,
                "in_service": name in serving,
                "configured_enabled": name not in service.settings.disabled,
                "configured_weight": service.settings.weights.get(name, 1.0),
                "enabled_override": override.enabled if override else None,
                "weight_override": override.weight if override else None,
            }
        )
    return JSONResponse({"models": rows})


@router.patch("/models/{name:path}", responses={200: {"model": shapes.ModelChanged}})
async def change_model(name: str, body: ModelChange, found: Arena = Depends(admin)) -> JSONResponse:
    """Set `enabled` and/or `weight`; null puts a setting back to the configuration."""
    changes = body.model_dump(exclude_unset=True)
    if not await to_thread.run_sync(found.service.lineup.set_override, name, changes):
        raise APIError(404, f"No model named {name!r} in the arena.", code="model_not_found")
    return JSONResponse({"name": name, **changes})


@router.get("/flags", responses={200: {"model": shapes.Flags}})
async def list_flags(unreviewed: bool = False, found: Arena = Depends(admin)) -> JSONResponse:
    flags = await to_thread.run_sync(store.list_flags, found.service.db, unreviewed)
    return JSONResponse({"flags": [_flag(f) for f in flags]})


def _flag(flag: store.FlagView) -> dict:
    return {
        "id": flag.id,
        "conversation": flag.conversation_id,
        "kind": flag.kind,
        "detail": flag.detail,
        "excluded": flag.excluded,
        "created_at": flag.created_at.isoformat(),
        "reviewed_at": flag.reviewed_at.isoformat() if flag.reviewed_at else None,
    }


@router.patch("/flags/{flag_id}", responses={200: {"model": shapes.FlagReviewed}})
async def review_flag(
    flag_id: int, body: FlagReview, found: Arena = Depends(admin)
) -> JSONResponse:
    if not await to_thread.run_sync(store.review_flag, found.service.db, flag_id, body.excluded):
        raise APIError(404, f"No flag {flag_id}.", code="flag_not_found")
    return JSONResponse({"id": flag_id, "excluded": body.excluded})


@router.get(
    "/conversations/{conversation_id}", responses={200: {"model": shapes.StoredConversation}}
)
async def read_conversation(
    conversation_id: ConversationId, found: Arena = Depends(admin)
) -> JSONResponse:
    """A stored conversation in full (models, answers, errors, vote) with its flags."""
    db = found.service.db
    records = await to_thread.run_sync(conversation_records, db, conversation_id)
    if not records:
        raise APIError(404, f"No conversation {conversation_id!r}.", code="conversation_not_found")
    flags = await to_thread.run_sync(store.list_flags, db, False, conversation_id)
    return JSONResponse(records[0] | {"flags": [_flag(f) for f in flags]})
