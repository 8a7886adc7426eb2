"""Queries: every read and write the rest of the package makes goes through here."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from modelarena.store.db import Database
from modelarena.store.models import MAX_INTEGER, ApiKey, Conversation, PromptLabel, Turn, utcnow

KEY_PREFIX = "ma-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    rpm_limit: int | None
    created_at: datetime
    revoked_at: datetime | None


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.prefix, row.rpm_limit, row.created_at, row.revoked_at)


def create_api_key(db: Database, name: str, rpm_limit: int | None = None) -> tuple[KeyInfo, str]:
    """A new random key; returns its record and the key itself (never stored)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        row = ApiKey(name=name, key_hash=hash_key(key), prefix=key[:10], rpm_limit=rpm_limit)
        session.add(row)
        session.flush()
        return _info(row), key


def find_active_key(db: Database, key: str) -> KeyInfo | None:
    with db.session() as session:
        row = session.scalar(
            select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
        )
        return _info(row) if row else None


def list_api_keys(db: Database) -> list[KeyInfo]:
    with db.session() as session:
        return [_info(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def count_active_keys(db: Database) -> int:
    return sum(1 for k in list_api_keys(db) if k.revoked_at is None)


def revoke_api_key(db: Database, key_id: int) -> bool:
    if not 0 < key_id <= MAX_INTEGER:
        return False
    with db.session() as session:
        row = session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
        return True


# --- prompt labels (written by `modelarena label`) ---


def unlabeled_prompts(
    db: Database, labeler: str, limit: int | None = None
) -> list[tuple[str, str]]:
    """(conversation id, first prompt) of stored conversations the labeller has not
    labelled yet, oldest first."""
    labelled = select(PromptLabel.conversation_id).where(PromptLabel.labeler == labeler)
    query = (
        select(Turn.conversation_id, Turn.prompt)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .where(Turn.position == 0, Turn.conversation_id.not_in(labelled))
        .order_by(Conversation.created_at, Conversation.id)
        .limit(limit)
    )
    with db.session() as session:
        return [(row[0], row[1]) for row in session.execute(query)]


def save_prompt_label(
    db: Database, conversation_id: str, labeler: str, categories: dict[str, bool], raw: str
) -> None:
    """Store (or replace) one labeller's categories for a conversation's prompt."""
    with db.session() as session:
        row = session.scalar(
            select(PromptLabel).where(
                PromptLabel.conversation_id == conversation_id, PromptLabel.labeler == labeler
            )
        )
        if row is None:
            row = PromptLabel(conversation_id=conversation_id, labeler=labeler)
            session.add(row)
        row.categories = dict(categories)
        row.raw = raw
        row.created_at = utcnow()


def prompt_labels(db: Database) -> dict[str, dict[str, bool]]:
    """Each labelled conversation's categories; where several labellers labelled one
    conversation, the newest label wins."""
    query = select(PromptLabel).order_by(PromptLabel.created_at, PromptLabel.id)
    with db.session() as session:
        return {row.conversation_id: dict(row.categories) for row in session.scalars(query)}
