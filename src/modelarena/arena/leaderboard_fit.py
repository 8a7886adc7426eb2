"""One fit of the live leaderboard: every category's Bradley–Terry board from the stored
blind votes, raw and style-controlled, joined with the models' metadata and benchmark
scores.

It runs in a child process of the server (see live_leaderboard.py), which keeps its own
database connection and battle table between fits: `open_store` sets them up, `fit`
computes a snapshot.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from modelarena.arena.battle_table import BattleTable
from modelarena.rating import Filters, RatingConfig, RatingError, rate, select_battles
from modelarena.store import arena as store
from modelarena.store.db import Database
from modelarena.vocabulary import BUILTIN_CATEGORIES, LABEL_CATEGORIES

log = logging.getLogger(__name__)

METADATA = ("display_name", "organization", "license", "parameters", "context_length", "url")
NO_VOTES = "No votes yet: the ratings appear here once people have battled and voted."
GROUPS = (
    "Some models have never met each other in a battle, so each group is rated on its own: "
    "ratings in different groups cannot be compared."
)


@dataclass(frozen=True)
class Board:
    """One category's rows (best first), or why it has none yet; with style control, the
    style coefficients; `pairs` holds the models' pairwise matrices in `rows`' order:
    battles, observed and predicted win rates (None where undefined)."""

    rows: list[dict[str, Any]]
    battles: int
    message: str | None = None
    coefficients: list[dict[str, Any]] = field(default_factory=list)
    pairs: dict[str, list[list[float | None]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """Every category's board, raw and style-controlled (`styled`, empty after a fit
    without style control), from one fit."""

    computed_at: float | None = None
    votes: int = 0
    boards: dict[str, Board] = field(default_factory=dict)
    styled: dict[str, Board] = field(default_factory=dict)
    benchmarks: list[str] = field(default_factory=list)

    def board(self, category: str, style: bool = False) -> Board:
        found = (self.styled if style else self.boards).get(category)
        if found is not None:
            return found
        if self.computed_at is None:
            return Board([], 0, "The ratings are being computed; this page updates by itself.")
        return Board([], 0, NO_VOTES)


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
    metadata: dict[str, dict[str, Any]], with_battles: bool, style: bool = True
) -> tuple[Snapshot, list[tuple[str, str, str]]]:
    """Fit every category, raw and (with `style`) style-controlled; also (model_a,
    model_b, winner) of each battle when asked (the active pair sampler learns from
    them)."""
    assert _battles is not None, "open_store() first"
    loaded = _battles.load()
    scores = store.scores(_battles.db)
    benchmarks = sorted({name for values in scores.values() for name in values})
    table = loaded if loaded.num_rows else None
    labels = [c for c in LABEL_CATEGORIES if table is not None and c in table.column_names]
    categories = ("all", *BUILTIN_CATEGORIES, *labels)
    boards, styled = {}, {}
    for category in categories:
        selected = None if table is None else _category_battles(table, category)
        boards[category] = _board(selected, RatingConfig(), metadata, scores)
        if style:
            config = RatingConfig(style_control=True)
            styled[category] = _board(selected, config, metadata, scores)
    battles = []
    if with_battles and table is not None:
        columns = [table[name].to_pylist() for name in ("model_a", "model_b", "winner")]
        battles = list(zip(*columns, strict=True))
    return Snapshot(time.time(), loaded.num_rows, boards, styled, benchmarks), battles


def _category_battles(table: pa.Table, category: str) -> pa.Table:
    # The table holds blind battles only, and each category is a boolean column of it
    # (a prompt label is null where a battle has none).
    if category == "all":
        return table
    return table.filter(pc.fill_null(table[category], False))


def _board(
    table: pa.Table | None,
    config: RatingConfig,
    metadata: dict[str, dict[str, Any]],
    scores: dict[str, dict[str, float]],
) -> Board:
    if table is None:
        return Board([], 0, NO_VOTES)
    if table.num_rows == 0:
        return Board([], 0, "No votes in this category yet.")
    try:
        selection = select_battles(
            table, Filters(anonymous_only=False), style_control=config.style_control
        )
        board = rate(selection.battles, config)
    except RatingError as exc:
        log.info("category left unrated (%s battles): %s", table.num_rows, exc)
        return Board([], table.num_rows, _too_few(table.num_rows, config))
    rows = board.records()
    for row in rows:
        meta = metadata.get(row["model"], {})
        row.update({key: meta.get(key) for key in METADATA})
        row["deprecated"] = meta.get("state") == "retired"
        row["scores"] = scores.get(row["model"], {})
    pairs = {
        name: [[_number(v) for v in line] for line in matrix.tolist()]
        for name, matrix in (
            ("battles", board.battle_counts),
            ("observed", board.observed),
            ("predicted", board.predicted),
        )
    }
    coefficients = [
        {"name": c.name, "value": c.value, "lower": _number(c.lower), "upper": _number(c.upper)}
        for c in board.style
    ]
    # Models in groups that never met come with a group number per row.
    message = GROUPS if board.group is not None else None
    return Board(rows, len(selection.battles), message, coefficients, pairs)


def _too_few(battles: int, config: RatingConfig) -> str:
    counted = f"{battles} vote{'s' if battles != 1 else ''} so far"
    if config.style_control:
        return (
            f"Not enough votes to separate style from quality here yet ({counted}); "
            "turn off style control to see the raw ratings."
        )
    return f"Not enough votes to rate these models yet ({counted})."


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
