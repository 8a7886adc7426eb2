"""Whole conversations out of the store (with their turns, vote and excluding flags), for
exports and the live leaderboard, and battles from a file stored as voted conversations.
Reads return frozen views; what a record looks like in a file is the arena's business."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from modelarena.store.battles import Features
from modelarena.store.db import Database
from modelarena.store.models import Conversation, Feedback, Flag, Turn, Visitor, Vote

SIDES = ("a", "b")


@dataclass(frozen=True)
class StoredSide:
    """One side's answer to a turn, with its timings and token counts."""

    answer: str | None
    finish_reason: str | None
    error: str | None
    ttft_ms: float | None
    duration_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class StoredTurn:
    """A turn; `rating` is the direct chat's thumb on its answer (+1, -1, None)."""

    prompt: str
    image: str | None
    regenerations: int
    sides: dict[str, StoredSide]
    rating: int | None = None


@dataclass(frozen=True)
class StoredConversation:
    """A conversation as stored; `winner`, `voter` and `voted_at` are None until a vote,
    `flags` lists the kinds of its excluding flags."""

    id: str
    visitor_id: str
    mode: str
    model_a: str
    model_b: str | None
    sampling: dict[str, Any]
    vision: bool
    created_at: float
    turns: list[StoredTurn]
    winner: str | None = None
    voter: str | None = None
    voted_at: float | None = None
    flags: tuple[str, ...] = ()


def voted(
    db: Database,
    modes: Sequence[str] = ("battle",),
    conversation_ids: Sequence[str] | None = None,
) -> list[StoredConversation]:
    """Every voted conversation of these modes (or only those among `conversation_ids`),
    oldest vote first, each with the kinds of its excluding flags."""
    query = (
        select(Conversation, Vote)
        .join(Vote, Vote.conversation_id == Conversation.id)
        .where(Conversation.mode.in_(list(modes)))
        .options(selectinload(Conversation.turns))
        .order_by(Vote.created_at, Vote.id)
    )
    if conversation_ids is not None:
        query = query.where(Conversation.id.in_(list(conversation_ids)))
    with db.session() as session:
        flags = _excluding_flags(session)
        return [
            _view(conversation, vote, flags.get(conversation.id, ()))
            for conversation, vote in session.execute(query)
        ]


def conversations(db: Database, conversation_id: str | None = None) -> list[StoredConversation]:
    """Every stored conversation of every mode (or just the one with this id), oldest
    first, with its vote if it has one and the thumbs on its turns."""
    query = (
        select(Conversation, Vote)
        .outerjoin(Vote, Vote.conversation_id == Conversation.id)
        .options(selectinload(Conversation.turns))
        .order_by(Conversation.created_at, Conversation.id)
    )
    if conversation_id is not None:
        query = query.where(Conversation.id == conversation_id)
    with db.session() as session:
        flags = _excluding_flags(session)
        ratings = {
            turn: rating
            for turn, rating in session.execute(select(Feedback.turn_id, Feedback.rating))
        }
        return [
            _view(conversation, vote, flags.get(conversation.id, ()), ratings)
            for conversation, vote in session.execute(query)
        ]


def _excluding_flags(session) -> dict[str, tuple[str, ...]]:
    flags: dict[str, tuple[str, ...]] = {}
    for flag in session.scalars(select(Flag).where(Flag.excluded.is_(True))):
        flags[flag.conversation_id] = (*flags.get(flag.conversation_id, ()), flag.kind)
    return flags


def _view(
    conversation: Conversation,
    vote: Vote | None,
    flags: tuple[str, ...],
    ratings: dict[int, int] | None = None,
) -> StoredConversation:
    return StoredConversation(
        id=conversation.id,
        visitor_id=conversation.visitor_id,
        mode=conversation.mode,
        model_a=conversation.model_a,
        model_b=conversation.model_b,
        sampling=dict(conversation.sampling or {}),
        vision=bool(conversation.vision),
        created_at=_timestamp(conversation.created_at),
        turns=[_turn(turn, (ratings or {}).get(turn.id)) for turn in conversation.turns],
        winner=vote.winner if vote else None,
        voter=vote.visitor_id if vote else None,
        voted_at=_timestamp(vote.created_at) if vote else None,
        flags=flags,
    )


def _turn(turn: Turn, rating: int | None = None) -> StoredTurn:
    return StoredTurn(
        prompt=turn.prompt,
        image=turn.image,
        regenerations=turn.regenerations,
        sides={
            side: StoredSide(
                answer=getattr(turn, f"answer_{side}"),
                finish_reason=getattr(turn, f"finish_{side}"),
                error=getattr(turn, f"error_{side}"),
                ttft_ms=getattr(turn, f"ttft_{side}_ms"),
                duration_ms=getattr(turn, f"duration_{side}_ms"),
                prompt_tokens=getattr(turn, f"prompt_tokens_{side}"),
                completion_tokens=getattr(turn, f"completion_tokens_{side}"),
            )
            for side in SIDES
        },
        rating=rating,
    )


def _timestamp(moment: datetime) -> float:
    if moment.tzinfo is None:  # SQLite hands back naive UTC times
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True)
class ImportedBattle:
    """A voted battle read from a file: one-or-more (prompt, answer a, answer b) turns,
    and the features to store with its vote."""

    id: str
    visitor_id: str
    anonymous: bool
    model_a: str
    model_b: str
    winner: str
    moment: datetime
    turns: list[tuple[str, str, str]]
    features: Features | None = None


def add_battles(db: Database, battles: Iterable[ImportedBattle]) -> tuple[int, int]:
    """Store each battle as a voted conversation, in one transaction; (added, skipped).
    A battle whose id is already stored is skipped, so importing twice adds nothing."""
    added = skipped = 0
    with db.session() as session:
        for battle in battles:
            if session.get(Conversation, battle.id) is not None:
                skipped += 1
                continue
            if session.get(Visitor, battle.visitor_id) is None:
                session.add(Visitor(id=battle.visitor_id, ip_hash=""))
                session.flush()
            session.add(
                Conversation(
                    id=battle.id,
                    visitor_id=battle.visitor_id,
                    mode="battle" if battle.anonymous else "side_by_side",
                    model_a=battle.model_a,
                    model_b=battle.model_b,
                    sampling={},
                    created_at=battle.moment,
                )
            )
            session.flush()
            for position, (prompt, answer_a, answer_b) in enumerate(battle.turns):
                session.add(
                    Turn(
                        conversation_id=battle.id,
                        position=position,
                        prompt=prompt,
                        answer_a=answer_a,
                        answer_b=answer_b,
                        finish_a="stop",
                        finish_b="stop",
                        created_at=battle.moment,
                    )
                )
            session.add(
                Vote(
                    conversation_id=battle.id,
                    visitor_id=battle.visitor_id,
                    winner=battle.winner,
                    created_at=battle.moment,
                    **(asdict(battle.features) if battle.features else {}),
                )
            )
            added += 1
    return added, skipped
