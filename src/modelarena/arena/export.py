"""Battles and conversations as records for files (FastChat's `clean_battle` records,
JSON lines, Parquet), and FastChat battle records back into the store."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelarena.arena.battle_features import features
from modelarena.rating import conversation_metadata
from modelarena.store import exports, repo
from modelarena.store.db import Database
from modelarena.store.exports import StoredConversation, StoredTurn
from modelarena.vocabulary import WINNERS

FORMATS = ("fastchat", "jsonl", "parquet")


def voter_id(visitor_id: str) -> str:
    """The public name of a voter: a hash, since the visitor id is its cookie."""
    return "voter-" + hashlib.sha256(visitor_id.encode()).hexdigest()[:16]


def _messages(conversation: StoredConversation, side: str) -> list[dict[str, str]]:
    messages = []
    for turn in conversation.turns:
        messages.append({"role": "user", "content": turn.prompt})
        messages.append({"role": "assistant", "content": turn.sides[side].answer or ""})
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
    records = []
    for conversation in exports.voted(db, modes, conversation_ids):
        if conversation.flags and not include_excluded:
            continue
        conversation_a = _messages(conversation, "a")
        conversation_b = _messages(conversation, "b")
        record: dict[str, Any] = {
            "question_id": conversation.id,
            "model_a": conversation.model_a,
            "model_b": conversation.model_b,
            "winner": conversation.winner,
            "judge": voter_id(conversation.voter or ""),
            "anony": conversation.mode == "battle",
            "tstamp": conversation.voted_at,
            "turn": len(conversation.turns),
            "conversation_a": conversation_a,
            "conversation_b": conversation_b,
            "conv_metadata": conversation_metadata(conversation_a, conversation_b),
            "images": [t.image for t in conversation.turns if t.image],
        }
        record.update(labels.get(conversation.id, {}))
        if include_excluded:
            record["flags"] = list(conversation.flags)
        records.append(record)
    return records


def conversation_records(db: Database, conversation_id: str | None = None) -> list[dict[str, Any]]:
    """Every stored conversation of every mode (or just the one with this id), with its
    turns, timings and vote."""
    return [
        {
            "id": conversation.id,
            "mode": conversation.mode,
            "voter": voter_id(conversation.visitor_id),
            "models": [m for m in (conversation.model_a, conversation.model_b) if m],
            "sampling": conversation.sampling,
            "vision": conversation.vision,
            "created": conversation.created_at,
            "winner": conversation.winner,
            "turns": [_turn_record(t) for t in conversation.turns],
        }
        for conversation in exports.conversations(db, conversation_id)
    ]


def _turn_record(turn: StoredTurn) -> dict[str, Any]:
    record: dict[str, Any] = {
        "prompt": turn.prompt,
        "image": turn.image,
        "regenerations": turn.regenerations,
    }
    for side, answer in turn.sides.items():
        record[side] = asdict(answer)
    return record


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
    with empty text. Each is stored with the features a vote stores (categories, style
    counts). A record that is not a battle refuses the whole file.
    """
    battles = [_battle(number, record) for number, record in enumerate(records, 1)]
    computed = features([battle.turns for battle in battles])
    return exports.add_battles(
        db,
        [replace(battle, features=found) for battle, found in zip(battles, computed, strict=True)],
    )


def _battle(number: int, record: dict[str, Any]) -> exports.ImportedBattle:
    winner = record.get("winner")
    model_a, model_b = record.get("model_a"), record.get("model_b")
    if winner not in WINNERS or not model_a or not model_b:
        raise ValueError(
            f"record {number}: needs model_a, model_b and a winner in {', '.join(WINNERS)}"
        )
    judge = str(record.get("judge", ""))
    return exports.ImportedBattle(
        id=str(record.get("question_id") or uuid.uuid4().hex)[:32],
        visitor_id="import-" + hashlib.sha256(judge.encode()).hexdigest()[:25],
        anonymous=bool(record.get("anony", True)),
        model_a=model_a,
        model_b=model_b,
        winner=winner,
        moment=datetime.fromtimestamp(float(record.get("tstamp") or 0), UTC),
        turns=_pairs(record),
    )


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
