"""Human votes for calibration: FastChat `clean_battle` records from a battle file (read by
the rating engine) or from the arena database (given as an SQLAlchemy URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelarena.judge.errors import JudgeError
from modelarena.vocabulary import WINNING_SIDE

# The side a vote chose, "tie" for either tie.
HUMAN_WINNERS = {label: side or "tie" for label, side in WINNING_SIDE.items()}
# Boolean columns of a battle record that are not categories.
_NOT_CATEGORIES = frozenset({"anony"})


def is_database_url(source: str) -> bool:
    return "://" in source


def battle_records(source: str) -> list[dict[str, Any]]:
    """Every battle record of a battle file (.json, .jsonl, .csv, .parquet) or database."""
    if is_database_url(source):
        from modelarena.arena.export import battle_records as export
        from modelarena.judge.database import arena_database

        with arena_database(source) as database:
            records = export(database)
        if not records:
            raise JudgeError("the arena database holds no voted battles")
        return records
    from modelarena.rating import BattleDataError, read_battles

    try:
        return read_battles(Path(source)).to_pylist()
    except BattleDataError as exc:
        raise JudgeError(str(exc)) from None


def vote_turn(record: dict[str, Any]) -> int:
    """The turn a vote judges: `turn`, else the number of user turns shown, else 1."""
    if record.get("turn") is not None:
        return int(record["turn"])
    from modelarena.rating.conversations import texts

    return max(len(texts(record.get("conversation_a"), "user")), 1)


def vote_categories(record: dict[str, Any]) -> frozenset[str]:
    """A record's `category` text and the names of its true boolean label columns."""
    names = {
        name for name, value in record.items() if value is True and name not in _NOT_CATEGORIES
    }
    if isinstance(record.get("category"), str) and record["category"]:
        names.add(record["category"])
    return frozenset(names)


def human_votes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Votes keyed like judge pairs: (question, turn, model_1, model_2) with the models in
    name order, and `label` '1', '2' or 'tie' (the model that won, as model_1/model_2)."""
    votes = []
    for number, record in enumerate(records, 1):
        missing = [
            k for k in ("question_id", "model_a", "model_b", "winner") if record.get(k) is None
        ]
        if missing:
            raise JudgeError(
                f"vote {number} lacks {', '.join(missing)}; agreement joins "
                "votes to judgments on question_id, the model pair and turn"
            )
        if record["winner"] not in HUMAN_WINNERS:
            raise JudgeError(
                f"vote {number}: unknown winner {record['winner']!r}; expected one "
                f"of {', '.join(HUMAN_WINNERS)}"
            )
        first, second = sorted((record["model_a"], record["model_b"]))
        side = HUMAN_WINNERS[record["winner"]]
        winner = {"a": record["model_a"], "b": record["model_b"]}.get(side)
        votes.append(
            {
                "key": (str(record["question_id"]), vote_turn(record), first, second),
                "label": "tie" if winner is None else ("1" if winner == first else "2"),
                "categories": vote_categories(record),
            }
        )
    return votes
