"""The live leaderboard: fits of the stored votes in the background, on an interval and
after every N new votes (by default each one), but never sooner than a minimum gap after
the last fit began, nor sooner than the last fit's duration divided by the fits' share of
one core. Pages read the latest snapshot and never wait for a fit.

Fits run in one long-lived child process (leaderboard_fit.py) rather than a thread: a
fit is pure-Python work that, in a thread, would compete with every request for the
interpreter lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from anyio import to_thread

from modelarena.arena import leaderboard_fit
from modelarena.arena.leaderboard_fit import Snapshot
from modelarena.arena.sampling import PairSampler, Standing
from modelarena.config import ArenaSettings

log = logging.getLogger(__name__)


class LiveLeaderboard:
    def __init__(
        self,
        db_url: str,
        settings: ArenaSettings,
        metadata: Callable[[], dict[str, dict[str, Any]]],
        sampler: PairSampler,
    ) -> None:
        self.db_url = db_url
        self.settings = settings
        self.metadata = metadata
        self.sampler = sampler
        self.snapshot = Snapshot()
        self._new_votes = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fitter: ProcessPoolExecutor | None = None

    def standing(self) -> dict[str, Standing]:
        """Each rated model's votes and interval half-width in the latest fit."""
        return {
            row["model"]: Standing(row["num_battles"], _half_width(row))
            for row in self.snapshot.board("all").rows
        }

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
        try:
            while True:
                began = self._loop.time()
                self._new_votes = 0
                self._wake.clear()
                first = self._fitter is None
                await self.refresh()
                spacing = self.spacing(self._loop.time() - began, first)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.leaderboard_interval_s)
                gap = began + spacing - self._loop.time()
                if gap > 0:
                    await asyncio.sleep(gap)
        finally:
            if self._fitter is not None:
                self._fitter.shutdown(wait=False, cancel_futures=True)

    def spacing(self, took: float, first: bool) -> float:
        """The least time from the start of a fit that took `took` seconds to the start
        of the next: the minimum gap, or long enough that fits use at most their share
        of one core. The first fit of a fitting process reads every stored vote, which
        later fits do not repeat, so it does not count."""
        share = 0.0 if first else took / self.settings.leaderboard_cpu_share
        return max(self.settings.leaderboard_min_gap_s, share)

    async def refresh(self) -> None:
        """One fit; a failure is logged and the previous snapshot stays. Until the first
        fit has shown, the raw boards are fitted and shown on their own first: at scale
        the style-controlled ones take several times longer."""
        if self.snapshot.computed_at is None:
            await self._fit(style=False)
        await self._fit(style=True)

    async def _fit(self, style: bool) -> None:
        active = self.sampler.policy.mode == "active"
        try:
            snapshot, battles = await asyncio.get_running_loop().run_in_executor(
                self._process(), leaderboard_fit.fit, self.metadata(), active, style
            )
        except BrokenProcessPool:
            log.error("the leaderboard's fitting process died; starting a new one")
            self._fitter = None
            return
        except Exception:
            log.exception("the live leaderboard could not be computed")
            return
        self.snapshot = snapshot
        if active:
            await to_thread.run_sync(self.sampler.observe, battles)

    def _process(self) -> ProcessPoolExecutor:
        if self._fitter is None:
            self._fitter = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=leaderboard_fit.open_store,
                initargs=(self.db_url, os.getpid()),
            )
        return self._fitter


def _half_width(row: dict[str, Any]) -> float | None:
    low, high = row.get("ci_lower"), row.get("ci_upper")
    return None if low is None or high is None else (high - low) / 2
