"""Compute a leaderboard from battles: ratings, intervals, ranks, coefficients and matrices.

`rate` is the one entry point; it returns a frozen Leaderboard (board.py) sorted best first.
Models in groups that never met are fitted together under an L2 penalty, with a warning,
and otherwise rated group by group (groups.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from modelarena.rating.aggregate import PairCounts, aggregate, model_totals, pair_matrices
from modelarena.rating.board import Coefficient, Leaderboard
from modelarena.rating.bt import BTFit, fit_bt
from modelarena.rating.data import TIE, Battles
from modelarena.rating.elo import elo_bootstrap, online_elo
from modelarena.rating.errors import FitError, RatingError
from modelarena.rating.groups import battles_among, join
from modelarena.rating.identify import list_groups, model_groups, names_of
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
    if battles.importance is not None and config.method != "bt":
        raise RatingError("battles with importance weights are rated with Bradley–Terry only")
    data = _aggregate(battles, config)
    groups = model_groups(data)
    if len(groups) == 1:
        return _rate_linked(battles, data, config, progress)
    never_met = (
        f"the models fall into {len(groups)} groups that never met each other "
        f"({list_groups(data, groups)})"
    )
    for number, members in enumerate(groups, start=1):
        if len(members) == 1:
            raise FitError(
                f"{never_met}: group {number} is {data.models[members[0]]} alone, which has "
                "no battles to rate it by; leave it out"
            )
    if config.l2 > 0:
        board = _rate_linked(battles, data, config, progress)
        warning = f"{never_met}; rating differences between groups come from the L2 penalty alone"
        return replace(board, warnings=(warning,))
    parts = _rate_each_group(battles, data, groups, config, progress)
    warning = (
        f"{never_met}; each group was rated on its own, so ratings in different groups are "
        "not comparable"
    )
    tallies = _tallies(battles, data, config)
    return join(parts, data.models, tallies, config, _ties_dropped(battles, config), warning)


def _rate_each_group(
    battles: Battles,
    data: PairCounts,
    groups: list[list[int]],
    config: RatingConfig,
    progress: Callable[[int], None] | None,
) -> list[Leaderboard]:
    """Each group's board from its battles alone; an anchor applies to its own group only."""
    _anchor_index(data, config)  # an anchor that no group holds is refused as usual
    parts = []
    for number, members in enumerate(groups, start=1):
        names = [data.models[k] for k in members]
        part_config = config
        if config.anchor is not None and config.anchor.model not in names:
            part_config = replace(config, anchor=None)
        group_battles = battles_among(battles, names)
        share = _progress_share(progress, number - 1, len(groups), config.rounds)
        try:
            group_data = _aggregate(group_battles, part_config)
            parts.append(_rate_linked(group_battles, group_data, part_config, share))
        except RatingError as exc:
            raise type(exc)(
                f"group {number} of {len(groups)} ({names_of(data, members)}): {exc}"
            ) from None
    return parts


def _aggregate(battles: Battles, config: RatingConfig) -> PairCounts:
    return aggregate(
        battles,
        drop_ties=config.ties == "drop",
        style_control=config.style_control,
        reweight=config.reweight,
    )


def _progress_share(
    progress: Callable[[int], None] | None, index: int, groups: int, rounds: int
) -> Callable[[int], None] | None:
    """Report group `index`'s rounds as a share of all groups' rounds, scaled to `rounds`."""
    if progress is None:
        return None
    report = progress
    return lambda done: report((index * rounds + done) // groups)


def _rate_linked(
    battles: Battles,
    data: PairCounts,
    config: RatingConfig,
    progress: Callable[[int], None] | None,
) -> Leaderboard:
    """The board of `battles`, whose models (`data`'s) are fitted together in one fit."""
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
    played, points, counts, observed = _tallies(battles, data, config)
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
        ties_dropped=_ties_dropped(battles, config),
    )


def _tallies(
    battles: Battles, data: PairCounts, config: RatingConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Battles and points of each model, battle counts and observed score rates (data order)."""
    shown = data if config.ties != "drop" else _every_battle(battles, data.models)
    played, points = model_totals(shown)
    return played, points, pair_matrices(shown)[0], pair_matrices(data)[1]


def _ties_dropped(battles: Battles, config: RatingConfig) -> int:
    return int(np.count_nonzero(battles.outcome == TIE)) if config.ties == "drop" else 0


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
