"""The database tables, as SQLAlchemy 2 declarative classes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Integer columns (ids included) are 32-bit on PostgreSQL: a larger number names no row.
MAX_INTEGER = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    """A gateway API key. Only its SHA-256 is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    rpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Visitor(Base):
    """A browser visitor of the arena: a random id kept in a cookie; the IP only as a
    salted hash."""

    __tablename__ = "visitors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ip_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    terms_accepted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class Conversation(Base):
    """One battle (anonymous), side-by-side comparison (named) or direct chat.

    `model_b` is empty for direct chat. The id is random and unguessable; it is the
    battle's `question_id` in exports.
    """

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    visitor_id: Mapped[str] = mapped_column(ForeignKey("visitors.id"), index=True)
    mode: Mapped[str] = mapped_column(String(16))  # battle | side_by_side | chat
    model_a: Mapped[str] = mapped_column(String(200))
    model_b: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sampling: Mapped[dict] = mapped_column(JSON, default=dict)
    vision: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    turns: Mapped[list[Turn]] = relationship(
        back_populates="conversation", order_by="Turn.position", lazy="selectin"
    )


class Turn(Base):
    """One user prompt and the answer of each side, with timings and token counts."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("conversation_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(80), nullable=True)  # sha256 + ext
    regenerations: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answer_a: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_b: Mapped[str | None] = mapped_column(Text, nullable=True)
    finish_a: Mapped[str | None] = mapped_column(String(32), nullable=True)
    finish_b: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_a: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_b: Mapped[str | None] = mapped_column(Text, nullable=True)
    ttft_a_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    ttft_b_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_a_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration_b_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    prompt_tokens_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prompt_tokens_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    conversation: Mapped[Conversation] = relationship(back_populates="turns")


class Vote(Base):
    """The one vote of a battle or side-by-side conversation, with what the ratings read
    off the conversation as voted (so the live leaderboard never reads the text again):
    its turns and prompt tokens, the built-in categories, the prompt's language, and each
    side's answer-style counts (tokens, markdown headers, list items, bold spans). These
    are null for a vote stored before they were (migration 0005) until the leaderboard
    first reads it."""

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), unique=True)
    visitor_id: Mapped[str] = mapped_column(ForeignKey("visitors.id"), index=True)
    winner: Mapped[str] = mapped_column(String(16))  # model_a | model_b | tie | tie (bothbad)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    turns: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    long: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    multi_turn: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    code: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    math: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    language: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tokens_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lists_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lists_b: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bold_a: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bold_b: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Feedback(Base):
    """Thumbs up (+1) or down (-1) on one answer of a direct chat; a thumbs down may say
    why (`reason`, one of a fixed list) and carry the visitor's `comment`."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id"), unique=True)
    visitor_id: Mapped[str] = mapped_column(ForeignKey("visitors.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Flag(Base):
    """Something that may keep a conversation out of the ratings (an identity leak, a
    refused prompt). `excluded` is what counts; an admin review may change it."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    excluded: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ModelRecord(Base):
    """A model of the registry: its full definition (`definition`, what the configuration
    file or `models add` gave; any API key only encrypted, in `secret`), where it came from
    (`source`: config or runtime), its lifecycle (`state`: active, paused or retired, with
    dates), a `revision` bumped by every change, its public metadata as columns, and the
    admin's arena overrides (None: the configured value)."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    license: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parameters: Mapped[str | None] = mapped_column(String(64), nullable=True)
    context_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vision: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    weight: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str] = mapped_column(String(16), default="config")
    definition: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="active")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ModelChangeRecord(Base):
    """The audit trail of the registry: who changed which model, when, and its values
    before and after (secrets never, only whether one is set)."""

    __tablename__ = "model_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Score(Base):
    """A benchmark score of a model (MT-Bench, MMLU, ...) shown on the leaderboard."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("model", "benchmark"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    benchmark: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(500), default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PromptLabel(Base):
    """Categories a labeller (a judge model) gave a conversation's first prompt:
    `categories` maps a category name to true/false."""

    __tablename__ = "prompt_labels"
    __table_args__ = (UniqueConstraint("conversation_id", "labeler"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    labeler: Mapped[str] = mapped_column(String(200))
    categories: Mapped[dict] = mapped_column(JSON, default=dict)
    raw: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PromptEmbedding(Base):
    """A blind battle's first prompt as one embedding model sees it (`vector`: float32
    bytes), computed once for the leaderboard of a topic."""

    __tablename__ = "prompt_embeddings"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
