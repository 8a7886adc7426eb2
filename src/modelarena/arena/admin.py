"""Administration behind a bearer token (`arena.admin_token`): add, change, try, pause,
resume and retire models (through the catalog, as the CLI does), set their arena weights,
review flagged battles, browse stored conversations (reading their text and a chat's
thumbs), count votes per model and per day, and download the exports the CLI writes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from modelarena.arena import shapes
from modelarena.arena.api import ConversationId, arena
from modelarena.arena.assembly import Arena
from modelarena.arena.export import battle_records, conversation_records, write_records
from modelarena.config import ModelConfig
from modelarena.errors import APIError
from modelarena.serving.catalog import TRIAL_PROMPT
from modelarena.store import arena as store
from modelarena.store import browse, registry
from modelarena.store.db import Database
from modelarena.vocabulary import Mode
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
    feedback = await to_thread.run_sync(browse.feedback_of, db, conversation_id)
    for position, turn in enumerate(records[0]["turns"]):
        given = feedback.get(position)
        turn["feedback"] = given and {
            "rating": given.rating,
            "reason": given.reason,
            "comment": given.comment,
            "at": given.given_at.isoformat(),
        }
    return JSONResponse(records[0] | {"flags": [_flag(f) for f in flags]})


# -- the conversation browser, vote statistics, exports --

# A vote's winner (as vocabulary.Winner spells it), or what a conversation lacks or got.
Outcome = Literal[
    "model_a", "model_b", "tie", "tie (bothbad)", "unvoted", "thumbs_up", "thumbs_down"
]
FlagFilter = Literal["flagged", "excluded", "unflagged"]
PROMPT_SHOWN = 160  # characters of a conversation's first prompt in the list


def _day_query(description: str) -> Any:
    return Query(
        None,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description=description,
        json_schema_extra={"format": "date"},
    )


def _filters(
    model: str | None = Query(None, max_length=128, description="either side's model"),
    mode: Mode | None = None,
    outcome: Outcome | None = Query(
        None, description="a vote's winner, unvoted, or a chat with thumbs_up / thumbs_down"
    ),
    flag: FlagFilter | None = None,
    since: str | None = _day_query("from this UTC day (YYYY-MM-DD) on"),
    until: str | None = _day_query("up to and including this UTC day (YYYY-MM-DD)"),
) -> browse.Filters:
    first, last = _day("since", since), _day("until", until)
    if first is not None and last is not None and last < first:
        raise APIError(
            400, "The date range ends before it starts.", param="until", code="invalid_dates"
        )
    return browse.Filters(
        model=model or None,
        mode=mode,
        outcome=outcome,
        flag=flag,
        since=_day_start(first) if first else None,
        until=_day_start(last + timedelta(days=1)) if last and last < date.max else None,
    )


def _day(name: str, text: str | None) -> date | None:
    """A YYYY-MM-DD day (its form already checked), or the 400 for one that is no day."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise APIError(
            400, f"Invalid value for '{name}': {text} is not a day.", param=name
        ) from None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _moment(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


@router.get("/conversations", responses={200: {"model": shapes.ConversationPage}})
async def list_conversations(
    page: int = Query(1, ge=1, le=1_000_000),
    per_page: int = Query(25, ge=1, le=100),
    filters: browse.Filters = Depends(_filters),
    found: Arena = Depends(admin),
) -> JSONResponse:
    """Stored conversations that match the filters, newest first, a page at a time."""
    rows, total = await to_thread.run_sync(
        browse.browse, found.service.db, filters, (page - 1) * per_page, per_page
    )
    return JSONResponse(
        {
            "conversations": [_summary(row) for row in rows],
            "total": total,
            "page": page,
            "pages": max(1, -(-total // per_page)),
            "per_page": per_page,
        }
    )


def _summary(row: browse.ConversationSummary) -> dict[str, Any]:
    prompt = row.first_prompt
    return {
        "id": row.id,
        "mode": row.mode,
        "models": [m for m in (row.model_a, row.model_b) if m],
        "created_at": _moment(row.created_at),
        "turns": row.turns,
        "first_prompt": prompt if len(prompt) <= PROMPT_SHOWN else prompt[:PROMPT_SHOWN] + "…",
        "winner": row.winner,
        "voted_at": _moment(row.voted_at),
        "flags": list(row.flags),
        "thumbs_up": row.thumbs_up,
        "thumbs_down": row.thumbs_down,
        "reasons": list(row.reasons),
    }


@router.get("/stats", responses={200: {"model": shapes.VoteStats}})
async def vote_stats(
    filters: browse.Filters = Depends(_filters), found: Arena = Depends(admin)
) -> JSONResponse:
    """Votes (of `mode`, any when left out) and direct chats' thumbs in the date range,
    counted per model and per UTC day. `outcome` and `flag` do not apply."""
    models, days = await to_thread.run_sync(browse.vote_stats, found.service.db, filters)
    return JSONResponse(
        {
            "models": [
                {
                    "model": m.model,
                    "votes": m.votes,
                    "wins": m.wins,
                    "losses": m.losses,
                    "ties": m.ties,
                    "both_bad": m.both_bad,
                    "win_rate": round(m.wins / m.votes, 4) if m.votes else None,
                    "thumbs_up": m.thumbs_up,
                    "thumbs_down": m.thumbs_down,
                    "reasons": m.reasons,
                }
                for m in models
            ],
            "days": [
                {
                    "day": d.day,
                    "votes": d.votes,
                    "outcomes": d.outcomes,
                    "thumbs_up": d.thumbs_up,
                    "thumbs_down": d.thumbs_down,
                }
                for d in days
            ],
        }
    )


ExportFormat = Literal["fastchat", "jsonl", "parquet"]
EXPORT_FILES = {  # format: (file suffix, media type)
    "fastchat": (".json", "application/json"),
    "jsonl": (".jsonl", "application/x-ndjson"),
    "parquet": (".parquet", "application/vnd.apache.parquet"),
}


@router.get(
    "/export/{what}",
    responses={
        200: {
            "description": "the file, as `modelarena battles export` or `conversations export` "
            "writes it; X-Records: how many records it holds",
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for _, media in EXPORT_FILES.values()
            }
            | {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
        }
    },
)
async def export(
    what: Literal["battles", "conversations"],
    format: ExportFormat | None = Query(
        None, description="default: fastchat for battles, jsonl for conversations"
    ),
    include_named: bool = Query(False, description="battles: also side-by-side votes"),
    include_excluded: bool = Query(False, description="battles: also those flagged out"),
    found: Arena = Depends(admin),
) -> FileResponse:
    """Download the voted battles or every conversation, in the CLI's formats."""
    fmt = format or ("fastchat" if what == "battles" else "jsonl")
    modes = ("battle", "side_by_side") if include_named else ("battle",)
    path, count = await to_thread.run_sync(
        _export_file, found.service.db, what, fmt, modes, include_excluded
    )
    suffix, media = EXPORT_FILES[fmt]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return FileResponse(
        path,
        media_type=media,
        filename=f"modelarena-{what}-{stamp}{suffix}",
        headers={"X-Records": str(count)},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _export_file(
    db: Database, what: str, fmt: str, modes: tuple[str, ...], include_excluded: bool
) -> tuple[Path, int]:
    """The records written to a temporary file (the response deletes it once sent)."""
    if what == "battles":
        records = battle_records(db, modes, include_excluded)
    else:
        records = conversation_records(db)
    handle, name = tempfile.mkstemp(prefix="modelarena-export-", suffix=EXPORT_FILES[fmt][0])
    os.close(handle)
    path = Path(name)
    try:
        write_records(records, path, fmt)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, len(records)
