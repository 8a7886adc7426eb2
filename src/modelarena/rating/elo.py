"""Online Elo in time order (FastChat's compute_elo) and its bootstrap over resampled battles.

Each battle moves both ratings by K·(score − expected score); a tie scores ½.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from modelarena.rating.data import Battles


def _sequence(battles: Battles) -> np.ndarray:
    """Battle indices in time order (stable), each repeated by its weight."""
    order = np.arange(len(battles))
    if battles.tstamp is not None:
        order = np.argsort(battles.tstamp, kind="stable")
    if battles.weight is not None:
        order = np.repeat(order, battles.weight[order])
    return order


def _run(
    battles: Battles, sequence: np.ndarray, k: float, base: float, scale: float, init: float
) -> np.ndarray:
    # A plain loop over Python ints and floats: about 0.4 µs per battle, far faster than
    # indexing numpy arrays element by element.
    rating = [float(init)] * len(battles.models)
    factor = math.log(base) / scale
    exp = math.exp
    firsts = battles.model_a[sequence].tolist()
    seconds = battles.model_b[sequence].tolist()
    scores = (battles.outcome[sequence] * 0.5).tolist()
    for a, b, score in zip(firsts, seconds, scores, strict=True):
        ra = rating[a]
        rb = rating[b]
        delta = k * (score - 1.0 / (1.0 + exp((rb - ra) * factor)))
        rating[a] = ra + delta
        rating[b] = rb - delta
    return np.array(rating)


def online_elo(
    battles: Battles,
    *,
    k: float = 4.0,
    base: float = 10.0,
    scale: float = 400.0,
    init: float = 1000.0,
) -> np.ndarray:
    """Elo ratings (one per model, in `battles.models` order) after all battles in time order."""
    return _run(battles, _sequence(battles), k, base, scale, init)


def elo_bootstrap(
    battles: Battles,
    rounds: int,
    seed: int,
    *,
    k: float = 4.0,
    base: float = 10.0,
    scale: float = 400.0,
    init: float = 1000.0,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Online Elo on `rounds` resamples (with replacement) of the battles, kept in time order.

    Returns ratings of shape (rounds, models). FastChat shuffled each resample, which mixes
    order noise into the interval; keeping time order measures sampling noise only.
    """
    sequence = _sequence(battles)
    rng = np.random.default_rng(seed)
    samples = np.empty((rounds, len(battles.models)))
    for index in range(rounds):
        picked = np.sort(rng.integers(0, sequence.size, sequence.size))
        samples[index] = _run(battles, sequence[picked], k, base, scale, init)
        if progress is not None:
            progress(index + 1)
    return samples
