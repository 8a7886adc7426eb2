"""Prompt embeddings for the leaderboard of a topic: the latest voted blind battles, their
first prompts, and each prompt's vector per embedding model (float32 bytes), stored once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from modelarena.store.db import Database
from modelarena.store.models import Conversation, Flag, PromptEmbedding, Turn, Vote

_IDS_PER_QUERY = 5_000  # ids bound in one `in (...)`


def latest_battles(db: Database, limit: int) -> list[tuple[str, str, str, str]]:
    """(conversation, model_a, model_b, winner) of the `limit` latest votes on blind
    battles without an excluding flag, newest first."""
    excluded = select(Flag.conversation_id).where(Flag.excluded.is_(True))
    query = (
        select(Conversation.id, Conversation.model_a, Conversation.model_b, Vote.winner)
        .join(Vote, Vote.conversation_id == Conversation.id)
        .where(Conversation.mode == "battle", Conversation.id.not_in(excluded))
        .order_by(Vote.id.desc())
        .limit(limit)
    )
    with db.session() as session:
        return [(row[0], row[1], row[2] or "", row[3]) for row in session.execute(query)]


def first_prompts(db: Database, conversation_ids: Collection[str]) -> dict[str, str]:
    """The first prompt of each of these conversations."""
    query = select(Turn.conversation_id, Turn.prompt).where(Turn.position == 0)
    return dict(_rows(db, query, Turn.conversation_id, conversation_ids))


def vectors(db: Database, model: str, conversation_ids: Collection[str]) -> dict[str, bytes]:
    """The stored vectors of `model` for those of these conversations that have one."""
    query = select(PromptEmbedding.conversation_id, PromptEmbedding.vector).where(
        PromptEmbedding.model == model
    )
    return dict(_rows(db, query, PromptEmbedding.conversation_id, conversation_ids))


def save_vectors(db: Database, model: str, found: Mapping[str, bytes]) -> None:
    """Store vectors of `model` by conversation; one already stored (by another process)
    is kept."""
    if not found:
        return
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PromptEmbedding).on_conflict_do_nothing()
    rows = [{"conversation_id": c, "model": model, "vector": v} for c, v in found.items()]
    with db.session() as session:
        session.execute(statement, rows)


def _rows(db: Database, query: Any, key: Any, ids: Collection[str]) -> list[tuple[Any, Any]]:
    wanted = sorted(ids)
    found: list[tuple[Any, Any]] = []
    with db.session() as session:
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            part = query.where(key.in_(wanted[start : start + _IDS_PER_QUERY]))
            found.extend((row[0], row[1]) for row in session.execute(part))
    return found
