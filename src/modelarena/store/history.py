"""A visitor's own history: their recent conversations (newest first, each with its first
prompt) and the blind battles they voted, for the arena's "recent" list, the "your votes
so far" line and the personal leaderboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, func, select

from modelarena.store.db import Database
from modelarena.store.models import Conversation, Flag, Turn, Vote

TITLE_CHARS = 200  # of the first prompt, read for a title


@dataclass(frozen=True)
class RecentConversation:
    id: str
    mode: str
    created_at: datetime
    first_prompt: str
    turns: int
    voted: bool


@dataclass(frozen=True)
class VisitorVote:
    """One of the visitor's blind-battle votes; `excluded`: a flag keeps it out of the
    ratings (an identity leak, say)."""

    model_a: str
    model_b: str
    winner: str
    excluded: bool


_FIRST_PROMPT = (
    select(func.substr(Turn.prompt, 1, TITLE_CHARS))
    .where(Turn.conversation_id == Conversation.id, Turn.position == 0)
    .scalar_subquery()
)
_TURNS = select(func.count(Turn.id)).where(Turn.conversation_id == Conversation.id)
_RECENT = (
    select(
        Conversation.id,
        Conversation.mode,
        Conversation.created_at,
        _FIRST_PROMPT.label("first_prompt"),
        _TURNS.scalar_subquery().label("turns"),
        Vote.id.is_not(None).label("voted"),
    )
    .outerjoin(Vote, Vote.conversation_id == Conversation.id)
    .where(Conversation.visitor_id == bindparam("visitor_id"), _FIRST_PROMPT.is_not(None))
    .order_by(Conversation.created_at.desc(), Conversation.id.desc())
    .limit(bindparam("limit"))
)
_VOTES = (
    select(
        Conversation.model_a,
        Conversation.model_b,
        Vote.winner,
        exists()
        .where(and_(Flag.conversation_id == Conversation.id, Flag.excluded.is_(True)))
        .label("excluded"),
    )
    .join(Vote, Vote.conversation_id == Conversation.id)
    .where(Vote.visitor_id == bindparam("visitor_id"), Conversation.mode == "battle")
    .order_by(Vote.id)
)


def recent_conversations(
    db: Database, visitor_id: str, limit: int = 20
) -> list[RecentConversation]:
    """The visitor's latest conversations that have a prompt, newest first."""
    with db.session() as session:
        rows = session.execute(_RECENT, {"visitor_id": visitor_id, "limit": limit})
        return [
            RecentConversation(
                row.id, row.mode, row.created_at, row.first_prompt, row.turns, bool(row.voted)
            )
            for row in rows
        ]


def visitor_votes(db: Database, visitor_id: str) -> list[VisitorVote]:
    """Every blind battle the visitor voted, in vote order."""
    with db.session() as session:
        rows = session.execute(_VOTES, {"visitor_id": visitor_id})
        return [
            VisitorVote(row.model_a, row.model_b or "", row.winner, bool(row.excluded))
            for row in rows
        ]
