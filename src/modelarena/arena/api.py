"""The arena's JSON and server-sent-events API under /api. The pages use nothing else,
so every action a page takes is a request another client can make too."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, File, Path, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from modelarena.arena import shapes
from modelarena.arena.assembly import Arena
from modelarena.arena.visitors import Visitor, check_same_origin, hash_ip, visitor
from modelarena.arena.votes import MAX_COMMENT, Reason
from modelarena.errors import APIError
from modelarena.vocabulary import Mode, Winner
from modelarena.web import openapi
from modelarena.web.event_stream import EventStream
from modelarena.web.json_body import StrictJSONRoute
from modelarena.web.responses import JSONResponse, sse

router = APIRouter(
    prefix="/api", route_class=StrictJSONRoute, responses=openapi.errors(403, 404, 409, 429, 503)
)
changes = [Depends(check_same_origin)]
ConversationId = Annotated[
    str, Path(pattern=r"^[!-~]{1,64}$", description="a conversation's id (printable ASCII)")
]


async def arena(request: Request) -> Arena:
    found = getattr(request.app.state, "arena", None)
    if found is None:
        raise APIError(404, "The arena is not enabled on this server.", code="arena_disabled")
    return found


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewConversation(_Body):
    mode: Mode = "battle"
    models: list[str] | None = None
    sampling: dict[str, Any] | None = None
    vision: bool = False


class Message(_Body):
    prompt: str = Field(description="the visitor's message; no NUL characters")
    image: str | None = Field(None, max_length=80)


class VoteBody(_Body):
    winner: Winner


class FeedbackBody(_Body):
    """A thumbs up (1) or down (-1); a thumbs down may say why and add a comment."""

    turn: int = Field(ge=0)
    rating: Literal[1, -1]
    reason: Reason | None = None
    comment: str | None = Field(None, max_length=MAX_COMMENT)


async def _limit(found: Arena, who: Visitor, action: str = "turn") -> None:
    """Per-visitor and per-IP limits, counted separately for each kind of action."""
    settings = found.service.settings
    for key, rpm in (
        (f"visitor:{who.visitor_id}", settings.visitor_rpm),
        (f"ip:{hash_ip(who.ip, found.ip_salt)}", settings.ip_rpm),
    ):
        if rpm:
            wait = await found.limiter.hit(f"arena:{action}:{key}", rpm)
            if wait is not None:
                raise APIError(
                    429,
                    f"Too many requests; try again in {wait:.0f} s.",
                    type="rate_limit_error",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(max(1, round(wait)))},
                )


async def _require_terms(found: Arena, who: Visitor) -> None:
    if not await to_thread.run_sync(found.service.terms_accepted, who.visitor_id):
        raise APIError(
            403,
            "Please accept the terms of use first.",
            code="terms_not_accepted",
            type="permission_error",
        )


def _sse(events: AsyncGenerator[dict[str, Any], None]) -> EventStream:
    """The turn's events; a client that closes the stream stops the turn."""

    async def body() -> AsyncGenerator[bytes, None]:
        try:
            async for event in events:
                yield sse(event)
        finally:
            await events.aclose()

    return EventStream(body(), headers={"Cache-Control": "no-store"})


@router.get("/models", responses={200: {"model": shapes.ArenaModels}})
async def models(found: Arena = Depends(arena)) -> JSONResponse:
    service = found.service
    available = await to_thread.run_sync(service.lineup.in_service)
    limits = service.settings
    return JSONResponse(
        {
            "sampling": {
                "temperature": limits.temperature,
                "top_p": limits.top_p,
                "max_tokens": limits.max_tokens,
            },
            "models": [
                {
                    "name": c.name,
                    "display_name": service.lineup.metadata(c.name).get("display_name") or c.name,
                    "organization": service.lineup.metadata(c.name).get("organization"),
                    "vision": c.vision,
                }
                for c in available
            ],
        }
    )


@router.get("/terms", responses={200: {"model": shapes.Terms}})
async def terms(found: Arena = Depends(arena), who: Visitor = Depends(visitor)) -> JSONResponse:
    accepted = await to_thread.run_sync(found.service.terms_accepted, who.visitor_id)
    return JSONResponse({"accepted": accepted})


@router.post("/terms", dependencies=changes, responses={200: {"model": shapes.Terms}})
async def accept_terms(
    found: Arena = Depends(arena), who: Visitor = Depends(visitor)
) -> JSONResponse:
    await _limit(found, who, "terms")
    await to_thread.run_sync(
        found.service.accept_terms, who.visitor_id, hash_ip(who.ip, found.ip_salt)
    )
    return JSONResponse({"accepted": True})


@router.post(
    "/conversations",
    dependencies=changes,
    status_code=201,
    responses={201: {"model": shapes.Conversation}},
)
async def new_conversation(
    body: NewConversation, found: Arena = Depends(arena), who: Visitor = Depends(visitor)
) -> JSONResponse:
    service = found.service
    await _require_terms(found, who)
    await _limit(found, who, "conversation")
    view = await to_thread.run_sync(
        service.start, who.visitor_id, body.mode, body.models, body.sampling, body.vision
    )
    return JSONResponse(service.public(view), status_code=201)


@router.get("/conversations/{conversation_id}", responses={200: {"model": shapes.Conversation}})
async def get_conversation(
    conversation_id: ConversationId, found: Arena = Depends(arena), who: Visitor = Depends(visitor)
) -> JSONResponse:
    view = await to_thread.run_sync(found.service.owned, who.visitor_id, conversation_id)
    return JSONResponse(found.service.public(view))


@router.post(
    "/conversations/{conversation_id}/messages",
    dependencies=changes,
    responses=openapi.events("the turn's events: start, delta, answer, error, done"),
)
async def send(
    conversation_id: ConversationId,
    body: Message,
    found: Arena = Depends(arena),
    who: Visitor = Depends(visitor),
) -> EventStream:
    await _limit(found, who)
    return _sse(await found.service.send(who.visitor_id, conversation_id, body.prompt, body.image))


@router.post(
    "/conversations/{conversation_id}/regenerate",
    dependencies=changes,
    responses=openapi.events("the turn's events, as for a message"),
)
async def regenerate(
    conversation_id: ConversationId, found: Arena = Depends(arena), who: Visitor = Depends(visitor)
) -> EventStream:
    await _limit(found, who)
    return _sse(await found.service.regenerate(who.visitor_id, conversation_id))


@router.post(
    "/conversations/{conversation_id}/stop",
    dependencies=changes,
    responses={200: {"model": shapes.Conversation}},
)
async def stop(
    conversation_id: ConversationId, found: Arena = Depends(arena), who: Visitor = Depends(visitor)
) -> JSONResponse:
    """Stop the turn being generated (closing its stream does too) and answer once its
    sides are stored: the conversation as it now is, its partial answers votable."""
    await found.service.stop(who.visitor_id, conversation_id)
    view = await to_thread.run_sync(found.service.owned, who.visitor_id, conversation_id)
    return JSONResponse(found.service.public(view))


@router.post(
    "/conversations/{conversation_id}/vote",
    dependencies=changes,
    responses={200: {"model": shapes.VoteResult}},
)
async def vote(
    conversation_id: ConversationId,
    body: VoteBody,
    found: Arena = Depends(arena),
    who: Visitor = Depends(visitor),
) -> JSONResponse:
    result = await to_thread.run_sync(
        found.service.vote, who.visitor_id, conversation_id, body.winner
    )
    return JSONResponse(result)


@router.post(
    "/conversations/{conversation_id}/feedback",
    dependencies=changes,
    responses={200: {"model": shapes.FeedbackResult}},
)
async def feedback(
    conversation_id: ConversationId,
    body: FeedbackBody,
    found: Arena = Depends(arena),
    who: Visitor = Depends(visitor),
) -> JSONResponse:
    await to_thread.run_sync(
        found.service.feedback,
        who.visitor_id,
        conversation_id,
        body.turn,
        body.rating,
        body.reason,
        body.comment,
    )
    return JSONResponse({"turn": body.turn, "rating": body.rating})


@router.post(
    "/images", dependencies=changes, status_code=201, responses={201: {"model": shapes.ImageId}}
)
async def upload_image(
    image: UploadFile = File(...), found: Arena = Depends(arena), who: Visitor = Depends(visitor)
) -> JSONResponse:
    await _require_terms(found, who)
    await _limit(found, who, "image")
    limit = found.service.images.max_bytes
    data = await image.read(limit + 1)
    image_id = await to_thread.run_sync(found.service.images.save, data)
    return JSONResponse({"id": image_id}, status_code=201)


@router.get(
    "/images/{image_id}",
    responses={
        200: {
            "description": "the image",
            "content": {
                mime: {"schema": {"type": "string", "format": "binary"}}
                for mime in ("image/png", "image/jpeg", "image/webp")
            },
        }
    },
)
async def get_image(image_id: str, found: Arena = Depends(arena)) -> Response:
    data = await to_thread.run_sync(found.service.images.read, image_id)
    mime = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
    return Response(
        data,
        media_type=mime[image_id.rsplit(".", 1)[1]],
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )
