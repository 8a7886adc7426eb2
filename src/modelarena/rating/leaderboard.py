"""Compute a leaderboard from battles: ratings, intervals, ranks, coefficients and matrices.

`rate` is the one entry point; it returns a frozen Leaderboard sorted best first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelarena.rating.aggregate import PairCounts, aggregate, model_totals, pair_matrices
from modelarena.rating.bt import BTFit, fit_bt
from modelarena.rating.data import TIE, Battles
from modelarena.rating.elo import elo_bootstrap, online_elo
from modelarena.rating.errors import RatingError
from modelarena.rating.intervals import (
    Intervals,
    bootstrap,
    normal_intervals,
    percentile_intervals,
    rank_upper_bound,
    sandwich_covariance,
)
from modelarena.rating.presets import RatingConfig

_TIE_PARAMETER = {"davidson": "davidson_nu", "rao-kupper": "rao_kupper_theta"}


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

    def records(self, meta: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
        """One plain dict per model, best first (NaN becomes None), with any metadata merged."""
        rows = []
        for index, model in enumerate(self.models):
            row: dict[str, Any] = {
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


def rate(
    battles: Battles,
    config: RatingConfig | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> Leaderboard:
    """Rate the models in `battles` as `config` says (default: BT, ties ½, sandwich intervals).

    `progress(rounds_done)` is called as bootstrap rounds finish. Raises RatingError (or a
    subclass) with an actionable message when the data or settings do not allow a fit.
    """
    config = config or RatingConfig()
    if len(battles.models) < 2:
        raise RatingError(
            f"a leaderboard needs two or more models; the battles name {len(battles.models)}"
        )
    if len(battles) == 0:
        raise RatingError("there are no battles to rate")
    data = aggregate(
        battles,
        drop_ties=config.ties == "drop",
        style_control=config.style_control,
        reweight=config.reweight,
    )
    anchor = _anchor_index(data, config)
    if config.method == "elo":
        point, intervals, predicted, unconverged = _rate_elo(battles, config, anchor, progress)
        style: tuple[Coefficient, ...] = ()
        tie: Coefficient | None = None
    else:
        fit = fit_bt(data, ties=config.ties, l2=config.l2, base=config.base)
        point, intervals, style, tie, unconverged = _rate_bt(fit, config, anchor, progress)
        theta = fit.theta
        predicted = fit.problem.expected(theta[:, None] - theta[None, :], fit.tie)
    shown = data if config.ties != "drop" else _every_battle(battles, data.models)
    played, points = model_totals(shown)
    counts = pair_matrices(shown)[0]
    observed = pair_matrices(data)[1]
    order = np.lexsort((np.array(data.models), -point))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    if intervals is None:
        nan = np.full(len(point), np.nan)
        intervals = Intervals(nan, nan, nan, nan)
        rank_upper = rank
    else:
        rank_upper = rank_upper_bound(intervals.lower, intervals.upper)
    np.fill_diagonal(predicted, np.nan)
    return Leaderboard(
        models=tuple(data.models[i] for i in order),
        rating=point[order],
        ci_lower=intervals.lower[order],
        ci_upper=intervals.upper[order],
        simultaneous_lower=intervals.simultaneous_lower[order],
        simultaneous_upper=intervals.simultaneous_upper[order],
        rank=rank[order],
        rank_upper=rank_upper[order],
        num_battles=played[order],
        win_rate=points[order] / played[order],
        battle_counts=counts[np.ix_(order, order)],
        observed=observed[np.ix_(order, order)],
        predicted=predicted[np.ix_(order, order)],
        style=style,
        tie=tie,
        config=config,
        anchored=None if anchor is None else data.models[anchor],
        bootstrap_unconverged=unconverged,
        ties_dropped=int(np.count_nonzero(battles.outcome == TIE)) if config.ties == "drop" else 0,
    )


def _every_battle(battles: Battles, models: tuple[str, ...]) -> PairCounts:
    """Counts of all battles, ties included, among `models` (those rated with ties dropped).

    Dropping ties is a modelling choice: the battles were played, so they still count in
    `num_battles`, `win_rate` (ties ½) and `battle_counts`.
    """
    every = aggregate(battles)
    if every.models == models:
        return every
    index = np.full(every.n_models, -1)
    index[[every.models.index(name) for name in models]] = np.arange(len(models))
    keep = (index[every.i] >= 0) & (index[every.j] >= 0)
    return PairCounts(
        models=models, i=index[every.i[keep]], j=index[every.j[keep]], counts=every.counts[keep]
    )


def _anchor_index(data: PairCounts, config: RatingConfig) -> int | None:
    anchor = config.anchor
    if anchor is None:
        return None
    if anchor.model in data.models:
        return data.models.index(anchor.model)
    if anchor.if_present:
        return None
    raise RatingError(
        f"cannot anchor {anchor.model!r}: it is not among the rated models "
        f"({', '.join(data.models[:8])}{', ...' if data.n_models > 8 else ''})"
    )


def _rate_elo(
    battles: Battles,
    config: RatingConfig,
    anchor: int | None,
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, Intervals | None, np.ndarray, int]:
    settings = {"k": config.k, "base": config.base, "scale": config.scale, "init": config.init}
    point = online_elo(battles, **settings)
    samples = None
    if config.ci == "bootstrap":
        samples = elo_bootstrap(battles, config.rounds, config.seed, progress=progress, **settings)
    if anchor is not None and config.anchor is not None:
        point = point + (config.anchor.rating - point[anchor])
        if samples is not None:
            samples = samples + (config.anchor.rating - samples[:, anchor : anchor + 1])
    intervals = None if samples is None else percentile_intervals(point, samples, config.level)
    gap = (point[None, :] - point[:, None]) / config.scale
    return point, intervals, 1.0 / (1.0 + config.base**gap), 0


def _sample_ratings(theta: np.ndarray, s: float, offset: float, anchor: int | None) -> np.ndarray:
    """Ratings of bootstrap rounds, offset + T·θ as in _rate_bt, written out elementwise.

    A round may hold ±inf (a model with no finite rating) or NaN: the difference of two
    infinite ratings of the same sign is NaN (undefined), and the anchor stays exact.
    """
    if anchor is None:
        return offset + s * theta
    with np.errstate(invalid="ignore"):
        ratings = offset + s * (theta - theta[:, anchor : anchor + 1])
    ratings[:, anchor] = offset
    return ratings


def _rate_bt(
    fit: BTFit,
    config: RatingConfig,
    anchor: int | None,
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, Intervals | None, tuple[Coefficient, ...], Coefficient | None, int]:
    """Ratings, their intervals, style and tie coefficients, unconverged bootstrap rounds.

    Ratings are offset + T·θ: without an anchor, T = s·I and offset = init (mean rating =
    init); with one, T = s·(I − 1·e_rᵀ) and offset = the anchor's rating, so the intervals
    describe differences to the anchored model. s = scale / ln(base).
    """
    problem = fit.problem
    m, k = problem.m, problem.k
    s = config.scale / math.log(config.base)
    transform = s * np.eye(m)
    offset = config.init
    if anchor is not None and config.anchor is not None:
        transform[:, anchor] -= s
        offset = config.anchor.rating
    point = offset + transform @ fit.theta
    names = fit.problem.data.feature_names
    tie_name = _TIE_PARAMETER.get(config.ties, "tie")
    if config.ci == "none":
        style = tuple(
            Coefficient(n, float(v), math.nan, math.nan)
            for n, v in zip(names, fit.beta, strict=True)
        )
        tie = (
            None
            if fit.tie is None
            else Coefficient(tie_name, math.exp(fit.tie), math.nan, math.nan)
        )
        return point, None, style, tie, 0
    if config.ci == "sandwich":
        covariance = sandwich_covariance(fit)
        ratings = normal_intervals(
            point, transform @ covariance[:m, :m] @ transform.T, config.level, config.seed
        )
        others = normal_intervals(fit.x[m:], covariance[m:, m:], config.level, config.seed)
        unconverged = 0
    else:
        samples, unconverged = bootstrap(fit, config.rounds, config.seed, progress=progress)
        ratings = percentile_intervals(
            point, _sample_ratings(samples[:, :m], s, offset, anchor), config.level
        )
        others = percentile_intervals(fit.x[m:], samples[:, m:], config.level)
    style = tuple(
        Coefficient(name, float(fit.x[m + f]), float(others.lower[f]), float(others.upper[f]))
        for f, name in enumerate(names)
    )
    tie = None
    if fit.tie is not None:
        tie = Coefficient(
            tie_name,
            math.exp(fit.tie),
            math.exp(others.lower[k]),
            math.exp(others.upper[k]),
        )
    return point, ratings, style, tie, unconverged
