"""The live leaderboard: the rating engine run on the stored votes in the background, on
an interval and after every N new votes (never sooner than a minimum gap after the last
fit). Pages read the latest snapshot and never wait for a fit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from anyio import to_thread

from modelarena.arena.battle_table import BattleTable
from modelarena.arena.sampling import PairSampler
from modelarena.config import ArenaSettings
from modelarena.rating import Filters, RatingConfig, RatingError, rate, select_battles
from modelarena.rating.read import records_to_table
from modelarena.store import arena as store
from modelarena.store.db import Database

log = logging.getLogger(__name__)

BUILTIN = ("long", "multi-turn", "code", "math")
LABELS = ("hard_prompt", "coding", "creative_writing", "instruction_following")
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


class LiveLeaderboard:
    def __init__(
        self,
        db: Database,
        settings: ArenaSettings,
        metadata: Callable[[], dict[str, dict[str, Any]]],
        sampler: PairSampler,
    ) -> None:
        self.db = db
        self.settings = settings
        self.metadata = metadata
        self.sampler = sampler
        self.battles = BattleTable(db)
        self.snapshot = Snapshot()
        self._new_votes = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def vote_added(self) -> None:
        """Count a new vote; enough of them wake the background fit early. Safe to call
        from any thread (votes are stored in worker threads)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._count_vote)

    def _count_vote(self) -> None:
        self._new_votes += 1
        if self._new_votes >= self.settings.leaderboard_every_votes:
            self._wake.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            began = self._loop.time()
            self._new_votes = 0
            self._wake.clear()
            try:
                self.snapshot = await to_thread.run_sync(self.compute)
            except Exception:
                log.exception("the live leaderboard could not be computed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.leaderboard_interval_s)
            gap = began + self.settings.leaderboard_min_gap_s - self._loop.time()
            if gap > 0:
                await asyncio.sleep(gap)

    def compute(self) -> Snapshot:
        """Fit every category from the stored votes (blind battles without exclusions)."""
        records = self.battles.load()
        self.sampler.observe([(r["model_a"], r["model_b"], r["winner"]) for r in records])
        metadata = self.metadata()
        scores = store.scores(self.db)
        benchmarks = sorted({name for values in scores.values() for name in values})
        table = records_to_table(records, None, "the stored votes") if records else None
        labels = [c for c in LABELS if table is not None and c in table.column_names]
        boards = {category: _board(table, category, metadata, scores)
                  for category in ("all", *BUILTIN, *labels)}
        return Snapshot(time.time(), len(records), boards, benchmarks)


def _board(table: pa.Table | None, category: str,
           metadata: dict[str, dict[str, Any]], scores: dict[str, dict[str, float]]) -> Board:
    if table is None:
        return Board([], 0, "No votes yet.")
    filters = Filters(categories=() if category == "all" else (category,))
    try:
        selection = select_battles(table, filters)
        board = rate(selection.battles, RatingConfig())
    except RatingError as exc:
        return Board([], 0, f"Not enough votes yet ({exc}).")
    rows = board.records()
    for row in rows:
        meta = metadata.get(row["model"], {})
        row.update({key: meta.get(key) for key in METADATA})
        row["scores"] = scores.get(row["model"], {})
    return Board(rows, len(selection.battles))
