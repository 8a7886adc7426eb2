"""The leaderboard of a topic over HTTP: `/api/leaderboard/topic?q=...` answers the
ratings re-fitted on votes weighted by how close their prompts are to `q`, or how far the
embedding of past prompts has got (the page asks again)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from modelarena.arena import shapes
from modelarena.arena.api import arena
from modelarena.arena.assembly import Arena
from modelarena.errors import invalid_request
from modelarena.web import openapi
from modelarena.web.responses import JSONResponse

router = APIRouter(prefix="/api", responses=openapi.errors(400, 404))
MAX_QUERY_CHARS = 500
_LENGTH = {"minLength": 1, "maxLength": MAX_QUERY_CHARS}  # documented; checked below, in words


@router.get("/leaderboard/topic", responses={200: {"model": shapes.TopicLeaderboard}})
async def topic_leaderboard(
    q: Annotated[str, Query(description="a prompt or a topic", json_schema_extra=_LENGTH)],
    found: Arena = Depends(arena),
) -> JSONResponse:
    """The models ranked for a prompt or topic `q` (1 to 500 characters, not all blank)."""
    query = q.strip()
    if not query:
        raise invalid_request("Type a prompt or a topic to rank the models for.", param="q")
    if len(query) > MAX_QUERY_CHARS:
        raise invalid_request(
            f"A topic may be at most {MAX_QUERY_CHARS} characters; this one has {len(query)}.",
            param="q",
        )
    if "\x00" in query:
        raise invalid_request("A topic cannot hold a NUL character.", param="q")
    return JSONResponse(asdict(await found.topics.board(query)))
