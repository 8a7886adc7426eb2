"""The admin's views of the arena: stored conversations filtered and paged (with their
vote, flags and thumbs), the thumbs on one conversation's turns, and the votes and thumbs
counted per model and per day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select

from modelarena.store.db import Database
from modelarena.store.models import Conversation, Feedback, Flag, Turn, Vote
from modelarena.vocabulary import WINNERS


@dataclass(frozen=True)
class Filters:
    """Which conversations (or votes) to show; None: any.

    `outcome` is a vote's winner, "unvoted" (a battle or side-by-side with no vote yet),
    "thumbs_up" or "thumbs_down" (a chat with such a thumb on some answer); `flag` is
    "flagged" (any flag), "excluded" (a flag that keeps it out of the ratings) or
    "unflagged". `since` is inclusive, `until` exclusive."""

    model: str | None = None
    mode: str | None = None
    outcome: str | None = None
    flag: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ConversationSummary:
    """One row of the conversation browser."""

    id: str
    mode: str
    model_a: str
    model_b: str | None
    created_at: datetime
    turns: int
    first_prompt: str
    winner: str | None
    voted_at: datetime | None
    flags: tuple[str, ...]
    thumbs_up: int
    thumbs_down: int
    reasons: tuple[str, ...]  # of its thumbs down, in turn order


@dataclass(frozen=True)
class TurnFeedback:
    """The thumbs on one turn's answer, with a thumbs down's reason and comment."""

    rating: int
    reason: str | None
    comment: str | None
    given_at: datetime


@dataclass
class ModelStats:
    """A model's votes (wins, losses, ties, both bad) and, in direct chats, its thumbs
    and the reasons given for its thumbs down."""

    model: str
    votes: int = 0
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class DayStats:
    """One UTC day's votes by outcome, and its thumbs."""

    day: str  # YYYY-MM-DD
    votes: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    thumbs_up: int = 0
    thumbs_down: int = 0


def browse(
    db: Database, filters: Filters, offset: int = 0, limit: int = 25
) -> tuple[list[ConversationSummary], int]:
    """The conversations that match, newest first, `limit` of them from `offset`; and how
    many match in all."""
    query = select(
        Conversation.id,
        Conversation.mode,
        Conversation.model_a,
        Conversation.model_b,
        Conversation.created_at,
        Vote.winner,
        Vote.created_at.label("voted_at"),
    ).outerjoin(Vote, Vote.conversation_id == Conversation.id)
    query = query.where(*_conditions(filters))
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(
            query.order_by(Conversation.created_at.desc(), Conversation.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        ids = [row.id for row in rows]
        turns = dict(
            session.execute(
                select(Turn.conversation_id, func.count())
                .where(Turn.conversation_id.in_(ids))
                .group_by(Turn.conversation_id)
            ).all()
        )
        prompts = dict(
            session.execute(
                select(Turn.conversation_id, Turn.prompt).where(
                    Turn.conversation_id.in_(ids), Turn.position == 0
                )
            ).all()
        )
        flags: dict[str, list[str]] = {}
        for conversation_id, kind in session.execute(
            select(Flag.conversation_id, Flag.kind).where(Flag.conversation_id.in_(ids))
        ):
            flags.setdefault(conversation_id, []).append(kind)
        thumbs: dict[str, list[tuple[int, str | None]]] = {}
        for conversation_id, rating, reason in session.execute(
            select(Turn.conversation_id, Feedback.rating, Feedback.reason)
            .join(Turn, Turn.id == Feedback.turn_id)
            .where(Turn.conversation_id.in_(ids))
            .order_by(Turn.position)
        ):
            thumbs.setdefault(conversation_id, []).append((rating, reason))
    return [
        ConversationSummary(
            id=row.id,
            mode=row.mode,
            model_a=row.model_a,
            model_b=row.model_b,
            created_at=row.created_at,
            turns=turns.get(row.id, 0),
            first_prompt=prompts.get(row.id, ""),
            winner=row.winner,
            voted_at=row.voted_at,
            flags=tuple(flags.get(row.id, ())),
            thumbs_up=sum(1 for rating, _ in thumbs.get(row.id, ()) if rating > 0),
            thumbs_down=sum(1 for rating, _ in thumbs.get(row.id, ()) if rating < 0),
            reasons=tuple(reason for _, reason in thumbs.get(row.id, ()) if reason),
        )
        for row in rows
    ], total


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.model is not None:
        found.append(
            or_(Conversation.model_a == filters.model, Conversation.model_b == filters.model)
        )
    if filters.mode is not None:
        found.append(Conversation.mode == filters.mode)
    if filters.since is not None:
        found.append(Conversation.created_at >= filters.since)
    if filters.until is not None:
        found.append(Conversation.created_at < filters.until)
    if filters.outcome in WINNERS:
        found.append(Vote.winner == filters.outcome)
    elif filters.outcome == "unvoted":
        found.append(and_(Vote.id.is_(None), Conversation.mode != "chat"))
    elif filters.outcome in ("thumbs_up", "thumbs_down"):
        rating = 1 if filters.outcome == "thumbs_up" else -1
        found.append(
            exists()
            .where(Turn.conversation_id == Conversation.id, Feedback.turn_id == Turn.id)
            .where(Feedback.rating == rating)
        )
    flagged = exists().where(Flag.conversation_id == Conversation.id)
    if filters.flag == "flagged":
        found.append(flagged)
    elif filters.flag == "excluded":
        found.append(flagged.where(Flag.excluded.is_(True)))
    elif filters.flag == "unflagged":
        found.append(~flagged)
    return found


def feedback_of(db: Database, conversation_id: str) -> dict[int, TurnFeedback]:
    """The thumbs on a conversation's answers, by turn position."""
    query = (
        select(
            Turn.position, Feedback.rating, Feedback.reason, Feedback.comment, Feedback.created_at
        )
        .join(Turn, Turn.id == Feedback.turn_id)
        .where(Turn.conversation_id == conversation_id)
    )
    with db.session() as session:
        return {
            row.position: TurnFeedback(row.rating, row.reason, row.comment, row.created_at)
            for row in session.execute(query)
        }


def vote_stats(db: Database, filters: Filters) -> tuple[list[ModelStats], list[DayStats]]:
    """Votes of `filters.mode` (any mode when None) and the thumbs of direct chats, cast
    between `since` and `until` on conversations with `filters.model` (any when None):
    counted per model (by name) and per UTC day (oldest first)."""
    models: dict[str, ModelStats] = {}
    days: dict[str, DayStats] = {}

    def model(name: str) -> ModelStats:
        return models.setdefault(name, ModelStats(name))

    def day(name: str) -> DayStats:
        return days.setdefault(name, DayStats(name))

    votes = _within(
        select(Vote.winner).join(Conversation, Conversation.id == Vote.conversation_id),
        Vote.created_at,
        filters,
    )
    if filters.mode is not None:
        votes = votes.where(Conversation.mode == filters.mode)
    thumbs = _within(
        select(Feedback.rating)
        .join(Turn, Turn.id == Feedback.turn_id)
        .join(Conversation, Conversation.id == Turn.conversation_id),
        Feedback.created_at,
        filters,
    )
    vote_day = _day(db, Vote.created_at)
    thumb_day = _day(db, Feedback.created_at)
    with db.session() as session:
        for side, other in (("a", "b"), ("b", "a")):
            column = getattr(Conversation, f"model_{side}")
            for winner, name, count in session.execute(
                votes.add_columns(column, func.count()).group_by(column, Vote.winner)
            ).all():
                _count_vote(model(name), winner, side, other, count)
        for winner, day_name, count in session.execute(
            votes.add_columns(vote_day, func.count()).group_by(vote_day, Vote.winner)
        ).all():
            found = day(day_name)
            found.votes += count
            found.outcomes[winner] = found.outcomes.get(winner, 0) + count
        for rating, name, reason, count in session.execute(
            thumbs.add_columns(Conversation.model_a, Feedback.reason, func.count()).group_by(
                Conversation.model_a, Feedback.rating, Feedback.reason
            )
        ).all():
            stats = model(name)
            if rating > 0:
                stats.thumbs_up += count
            else:
                stats.thumbs_down += count
                if reason:
                    stats.reasons[reason] = stats.reasons.get(reason, 0) + count
        for rating, day_name, count in session.execute(
            thumbs.add_columns(thumb_day, func.count()).group_by(thumb_day, Feedback.rating)
        ).all():
            if rating > 0:
                day(day_name).thumbs_up += count
            else:
                day(day_name).thumbs_down += count
    if filters.model is not None:  # its opponents' rows say nothing of their own
        models = {name: stats for name, stats in models.items() if name == filters.model}
    ranked = sorted(
        models.values(), key=lambda s: (-s.votes - s.thumbs_up - s.thumbs_down, s.model)
    )
    return ranked, [days[name] for name in sorted(days)]


def _within(query: Select[Any], moment: Any, filters: Filters) -> Select[Any]:
    if filters.model is not None:
        query = query.where(
            or_(Conversation.model_a == filters.model, Conversation.model_b == filters.model)
        )
    if filters.since is not None:
        query = query.where(moment >= filters.since)
    if filters.until is not None:
        query = query.where(moment < filters.until)
    return query


def _count_vote(stats: ModelStats, winner: str, side: str, other: str, count: int) -> None:
    stats.votes += count
    if winner == f"model_{side}":
        stats.wins += count
    elif winner == f"model_{other}":
        stats.losses += count
    elif winner == "tie":
        stats.ties += count
    else:
        stats.both_bad += count


def _day(db: Database, moment: Any) -> ColumnElement[str]:
    """A stored moment's UTC day as YYYY-MM-DD text, in the database's own dialect."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", moment)  # SQLite keeps UTC moments as text
