"""The arena's reads and writes: visitors, conversations and their turns, votes (with
the features the ratings read off the conversation), feedback, flags, model records and
benchmark scores."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelarena.store.battles import Features
from modelarena.store.db import Database
from modelarena.store.models import (
    MAX_INTEGER,
    Conversation,
    Feedback,
    Flag,
    Score,
    Turn,
    Visitor,
    Vote,
    utcnow,
)

SIDES = ("a", "b")
_SIDE_COLUMNS = (
    "answer_{}",
    "finish_{}",
    "error_{}",
    "ttft_{}_ms",
    "duration_{}_ms",
    "prompt_tokens_{}",
    "completion_tokens_{}",
)


@dataclass
class SideResult:
    """What one side produced for a turn."""

    answer: str
    finish_reason: str | None
    error: str | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class TurnView:
    id: int
    position: int
    prompt: str
    image: str | None
    answers: dict[str, str | None]
    finish: dict[str, str | None]
    errors: dict[str, str | None]
    completion_tokens: dict[str, int | None]
    rating: int | None = None  # a direct chat's thumbs on the answer as it now is

    @classmethod
    def unanswered(cls, turn_id: int, position: int, prompt: str, image: str | None) -> TurnView:
        nothing = dict.fromkeys(SIDES)
        return cls(
            turn_id,
            position,
            prompt,
            image,
            dict(nothing),
            dict(nothing),
            dict(nothing),
            dict(nothing),
        )

    def ok(self, sides: Sequence[str]) -> bool:
        """Every side answered without an error."""
        return all(self.finish[s] is not None and self.errors[s] is None for s in sides)


@dataclass(frozen=True)
class ConversationView:
    id: str
    visitor_id: str
    mode: str
    models: dict[str, str]
    sampling: dict[str, Any]
    vision: bool
    created_at: datetime
    turns: list[TurnView] = field(default_factory=list)
    winner: str | None = None

    @property
    def sides(self) -> tuple[str, ...]:
        return tuple(self.models)


def _turn_view(row: Any) -> TurnView:
    return TurnView(
        id=row.id,
        position=row.position,
        prompt=row.prompt,
        image=row.image,
        answers={"a": row.answer_a, "b": row.answer_b},
        finish={"a": row.finish_a, "b": row.finish_b},
        errors={"a": row.error_a, "b": row.error_b},
        completion_tokens={"a": row.completion_tokens_a, "b": row.completion_tokens_b},
        rating=row.rating,
    )


def ensure_visitor(db: Database, visitor_id: str, ip_hash: str) -> None:
    """Record a visitor the first time it is seen."""
    try:
        with db.session() as session:
            if session.get(Visitor, visitor_id) is None:
                session.add(Visitor(id=visitor_id, ip_hash=ip_hash))
    except IntegrityError:
        pass  # a concurrent first request of the same visitor inserted it meanwhile


def terms_accepted(db: Database, visitor_id: str) -> bool:
    with db.session() as session:
        row = session.get(Visitor, visitor_id)
        return row is not None and row.terms_accepted_at is not None


def accept_terms(db: Database, visitor_id: str) -> None:
    with db.session() as session:
        session.execute(
            update(Visitor)
            .where(Visitor.id == visitor_id, Visitor.terms_accepted_at.is_(None))
            .values(terms_accepted_at=utcnow())
        )


def create_conversation(
    db: Database,
    conversation_id: str,
    visitor_id: str,
    mode: str,
    models: Sequence[str],
    sampling: dict[str, Any],
    vision: bool,
) -> ConversationView:
    """Store a new conversation and return it (no turns yet); `vision`: it may carry
    images."""
    row = Conversation(
        id=conversation_id,
        visitor_id=visitor_id,
        mode=mode,
        model_a=models[0],
        model_b=models[1] if len(models) > 1 else None,
        sampling=dict(sampling),
        vision=vision,
    )
    with db.session() as session:
        session.add(row)
    return ConversationView(
        id=row.id,
        visitor_id=row.visitor_id,
        mode=row.mode,
        models={"a": row.model_a} | ({"b": row.model_b} if row.model_b else {}),
        sampling=dict(row.sampling),
        vision=row.vision,
        created_at=row.created_at,
    )


# Built once and reused with a bound id: this read runs several times per battle, and
# building a statement costs more than running it.
_CONVERSATION = (
    select(
        Conversation.id,
        Conversation.visitor_id,
        Conversation.mode,
        Conversation.model_a,
        Conversation.model_b,
        Conversation.sampling,
        Conversation.vision,
        Conversation.created_at,
        Vote.winner,
    )
    .outerjoin(Vote, Vote.conversation_id == Conversation.id)
    .where(Conversation.id == bindparam("conversation_id"))
)
_TURNS = (
    select(
        Turn.id,
        Turn.position,
        Turn.prompt,
        Turn.image,
        Turn.answer_a,
        Turn.answer_b,
        Turn.finish_a,
        Turn.finish_b,
        Turn.error_a,
        Turn.error_b,
        Turn.completion_tokens_a,
        Turn.completion_tokens_b,
        Feedback.rating,
    )
    .outerjoin(Feedback, Feedback.turn_id == Turn.id)
    .where(Turn.conversation_id == bindparam("conversation_id"))
    .order_by(Turn.position)
)


def get_conversation(db: Database, conversation_id: str) -> ConversationView | None:
    with db.session() as session:
        return _read_conversation(session, conversation_id)


def _read_conversation(session: Session, conversation_id: str) -> ConversationView | None:
    key = {"conversation_id": conversation_id}
    row = session.execute(_CONVERSATION, key).one_or_none()
    if row is None:
        return None
    return ConversationView(
        id=row.id,
        visitor_id=row.visitor_id,
        mode=row.mode,
        models={"a": row.model_a} | ({"b": row.model_b} if row.model_b else {}),
        sampling=dict(row.sampling or {}),
        vision=bool(row.vision),
        created_at=row.created_at,
        turns=[_turn_view(t) for t in session.execute(_TURNS, key)],
        winner=row.winner,
    )


def add_turn(
    db: Database, conversation_id: str, position: int, prompt: str, image: str | None
) -> int | None:
    """A new turn with no answers yet; its id, or None when the conversation has been
    voted. The (conversation, position) pair is unique, so of two concurrent sends one
    adds the turn and the other gets `TurnTaken`."""
    try:
        with db.session() as session:
            if _voted(session, conversation_id):
                return None
            row = Turn(
                conversation_id=conversation_id, position=position, prompt=prompt, image=image
            )
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        raise TurnTaken(conversation_id, position) from None


class TurnTaken(Exception):
    """Another request added this turn of the conversation first."""


def reset_turn(db: Database, conversation_id: str, turn_id: int) -> bool:
    """Clear a turn's answers, and the thumbs given to them, before it is generated
    again; False when the conversation has been voted (its answers are then final)."""
    values: dict[str, Any] = {"regenerations": Turn.regenerations + 1}
    for side in SIDES:
        for column in _SIDE_COLUMNS:
            values[column.format(side)] = None
    with db.session() as session:
        if _voted(session, conversation_id):
            return False
        session.execute(update(Turn).where(Turn.id == turn_id).values(**values))
        # A rating belongs to the answer it was given to, which is gone now.
        session.execute(delete(Feedback).where(Feedback.turn_id == turn_id))
        return True


def _voted(session: Session, conversation_id: str) -> bool:
    return (
        session.scalar(select(Vote.id).where(Vote.conversation_id == conversation_id)) is not None
    )


# SideResult's fields, in the order of _SIDE_COLUMNS.
_RESULT_FIELDS = (
    "answer",
    "finish_reason",
    "error",
    "ttft_ms",
    "duration_ms",
    "prompt_tokens",
    "completion_tokens",
)
_SAVE_SIDE = {
    side: update(Turn)
    .where(Turn.id == bindparam("turn_id"))
    .values(
        {
            column.format(side): bindparam(f"new_{field}")
            for column, field in zip(_SIDE_COLUMNS, _RESULT_FIELDS, strict=True)
        }
    )
    for side in SIDES
}


def save_side(db: Database, turn_id: int, side: str, result: SideResult) -> None:
    """Store one side's answer. A model may write U+0000, which PostgreSQL cannot hold in
    text: it is dropped from the stored answer rather than losing the answer."""
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r}")
    values = {f"new_{field}": _storable(getattr(result, field)) for field in _RESULT_FIELDS}
    with db.session() as session:
        session.execute(_SAVE_SIDE[side], {"turn_id": turn_id, **values})


def _storable(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


def add_vote(
    db: Database,
    conversation_id: str,
    visitor_id: str,
    winner: str,
    check: Callable[[ConversationView | None], None] | None = None,
    features: Callable[[ConversationView], Features] | None = None,
) -> bool:
    """Commit the conversation's vote; False when it already has one. `check` sees the
    conversation as read in the same transaction and refuses the vote by raising;
    `features` computes from it the features stored in the vote."""
    try:
        with db.session() as session:
            view = _read_conversation(session, conversation_id) if check or features else None
            if check is not None:
                check(view)
            described = asdict(features(view)) if features and view else {}
            session.add(
                Vote(
                    conversation_id=conversation_id,
                    visitor_id=visitor_id,
                    winner=winner,
                    **described,
                )
            )
    except IntegrityError:
        return False
    return True


def set_feedback(
    db: Database,
    turn_id: int,
    visitor_id: str,
    rating: int,
    reason: str | None = None,
    comment: str | None = None,
) -> None:
    """Store (or replace) the thumbs up (+1) or down (-1) on a chat answer, with the
    reason and comment a thumbs down may carry."""
    given = {"rating": rating, "reason": reason, "comment": comment}
    for _ in range(2):  # a concurrent first rating (a double click) wins the insert
        try:
            with db.session() as session:
                row = session.scalar(select(Feedback).where(Feedback.turn_id == turn_id))
                if row is None:
                    session.add(Feedback(turn_id=turn_id, visitor_id=visitor_id, **given))
                else:
                    for name, value in given.items():
                        setattr(row, name, value)
                    row.created_at = utcnow()
            return
        except IntegrityError:
            continue


def add_flag(db: Database, conversation_id: str, kind: str, detail: str, excluded: bool) -> None:
    with db.session() as session:
        session.add(
            Flag(conversation_id=conversation_id, kind=kind, detail=detail, excluded=excluded)
        )


@dataclass(frozen=True)
class FlagView:
    id: int
    conversation_id: str
    kind: str
    detail: str
    excluded: bool
    created_at: datetime
    reviewed_at: datetime | None


def list_flags(
    db: Database, unreviewed_only: bool = False, conversation_id: str | None = None
) -> list[FlagView]:
    query = select(Flag).order_by(Flag.id)
    if unreviewed_only:
        query = query.where(Flag.reviewed_at.is_(None))
    if conversation_id is not None:
        query = query.where(Flag.conversation_id == conversation_id)
    with db.session() as session:
        return [
            FlagView(
                f.id, f.conversation_id, f.kind, f.detail, f.excluded, f.created_at, f.reviewed_at
            )
            for f in session.scalars(query)
        ]


def review_flag(db: Database, flag_id: int, excluded: bool) -> bool:
    if not 0 < flag_id <= MAX_INTEGER:
        return False
    with db.session() as session:
        row = session.get(Flag, flag_id)
        if row is None:
            return False
        row.excluded = excluded
        row.reviewed_at = utcnow()
        return True


# --- benchmark scores ---


def upsert_scores(db: Database, rows: Iterable[tuple[str, str, float]], source: str) -> int:
    """Store (model, benchmark, value) rows, replacing earlier values; how many."""
    count = 0
    with db.session() as session:
        for model, benchmark, value in rows:
            row = session.scalar(
                select(Score).where(Score.model == model, Score.benchmark == benchmark)
            )
            if row is None:
                row = Score(model=model, benchmark=benchmark)
                session.add(row)
            row.value = float(value)
            row.source = source
            row.imported_at = utcnow()
            count += 1
    return count


def scores(db: Database) -> dict[str, dict[str, float]]:
    """model -> benchmark -> value."""
    table: dict[str, dict[str, float]] = {}
    with db.session() as session:
        for row in session.scalars(select(Score).order_by(Score.benchmark)):
            table.setdefault(row.model, {})[row.benchmark] = row.value
    return table
