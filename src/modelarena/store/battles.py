"""Votes as the small columns the live leaderboard fits (vote, conversation, winner,
the categories stored with the vote, the blind battle's models; never the text), read in
big chunks, and the features of votes stored before features were, written back.

Each read is one table at a time, whole (a first load) or for given ids: at a million
votes, two scans joined by the caller take about 2.5 s where one SQL join, looking each
row up by its string key, took 11 s and more on SQLite.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import Integer, cast, func, select, update

from modelarena.store.db import Database
from modelarena.store.models import Conversation, Flag, Vote

# The built-in categories, as bits 0, 1, 2, 3 of a vote's category mask.
CATEGORIES = ("long", "multi_turn", "code", "math")
# Each side's answer-style counts, side A's four then side B's (style control reads them).
STYLE_COUNTS = tuple(
    f"{count}_{side}" for side in "ab" for count in ("tokens", "headers", "lists", "bold")
)
CHUNK = 100_000  # rows per fetch
_IDS_PER_QUERY = 5_000  # ids bound in one `in (...)`

Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class Features:
    """A voted conversation's features, as its vote keeps them (columns of the same
    names): its turns and prompt tokens, built-in categories, prompt language, and each
    side's answer tokens, markdown headers, list items and bold spans."""

    turns: int
    user_tokens: int
    long: bool
    multi_turn: bool
    code: bool
    math: bool
    language: str
    tokens_a: int
    tokens_b: int
    headers_a: int
    headers_b: int
    lists_a: int
    lists_b: int
    bold_a: int
    bold_b: int

    @property
    def categories(self) -> int:
        """The built-in categories as a mask (bits in the order of CATEGORIES)."""
        return sum(1 << bit for bit, name in enumerate(CATEGORIES) if getattr(self, name))


FEATURES = tuple(field.name for field in fields(Features))


def votes(db: Database, after: int = 0, ids: Collection[int] | None = None) -> Columns:
    """`vote`, `conversation`, `winner`, `categories` (the mask of Features.categories;
    None where the vote has no features) and the STYLE_COUNTS of every vote with an id
    above `after` (or of the votes `ids`), by vote id."""
    bits = [cast(getattr(Vote, name), Integer) * (1 << b) for b, name in enumerate(CATEGORIES)]
    query = select(
        Vote.id,
        Vote.conversation_id,
        Vote.winner,
        functools.reduce(operator.add, bits),
        *(getattr(Vote, name) for name in STYLE_COUNTS),
    ).order_by(Vote.id)
    names = ("vote", "conversation", "winner", "categories", *STYLE_COUNTS)
    if ids is not None:
        return _each_chunk(db, query, Vote.id, ids, names)
    return _columns(db, query.where(Vote.id > after), names)


def battles(db: Database, conversation_ids: Collection[str] | None = None) -> Columns:
    """`conversation`, `model_a` and `model_b` of every blind battle (or of those among
    `conversation_ids`)."""
    query = select(Conversation.id, Conversation.model_a, Conversation.model_b).where(
        Conversation.mode == "battle"
    )
    names = ("conversation", "model_a", "model_b")
    if conversation_ids is not None:
        return _each_chunk(db, query, Conversation.id, conversation_ids, names)
    return _columns(db, query, names)


def _each_chunk(
    db: Database, query: Any, key: Any, ids: Collection[Any], names: Sequence[str]
) -> Columns:
    found: Columns = {name: [] for name in names}
    wanted = sorted(ids)
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        part = _columns(db, query.where(key.in_(wanted[start : start + _IDS_PER_QUERY])), names)
        for name in names:
            found[name].extend(part[name])
    return found


def _columns(db: Database, query: Any, names: Sequence[str]) -> Columns:
    """The query's rows as one list per column, fetched in chunks of CHUNK rows straight
    from the driver's cursor: making SQLAlchemy rows of a million costs more than reading
    them. (So values come as the driver gives them: plain numbers and text.)"""
    found: Columns = {name: [] for name in names}
    with db.engine.connect() as connection:
        result = connection.execute(query)
        try:
            while rows := result.cursor.fetchmany(CHUNK):
                # A pass per column: far cheaper than transposing the rows with zip(*rows).
                for index, name in enumerate(names):
                    found[name].extend(map(operator.itemgetter(index), rows))
        finally:
            result.close()
    return found


def vote_count(db: Database) -> int:
    """How many votes are stored (of every mode)."""
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Vote)) or 0)


def vote_ids(db: Database) -> list[int]:
    """The id of every stored vote."""
    with db.session() as session:
        return list(session.scalars(select(Vote.id)))


def excluded_conversations(db: Database) -> set[str]:
    """Ids of the conversations with an excluding flag (identity leak, ...)."""
    with db.session() as session:
        return set(session.scalars(select(Flag.conversation_id).where(Flag.excluded.is_(True))))


def save_features(db: Database, features: dict[int, Features]) -> None:
    """Store the features of votes (by vote id) that were stored without them."""
    if features:
        with db.session() as session:
            session.execute(update(Vote), [{"id": k, **asdict(v)} for k, v in features.items()])
