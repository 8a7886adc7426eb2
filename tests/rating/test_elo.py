"""Online Elo against a straightforward transcription of FastChat's formula."""

from __future__ import annotations

import numpy as np

from modelarena.rating.data import Battles
from modelarena.rating.elo import elo_bootstrap, online_elo

from .helpers import simulate


def reference_elo(rows, k=4.0, scale=400.0, base=10.0, init=1000.0) -> dict[str, float]:
    rating: dict[str, float] = {}
    for model_a, model_b, winner in rows:
        ra = rating.setdefault(model_a, init)
        rb = rating.setdefault(model_b, init)
        ea = 1 / (1 + base ** ((rb - ra) / scale))
        eb = 1 / (1 + base ** ((ra - rb) / scale))
        sa = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}[winner]
        rating[model_a] += k * (sa - ea)
        rating[model_b] += k * (1 - sa - eb)
    return rating


def test_online_elo_matches_the_reference_in_time_order():
    rng = np.random.default_rng(3)
    battles = simulate(np.linspace(-1, 1, 7), 5000, rng, tie_rate=0.2)
    shuffled = rng.permutation(len(battles))
    battles = Battles(
        models=battles.models,
        model_a=battles.model_a[shuffled],
        model_b=battles.model_b[shuffled],
        outcome=battles.outcome[shuffled],
        tstamp=battles.tstamp[shuffled],
    )
    labels = np.array(["model_b", "tie", "model_a"])
    order = np.argsort(battles.tstamp)
    rows = [
        (
            battles.models[battles.model_a[i]],
            battles.models[battles.model_b[i]],
            labels[battles.outcome[i]],
        )
        for i in order
    ]
    expected = reference_elo(rows, k=8.0)
    ours = online_elo(battles, k=8.0)
    assert (
        max(abs(ours[index] - expected[name]) for index, name in enumerate(battles.models)) < 1e-6
    )


def test_weights_repeat_battles_and_bootstrap_is_seeded():
    battles = Battles(
        models=("a", "b"),
        model_a=np.array([0, 1], dtype=np.int32),
        model_b=np.array([1, 0], dtype=np.int32),
        outcome=np.array([2, 1], dtype=np.int8),
        weight=np.array([3, 1]),
    )
    expected = reference_elo([("a", "b", "model_a")] * 3 + [("b", "a", "tie")])
    assert np.allclose(online_elo(battles), [expected["a"], expected["b"]])
    first = elo_bootstrap(battles, 20, seed=1)
    assert np.array_equal(first, elo_bootstrap(battles, 20, seed=1))
    assert first.shape == (20, 2)
