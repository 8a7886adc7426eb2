"""The stored blind-battle votes as rating rows, read incrementally for the live
leaderboard.

A voted conversation never changes, so each is read, measured and categorised once and
kept as a small row (no conversation text). What can change after a vote — excluding
flags and prompt labels — is re-read on every load, which costs two small queries.
"""

from __future__ import annotations

from typing import Any

from modelarena.arena.export import battle_records
from modelarena.rating.data import category_columns
from modelarena.store import arena as store
from modelarena.store import repo
from modelarena.store.db import Database

KEPT = ("question_id", "model_a", "model_b", "winner", "judge", "anony", "tstamp", "turn")
CHUNK = 500  # conversations read per query


class BattleTable:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._rows: dict[str, dict[str, Any]] = {}

    def load(self) -> list[dict[str, Any]]:
        """Every voted blind battle without an excluding flag, oldest vote first, with
        the built-in categories and the prompt labels as boolean columns."""
        order, excluded = store.voted_conversations(self.db)
        new = [conversation for conversation in order if conversation not in self._rows]
        for start in range(0, len(new), CHUNK):
            self._add(
                battle_records(
                    self.db, include_excluded=True, conversation_ids=new[start : start + CHUNK]
                )
            )
        labels = repo.prompt_labels(self.db)
        return [
            self._rows[c] | labels.get(c, {})
            for c in order
            if c not in excluded and c in self._rows
        ]

    def _add(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        flags = category_columns(records)
        for number, record in enumerate(records):
            row = {key: record[key] for key in KEPT}
            row.update({name: values[number] for name, values in flags.items()})
            self._rows[record["question_id"]] = row
