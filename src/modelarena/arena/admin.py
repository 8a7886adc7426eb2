"""Administration behind a bearer token (`arena.admin_token`): add, change, try, pause,
resume and retire models (through the catalog, as the CLI does), set their arena weights,
and review flagged battles (reading their text)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from modelarena.arena import shapes
from modelarena.arena.api import ConversationId, arena
from modelarena.arena.assembly import Arena
from modelarena.arena.export import conversation_records
from modelarena.config import ModelConfig
from modelarena.errors import APIError
from modelarena.serving.catalog import TRIAL_PROMPT
from modelarena.store import arena as store
from modelarena.store import registry
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


class NewModel(ModelConfig):
    """A model definition as the configuration file takes it, and optionally the
    upstream's API key (stored encrypted) and whether to check it before storing."""

    api_key: str | None = Field(None, description="stored encrypted under secret_key")
    check: bool = Field(True, description="probe the upstream or GGUF file first")


class ModelPatch(BaseModel):
    """Any of: a new lifecycle `state`; the arena's `enabled` and `weight` overrides (null:
    back to the configuration); definition fields of a runtime model (null: default)."""

    model_config = ConfigDict(extra="allow")
    state: Literal["active", "paused", "retired"] | None = None
    enabled: bool | None = None
    weight: float | None = Field(None, gt=0, le=1e6, allow_inf_nan=False)
    check: bool = True


class ModelTrial(NewModel):
    prompt: str = Field(TRIAL_PROMPT, min_length=1, max_length=4000)


class FlagReview(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    excluded: bool


def actor(request: Request) -> str:
    """Who acts, for the audit trail: the admin token, by a fingerprint of it."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return "admin:" + hashlib.sha256(token.encode()).hexdigest()[:8]


def _entry(
    found: Arena, entry: registry.RegisteredModel, serving: dict[str, float]
) -> dict[str, Any]:
    settings = found.service.settings
    router = found.service.lineup.router
    # A server leaves a paused or retired model's service at its next registry check.
    active = entry.state == "active"
    return {
        "name": entry.name,
        "source": entry.source,
        "state": entry.state,
        "revision": entry.revision,
        "served": entry.name in router.model_names(),
        "in_service": active and entry.name in serving,
        "sampling_weight": serving.get(entry.name) if active else None,
        "unavailable": router.why_unavailable(entry.name),
        "definition": dict(entry.definition),
        "has_api_key": entry.secret is not None,
        "added_at": entry.added_at.isoformat(),
        "paused_at": entry.paused_at.isoformat() if entry.paused_at else None,
        "retired_at": entry.retired_at.isoformat() if entry.retired_at else None,
        "configured_enabled": entry.name not in settings.disabled,
        "configured_weight": settings.weights.get(entry.name, 1.0),
        "enabled_override": entry.enabled,
        "weight_override": entry.weight,
    }


async def _serving(found: Arena) -> dict[str, float]:
    """The models that battle now, with their sampling weights (newcomer boost included)."""
    return {c.name: c.weight for c in await to_thread.run_sync(found.service.lineup.in_service)}


@router.get("/models", responses={200: {"model": shapes.AdminModels}})
async def list_models(found: Arena = Depends(admin)) -> JSONResponse:
    """Every registered model: its definition, lifecycle, whether it is served and
    battles now, and the admin's arena overrides (null: the configured value applies)."""
    entries = await to_thread.run_sync(found.catalog.models)
    serving = await _serving(found)
    return JSONResponse({"models": [_entry(found, e, serving) for e in entries]})


@router.get("/model-changes", responses={200: {"model": shapes.ModelHistory}})
async def model_changes(
    model: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    found: Arena = Depends(admin),
) -> JSONResponse:
    """The audit trail of the registry (of one `model`), newest first."""
    if model is not None:
        await to_thread.run_sync(found.catalog.model, model)
    changes = await to_thread.run_sync(found.catalog.history, model, limit)
    return JSONResponse({"changes": [change_record(c) for c in changes]})


def change_record(change: registry.ModelChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "model": change.model,
        "actor": change.actor,
        "action": change.action,
        "at": change.created_at.isoformat(),
        "before": change.before,
        "after": change.after,
    }


@router.get("/models/{name:path}", responses={200: {"model": shapes.AdminModel}})
async def show_model(name: str, found: Arena = Depends(admin)) -> JSONResponse:
    entry = await to_thread.run_sync(found.catalog.model, name)
    return JSONResponse(_entry(found, entry, await _serving(found)))


@router.post("/models", status_code=201, responses={201: {"model": shapes.AdminModel}, 409: {}})
async def add_model(
    body: NewModel, request: Request, found: Arena = Depends(admin)
) -> JSONResponse:
    """Add a model at runtime; every server following this database serves it within
    seconds (a local GGUF once it has loaded)."""
    fields = body.model_dump(exclude_unset=True, exclude={"check"})
    entry = await found.catalog.add(fields, actor(request), check=body.check)
    return JSONResponse(_entry(found, entry, await _serving(found)), status_code=201)


@router.post("/models/test", responses={200: {"model": shapes.ModelTrial}})
async def test_model(body: ModelTrial, found: Arena = Depends(admin)) -> JSONResponse:
    """Send one prompt to a definition (nothing is stored): the answer and its latency."""
    fields = body.model_dump(exclude_unset=True, exclude={"check", "prompt"})
    trial = await found.catalog.try_out(fields, body.prompt)
    return JSONResponse(
        {
            "answer": trial.answer,
            "latency_ms": round(trial.latency_ms, 1),
            "first_token_ms": round(trial.first_token_ms, 1),
            "completion_tokens": trial.completion_tokens,
            "finish_reason": trial.finish_reason,
        }
    )


@router.patch("/models/{name:path}", responses={200: {"model": shapes.AdminModel}})
async def change_model(
    name: str, body: ModelPatch, request: Request, found: Arena = Depends(admin)
) -> JSONResponse:
    """Change a model: its `state`, its arena overrides, or its definition's fields."""
    who = actor(request)
    catalog = found.catalog
    given = body.model_dump(exclude_unset=True)
    definition = {
        k: v for k, v in given.items() if k not in ("state", "enabled", "weight", "check")
    }
    arena = {k: v for k, v in given.items() if k in ("enabled", "weight")}
    entry = await to_thread.run_sync(catalog.model, name)
    if definition:
        entry = await catalog.update(name, definition, who, check=body.check)
    if arena:
        await catalog.set_arena(name, arena, who)
        found.service.lineup.forget_overrides()
    if body.state is not None:
        entry = await catalog.set_state(name, body.state, who)
    entry = await to_thread.run_sync(catalog.model, entry.name)
    return JSONResponse(_entry(found, entry, await _serving(found)))


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
