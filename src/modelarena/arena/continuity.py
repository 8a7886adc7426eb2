"""The visitor's continuity across visits, over HTTP: their recent conversations, the
tally of their votes, their own leaderboard (all three for the calling browser only), and
the public, read-only view of a voted conversation (`/share/{id}` and its JSON)."""

from __future__ import annotations

import contextlib
import re

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from modelarena.arena import shapes
from modelarena.arena.api import ConversationId, arena
from modelarena.arena.assembly import Arena
from modelarena.arena.history import recent_item, votes_summary
from modelarena.arena.pages import _page
from modelarena.arena.personal_board import personal_board
from modelarena.arena.share import NOT_SHARED, shared_view
from modelarena.arena.visitors import Visitor, visitor
from modelarena.errors import APIError
from modelarena.store import arena as store
from modelarena.store import history
from modelarena.web import openapi
from modelarena.web.json_body import StrictJSONRoute
from modelarena.web.responses import JSONResponse

router = APIRouter(prefix="/api", route_class=StrictJSONRoute, responses=openapi.errors(404))
pages = APIRouter(include_in_schema=False)
ANY_ID = re.compile(r"[!-~]{1,64}")  # what a conversation id may be (ConversationId's rule)


@router.get("/conversations", responses={200: {"model": shapes.RecentConversations}})
async def recent(
    limit: int = Query(20, ge=1, le=100),
    found: Arena = Depends(arena),
    who: Visitor = Depends(visitor),
) -> JSONResponse:
    """This browser's latest conversations, newest first."""
    rows = await to_thread.run_sync(
        history.recent_conversations, found.service.db, who.visitor_id, limit
    )
    return JSONResponse({"conversations": [recent_item(row) for row in rows]})


@router.get("/votes/mine", responses={200: {"model": shapes.VotesSummary}})
async def my_votes(found: Arena = Depends(arena), who: Visitor = Depends(visitor)) -> JSONResponse:
    """How this browser has voted in blind battles so far."""
    votes = await to_thread.run_sync(history.visitor_votes, found.service.db, who.visitor_id)
    return JSONResponse(votes_summary(votes, found.service.lineup))


@router.get("/leaderboard/mine", responses={200: {"model": shapes.PersonalBoard}})
async def my_leaderboard(
    found: Arena = Depends(arena), who: Visitor = Depends(visitor)
) -> JSONResponse:
    """Bradley–Terry fitted on this browser's blind votes alone, beside everyone's
    ratings (the live leaderboard's raw board of all votes)."""
    service = found.service
    snapshot = found.leaderboard.snapshot

    def fit() -> dict:
        votes = history.visitor_votes(service.db, who.visitor_id)
        return personal_board(
            votes,
            snapshot.board("all").rows,
            service.lineup.metadata_or_name,
            service.settings.personal_board_min_votes,
            service.settings.personal_board_l2,
        )

    answer = await to_thread.run_sync(fit)
    return JSONResponse({**answer, "computed_at": snapshot.computed_at})


@router.get("/share/{conversation_id}", responses={200: {"model": shapes.SharedConversation}})
async def shared(conversation_id: ConversationId, found: Arena = Depends(arena)) -> JSONResponse:
    """A voted conversation's public view; 404 for any other id, voted or not alike."""
    view = await to_thread.run_sync(store.get_conversation, found.service.db, conversation_id)
    return JSONResponse(shared_view(view, found.service.lineup))


@pages.get("/share/{conversation_id}", response_class=HTMLResponse)
async def share_page(request: Request, conversation_id: str) -> HTMLResponse:
    """The shared view as a page; the same plain 404 page for every other link."""
    found: Arena | None = getattr(request.app.state, "arena", None)
    shown = None
    if found is not None and ANY_ID.fullmatch(conversation_id):
        view = await to_thread.run_sync(store.get_conversation, found.service.db, conversation_id)
        with contextlib.suppress(APIError):
            shown = shared_view(view, found.service.lineup)
    if shown is None:
        response = _page(request, "share.html", title="Nothing to show", missing=NOT_SHARED)
        response.status_code = 404
        return response
    title = "A shared battle" if shown["mode"] == "battle" else "A shared comparison"
    return _page(request, "share.html", title=title, shared=shown)
