"""Models in groups that never met: split the battles by group, join the groups' boards.

Without a penalty no battle links the groups' ratings, so `rate` rates each group's battles
on their own, exactly as if they were the whole input, and `join` puts the boards together:
group by group (largest first), best first within each, ranks counted within the group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modelarena.rating.board import Leaderboard
from modelarena.rating.data import Battles
from modelarena.rating.presets import RatingConfig


def battles_among(battles: Battles, names: Sequence[str]) -> Battles:
    """The battles between models in `names`, models re-indexed in `battles.models`' order."""
    wanted = set(names)
    kept = [k for k, name in enumerate(battles.models) if name in wanted]
    index = np.full(len(battles.models), -1, dtype=battles.model_a.dtype)
    index[kept] = np.arange(len(kept))
    rows = (index[battles.model_a] >= 0) & (index[battles.model_b] >= 0)
    return Battles(
        models=tuple(battles.models[k] for k in kept),
        model_a=index[battles.model_a[rows]],
        model_b=index[battles.model_b[rows]],
        outcome=battles.outcome[rows],
        weight=None if battles.weight is None else battles.weight[rows],
        tstamp=None if battles.tstamp is None else battles.tstamp[rows],
        style=None if battles.style is None else battles.style[rows],
        importance=None if battles.importance is None else battles.importance[rows],
    )


def join(
    parts: list[Leaderboard],
    models: tuple[str, ...],
    tallies: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    config: RatingConfig,
    ties_dropped: int,
    warning: str,
) -> Leaderboard:
    """One board of the groups' boards `parts`, in group order.

    `tallies` are every model's battles and points and the battle-count and observed
    matrices of all the battles, in `models`' order (so a tie dropped between groups still
    counts); ratings, intervals, ranks and predictions come from the parts.
    """
    played, points, counts, observed = tallies
    position = {name: k for k, name in enumerate(models)}
    order = np.array([position[name] for part in parts for name in part.models])
    sizes = [len(part.models) for part in parts]
    predicted = np.full((len(order), len(order)), np.nan)
    for start, part in zip(np.cumsum([0, *sizes[:-1]]), parts, strict=True):
        block = slice(start, start + len(part.models))
        predicted[block, block] = part.predicted

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    return Leaderboard(
        models=tuple(models[k] for k in order),
        rating=joined("rating"),
        ci_lower=joined("ci_lower"),
        ci_upper=joined("ci_upper"),
        simultaneous_lower=joined("simultaneous_lower"),
        simultaneous_upper=joined("simultaneous_upper"),
        rank=joined("rank"),
        rank_upper=joined("rank_upper"),
        num_battles=played[order],
        win_rate=points[order] / played[order],
        battle_counts=counts[np.ix_(order, order)],
        observed=observed[np.ix_(order, order)],
        predicted=predicted,
        style=(),
        tie=None,
        config=config,
        anchored=next((part.anchored for part in parts if part.anchored), None),
        bootstrap_unconverged=sum(part.bootstrap_unconverged for part in parts),
        ties_dropped=ties_dropped,
        group=np.repeat(np.arange(1, len(parts) + 1), sizes),
        parts=tuple(parts),
        warnings=(warning,),
    )
