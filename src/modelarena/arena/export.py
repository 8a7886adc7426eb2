"""Battles and conversations out of the store (FastChat's `clean_battle` records, JSON
lines, Parquet) and FastChat battle files back in."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from modelarena.rating import conversation_metadata
from modelarena.rating import data as rating_data
from modelarena.store import repo
from modelarena.store.db import Database
from modelarena.store.models import Conversation, Flag, Turn, Visitor, Vote

WINNERS = tuple(rating_data.WINNERS)  # model_a, model_b, tie, tie (bothbad)
FORMATS = ("fastchat", "jsonl", "parquet")


def voter_id(visitor_id: str) -> str:
    """The public name of a voter: a hash, since the visitor id is its cookie."""
    return "voter-" + hashlib.sha256(visitor_id.encode()).hexdigest()[:16]


def _messages(turns: Sequence[Turn], side: str) -> list[dict[str, str]]:
    messages = []
    for turn in turns:
        messages.append({"role": "user", "content": turn.prompt})
        messages.append({"role": "assistant", "content": getattr(turn, f"answer_{side}") or ""})
    return messages


def battle_records(
    db: Database,
    modes: Sequence[str] = ("battle",),
    include_excluded: bool = False,
    conversation_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Every voted conversation of the given modes (or only those among
    `conversation_ids`) as a FastChat `clean_battle` record, oldest vote first.
    Conversations with an excluding flag (identity leak, ...) are left out unless
    `include_excluded`; then their flag kinds are listed in `flags`. Prompt labels become
    boolean columns named after each category."""
    labels = repo.prompt_labels(db)
    query = (
        select(Conversation, Vote)
        .join(Vote, Vote.conversation_id == Conversation.id)
        .where(Conversation.mode.in_(list(modes)))
        .options(selectinload(Conversation.turns))
        .order_by(Vote.created_at, Vote.id)
    )
    if conversation_ids is not None:
        query = query.where(Conversation.id.in_(list(conversation_ids)))
    records = []
    with db.session() as session:
        flags: dict[str, list[str]] = {}
        for flag in session.scalars(select(Flag).where(Flag.excluded.is_(True))):
            flags.setdefault(flag.conversation_id, []).append(flag.kind)
        for conversation, vote in session.execute(query):
            if conversation.id in flags and not include_excluded:
                continue
            conversation_a = _messages(conversation.turns, "a")
            conversation_b = _messages(conversation.turns, "b")
            record: dict[str, Any] = {
                "question_id": conversation.id,
                "model_a": conversation.model_a,
                "model_b": conversation.model_b,
                "winner": vote.winner,
                "judge": voter_id(vote.visitor_id),
                "anony": conversation.mode == "battle",
                "tstamp": _timestamp(vote.created_at),
                "turn": len(conversation.turns),
                "conversation_a": conversation_a,
                "conversation_b": conversation_b,
                "conv_metadata": conversation_metadata(conversation_a, conversation_b),
                "images": [t.image for t in conversation.turns if t.image],
            }
            record.update(labels.get(conversation.id, {}))
            if include_excluded:
                record["flags"] = flags.get(conversation.id, [])
            records.append(record)
    return records


def conversation_records(db: Database, conversation_id: str | None = None) -> list[dict[str, Any]]:
    """Every stored conversation of every mode (or just the one with this id), with its
    turns, timings and vote."""
    query = (
        select(Conversation, Vote.winner)
        .outerjoin(Vote, Vote.conversation_id == Conversation.id)
        .options(selectinload(Conversation.turns))
        .order_by(Conversation.created_at, Conversation.id)
    )
    if conversation_id is not None:
        query = query.where(Conversation.id == conversation_id)
    with db.session() as session:
        return [
            {
                "id": conversation.id,
                "mode": conversation.mode,
                "voter": voter_id(conversation.visitor_id),
                "models": [m for m in (conversation.model_a, conversation.model_b) if m],
                "sampling": conversation.sampling,
                "created": _timestamp(conversation.created_at),
                "winner": winner,
                "turns": [_turn_record(t) for t in conversation.turns],
            }
            for conversation, winner in session.execute(query)
        ]


def _turn_record(turn: Turn) -> dict[str, Any]:
    record: dict[str, Any] = {
        "prompt": turn.prompt,
        "image": turn.image,
        "regenerations": turn.regenerations,
    }
    for side in ("a", "b"):
        record[side] = {
            "answer": getattr(turn, f"answer_{side}"),
            "finish_reason": getattr(turn, f"finish_{side}"),
            "error": getattr(turn, f"error_{side}"),
            "ttft_ms": getattr(turn, f"ttft_{side}_ms"),
            "duration_ms": getattr(turn, f"duration_{side}_ms"),
            "prompt_tokens": getattr(turn, f"prompt_tokens_{side}"),
            "completion_tokens": getattr(turn, f"completion_tokens_{side}"),
        }
    return record


def _timestamp(moment: datetime) -> float:
    if moment.tzinfo is None:  # SQLite hands back naive UTC times
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def write_records(records: list[dict[str, Any]], path: Path, fmt: str) -> None:
    """Write records as FastChat's JSON list, JSON lines or Parquet."""
    if fmt == "fastchat":
        path.write_text(json.dumps(records, ensure_ascii=False, indent=1))
    elif fmt == "jsonl":
        with path.open("w") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [{k: _parquet_value(v) for k, v in r.items()} for r in records]
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _parquet_value(value: Any) -> Any:
    # Messages and metadata keep their structure as JSON text, which every reader takes.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def import_battles(db: Database, records: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Store FastChat battle records as voted conversations; (added, skipped).

    Records whose `question_id` is already stored are skipped, so importing a file twice
    adds nothing. Without conversations, each record becomes a one-turn conversation
    with empty text.
    """
    added = skipped = 0
    with db.session() as session:
        for number, record in enumerate(records, 1):
            winner = record.get("winner")
            model_a, model_b = record.get("model_a"), record.get("model_b")
            if winner not in WINNERS or not model_a or not model_b:
                raise ValueError(
                    f"record {number}: needs model_a, model_b and a winner in {', '.join(WINNERS)}"
                )
            conversation_id = str(record.get("question_id") or uuid.uuid4().hex)[:32]
            if session.get(Conversation, conversation_id) is not None:
                skipped += 1
                continue
            visitor_id = (
                "import-" + hashlib.sha256(str(record.get("judge", "")).encode()).hexdigest()[:25]
            )
            if session.get(Visitor, visitor_id) is None:
                session.add(Visitor(id=visitor_id, ip_hash=""))
                session.flush()
            moment = datetime.fromtimestamp(float(record.get("tstamp") or 0), UTC)
            session.add(
                Conversation(
                    id=conversation_id,
                    visitor_id=visitor_id,
                    mode="battle" if record.get("anony", True) else "side_by_side",
                    model_a=model_a,
                    model_b=model_b,
                    sampling={},
                    created_at=moment,
                )
            )
            session.flush()
            for position, (prompt, answer_a, answer_b) in enumerate(_pairs(record)):
                session.add(
                    Turn(
                        conversation_id=conversation_id,
                        position=position,
                        prompt=prompt,
                        answer_a=answer_a,
                        answer_b=answer_b,
                        finish_a="stop",
                        finish_b="stop",
                        created_at=moment,
                    )
                )
            session.add(
                Vote(
                    conversation_id=conversation_id,
                    visitor_id=visitor_id,
                    winner=winner,
                    created_at=moment,
                )
            )
            added += 1
    return added, skipped


def _pairs(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    def split(conversation: Any) -> tuple[list[str], list[str]]:
        messages = conversation if isinstance(conversation, list) else []
        users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
        answers = [str(m.get("content", "")) for m in messages if m.get("role") == "assistant"]
        return users, answers

    prompts, answers_a = split(record.get("conversation_a"))
    _, answers_b = split(record.get("conversation_b"))
    if not prompts:
        return [("", "", "")]
    answers_a += [""] * (len(prompts) - len(answers_a))
    answers_b += [""] * (len(prompts) - len(answers_b))
    return list(zip(prompts, answers_a, answers_b, strict=False))
