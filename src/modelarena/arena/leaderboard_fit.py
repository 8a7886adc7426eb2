"""One fit of the live leaderboard: every category's Bradley–Terry board from the stored
blind votes, joined with the models' metadata and benchmark scores.

It runs in a child process of the server (see live_leaderboard.py), which keeps its own
database connection and battle table between fits: `open_store` sets them up, `fit`
computes a snapshot.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from modelarena.arena.battle_table import BattleTable
from modelarena.rating import Filters, RatingConfig, RatingError, rate, select_battles
from modelarena.store import arena as store
from modelarena.store.db import Database
from modelarena.vocabulary import BUILTIN_CATEGORIES, LABEL_CATEGORIES

METADATA = ("display_name", "organization", "license", "parameters", "context_length")


@dataclass(frozen=True)
class Board:
    """One category's rows, or why it has none yet."""

    rows: list[dict[str, Any]]
    battles: int
    message: str | None = None


@dataclass(frozen=True)
class Snapshot:
    computed_at: float | None = None
    votes: int = 0
    boards: dict[str, Board] = field(default_factory=dict)
    benchmarks: list[str] = field(default_factory=list)

    def board(self, category: str) -> Board:
        return self.boards.get(category) or Board([], 0, f"no leaderboard for {category!r} yet")


_battles: BattleTable | None = None


def open_store(db_url: str, server_pid: int) -> None:
    """Connect this process to the arena's database (once, when the process starts), and
    make it exit when the server (`server_pid`) does, however the server ends (kill -9
    included, even before this process got here)."""
    global _battles
    threading.Thread(target=_exit_with_parent, args=(server_pid,), daemon=True).start()
    _battles = BattleTable(Database(db_url))


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def fit(
    metadata: dict[str, dict[str, Any]], with_battles: bool
) -> tuple[Snapshot, list[tuple[str, str, str]]]:
    """Fit every category; also (model_a, model_b, winner) of each battle when asked
    (the active pair sampler learns from them)."""
    assert _battles is not None, "open_store() first"
    loaded = _battles.load()
    scores = store.scores(_battles.db)
    benchmarks = sorted({name for values in scores.values() for name in values})
    table = loaded if loaded.num_rows else None
    labels = [c for c in LABEL_CATEGORIES if table is not None and c in table.column_names]
    boards = {
        category: _board(table, category, metadata, scores)
        for category in ("all", *BUILTIN_CATEGORIES, *labels)
    }
    battles = []
    if with_battles and table is not None:
        columns = [table[name].to_pylist() for name in ("model_a", "model_b", "winner")]
        battles = list(zip(*columns, strict=True))
    return Snapshot(time.time(), loaded.num_rows, boards, benchmarks), battles


def _board(
    table: pa.Table | None,
    category: str,
    metadata: dict[str, dict[str, Any]],
    scores: dict[str, dict[str, float]],
) -> Board:
    if table is None:
        return Board([], 0, "No votes yet.")
    # The table holds blind battles only, and each category is a boolean column of it.
    selected = table if category == "all" else table.filter(table[category])
    try:
        selection = select_battles(selected, Filters(anonymous_only=False))
        board = rate(selection.battles, RatingConfig())
    except RatingError as exc:
        return Board([], 0, f"Not enough votes yet ({exc}).")
    rows = board.records()
    for row in rows:
        meta = metadata.get(row["model"], {})
        row.update({key: meta.get(key) for key in METADATA})
        row["deprecated"] = meta.get("state") == "retired"
        row["scores"] = scores.get(row["model"], {})
    # Models in groups that never met come with a group number per row and a warning.
    return Board(rows, len(selection.battles), "; ".join(board.warnings) or None)
