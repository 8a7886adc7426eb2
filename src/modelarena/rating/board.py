"""What `rate` returns: the Leaderboard of every model, and the Coefficient of a fitted effect.

Plain frozen data with its conversion to JSON-ready records; the computing is in leaderboard.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelarena.rating.presets import RatingConfig


@dataclass(frozen=True)
class Coefficient:
    """A fitted coefficient with its interval (NaN bounds when no intervals were asked for)."""

    name: str
    value: float
    lower: float
    upper: float


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """Ratings of every model, best first; arrays and matrices follow `models`' order.

    `rank` is the position by rating; `rank_upper` is FastChat's rank (1 + the number of
    models whose interval lies entirely above). `observed` and `predicted` hold the row
    model's score rate against the column model (ties ½; NaN where they never met).
    `style` holds the style-control coefficients (log-odds per standard deviation of each
    feature) and `tie` the tie model's parameter. `bootstrap_unconverged` counts the bootstrap
    rounds that left some model without a finite rating (its bounds may then be ±inf);
    `ties_dropped` the tie battles (rows) left out of the fit by ties='drop'.

    Models in groups that never met each other and rated without a penalty are rated group
    by group: `group` then holds each model's group (1 = the largest), the models come group
    by group, best first within each, `rank` and `rank_upper` count within the group,
    `predicted` is NaN across groups, and `parts` holds each group's own board (its style
    and tie coefficients, anchor and unconverged rounds; here `style` is empty, `tie` None
    and `bootstrap_unconverged` their sum). Otherwise `group` is None and `parts` empty.
    `warnings` says what a reader must know to read the ratings (e.g. such groups).
    """

    models: tuple[str, ...]
    rating: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    simultaneous_lower: np.ndarray
    simultaneous_upper: np.ndarray
    rank: np.ndarray
    rank_upper: np.ndarray
    num_battles: np.ndarray
    win_rate: np.ndarray
    battle_counts: np.ndarray
    observed: np.ndarray
    predicted: np.ndarray
    style: tuple[Coefficient, ...]
    tie: Coefficient | None
    config: RatingConfig
    anchored: str | None
    bootstrap_unconverged: int
    ties_dropped: int = 0
    group: np.ndarray | None = None
    parts: tuple[Leaderboard, ...] = ()
    warnings: tuple[str, ...] = ()

    def records(self, meta: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
        """One plain dict per model, best first (NaN becomes None), with any metadata merged.

        A board rated group by group puts each model's `group` first.
        """
        rows = []
        for index, model in enumerate(self.models):
            row: dict[str, Any] = {} if self.group is None else {"group": int(self.group[index])}
            row |= {
                "rank": int(self.rank[index]),
                "rank_upper": int(self.rank_upper[index]),
                "model": model,
                "rating": _number(self.rating[index]),
                "ci_lower": _number(self.ci_lower[index]),
                "ci_upper": _number(self.ci_upper[index]),
                "simultaneous_lower": _number(self.simultaneous_lower[index]),
                "simultaneous_upper": _number(self.simultaneous_upper[index]),
                "num_battles": round(float(self.num_battles[index])),
                "win_rate": _number(self.win_rate[index]),
            }
            if meta is not None:
                info = meta.get(model, {})
                row["organization"] = info.get("organization", "")
                row["license"] = info.get("license", "")
            rows.append(row)
        return rows


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
