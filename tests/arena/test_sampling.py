"""Pair sampling: exact weighted distributions, targets, vision, errors, seeds, A/B order,
and active sampling (eq. 9 on a Bradley–Terry fit checked against scipy)."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from scipy import optimize, stats

from modelarena.arena.sampling import (
    PRIOR_SD,
    Candidate,
    Newcomers,
    NoPairError,
    PairSampler,
    RatingState,
    SamplingPolicy,
    Standing,
)

MODELS = [Candidate("a", 1.0), Candidate("b", 2.0), Candidate("c", 3.0), Candidate("d", 4.0)]


def weighted_by_hand(weights: dict[str, float], allowed=lambda x, y: True) -> dict:
    """P(pair) = w_x·w_y / Σ over allowed unordered pairs, written out pair by pair."""
    pairs = {
        (x, y): weights[x] * weights[y]
        for x, y in itertools.combinations(weights, 2)
        if allowed(x, y)
    }
    total = sum(pairs.values())
    return {pair: value / total for pair, value in pairs.items()}


def frequencies(sampler: PairSampler, candidates, n: int, **kwargs) -> Counter:
    return Counter(tuple(sorted(sampler.pick(candidates, **kwargs))) for _ in range(n))


def assert_distribution(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for pair, p in expected.items():
        assert got[pair] == pytest.approx(p, rel=1e-12), pair


def assert_frequencies_fit(counts: Counter, expected: dict) -> None:
    """Chi-square goodness of fit at a fixed seed; pairs outside `expected` never occur."""
    assert set(counts) <= set(expected), set(counts) - set(expected)
    n = sum(counts.values())
    observed = [counts[pair] for pair in expected]
    _, p_value = stats.chisquare(observed, [n * p for p in expected.values()])
    assert p_value > 1e-3, (observed, expected)


def test_weighted_mode_draws_pairs_in_proportion_to_the_product_of_weights():
    sampler = PairSampler(SamplingPolicy(), seed=1)
    expected = weighted_by_hand({c.name: c.weight for c in MODELS})
    assert expected[("c", "d")] == pytest.approx(12 / 35)
    assert_distribution(sampler.probabilities(MODELS), expected)
    assert_frequencies_fit(frequencies(sampler, MODELS, 6000), expected)


def test_boost_multiplies_a_models_weight():
    sampler = PairSampler(SamplingPolicy(boost={"a": 5.0, "d": 0.5}), seed=2)
    expected = weighted_by_hand({"a": 5.0, "b": 2.0, "c": 3.0, "d": 2.0})
    assert_distribution(sampler.probabilities(MODELS), expected)
    assert_frequencies_fit(frequencies(sampler, MODELS, 6000), expected)


def test_a_targeted_model_battles_only_its_targets_in_service():
    # "a" may meet only c and d ("z" is not in service); the others meet anyone.
    sampler = PairSampler(SamplingPolicy(targets={"a": ["c", "d", "z"]}), seed=3)
    expected = weighted_by_hand(
        {c.name: c.weight for c in MODELS}, lambda x, y: x != "a" or y in {"c", "d"}
    )
    assert ("a", "b") not in expected and len(expected) == 5
    assert_distribution(sampler.probabilities(MODELS), expected)
    assert_frequencies_fit(frequencies(sampler, MODELS, 6000), expected)


def test_targets_bind_both_models_of_a_pair():
    # c's list excludes a, so a (limited to c and d) meets only d.
    targets = {"a": {"c", "d"}, "c": {"b"}}
    sampler = PairSampler(SamplingPolicy(targets=targets))

    def allowed(x: str, y: str) -> bool:
        return all(v in targets.get(u, {v}) for u, v in ((x, y), (y, x)))

    expected = weighted_by_hand({c.name: c.weight for c in MODELS}, allowed)
    assert set(expected) == {("a", "d"), ("b", "c"), ("b", "d")}
    assert_distribution(sampler.probabilities(MODELS), expected)


def test_a_model_whose_targets_are_all_out_of_service_battles_anyone():
    sampler = PairSampler(SamplingPolicy(targets={"a": ["gone-1", "gone-2"]}))
    assert_distribution(
        sampler.probabilities(MODELS), weighted_by_hand({c.name: c.weight for c in MODELS})
    )


def test_targets_that_exclude_every_pair_raise_no_pair_error():
    sampler = PairSampler(SamplingPolicy(targets={"a": ["b"], "b": ["c"], "c": ["a"]}))
    with pytest.raises(NoPairError, match="targets allow no pair"):
        sampler.pick(MODELS[:3])


def test_vision_battles_use_only_models_that_accept_images():
    candidates = [
        Candidate("a"),
        Candidate("v1", 2.0, vision=True),
        Candidate("b"),
        Candidate("v2", vision=True),
        Candidate("v3", vision=True),
    ]
    sampler = PairSampler(SamplingPolicy(), seed=4)
    expected = weighted_by_hand({"v1": 2.0, "v2": 1.0, "v3": 1.0})
    assert_distribution(sampler.probabilities(candidates, vision=True), expected)
    assert_frequencies_fit(frequencies(sampler, candidates, 3000, vision=True), expected)
    # Without images every model qualifies, vision ones included.
    assert len(sampler.probabilities(candidates)) == 10


@pytest.mark.parametrize(
    ("candidates", "vision", "message"),
    [
        ([], False, "two models in service; there are 0"),
        ([Candidate("a")], False, "two models in service; there is 1: a"),
        (
            [Candidate("a"), Candidate("v", vision=True)],
            True,
            "two models that accept images in service; there is 1: v",
        ),
    ],
)
def test_too_few_qualifying_models_raise_no_pair_error(candidates, vision, message):
    for mode in ("weighted", "active"):
        with pytest.raises(NoPairError, match=message):
            PairSampler(SamplingPolicy(mode=mode)).pick(candidates, vision=vision)


def test_same_seed_gives_the_same_pairs_and_different_seeds_do_not():
    def run(seed):
        sampler = PairSampler(SamplingPolicy(), seed=seed)
        return [sampler.pick(MODELS) for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_sides_are_assigned_at_random():
    sampler = PairSampler(SamplingPolicy(), seed=5)
    picks = Counter(sampler.pick([Candidate("x"), Candidate("y")]) for _ in range(4000))
    assert set(picks) == {("x", "y"), ("y", "x")}
    assert stats.binomtest(picks[("x", "y")], 4000).pvalue > 1e-3


def test_invalid_settings_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="weight must be a positive number"):
        Candidate("a", 0.0)
    with pytest.raises(ValueError, match="weight must be a positive number"):
        Candidate("a", float("nan"))
    with pytest.raises(ValueError, match="mode must be one of weighted, active"):
        SamplingPolicy(mode="uniform")
    with pytest.raises(ValueError, match="boost factors must be positive numbers; check b"):
        SamplingPolicy(boost={"a": 2.0, "b": -1.0})
    with pytest.raises(ValueError, match="must be a list of model names"):
        SamplingPolicy(targets={"a": "b"})
    with pytest.raises(ValueError, match="explore must be between 0 and 1"):
        SamplingPolicy(mode="active", explore=1.5)
    with pytest.raises(ValueError, match="more than once: a"):
        PairSampler(SamplingPolicy()).pick([Candidate("a"), Candidate("a"), Candidate("b")])
    with pytest.raises(ValueError, match="unknown winner 'draw'"):
        PairSampler(SamplingPolicy(mode="active")).observe([("a", "b", "draw")])


def votes(a: str, b: str, wins_a: int, ties: int, wins_b: int) -> list[tuple[str, str, str]]:
    return (
        [(a, b, "model_a")] * wins_a
        + [(b, a, "tie (bothbad)")] * ties
        + [(b, a, "model_a")] * wins_b
    )


def test_active_mode_without_history_is_weighted_mode():
    active = PairSampler(SamplingPolicy(mode="active"))
    weighted = PairSampler(SamplingPolicy())
    assert_distribution(active.probabilities(MODELS), weighted.probabilities(MODELS))


def test_active_mode_prefers_a_pair_without_votes():
    history = votes("a", "c", 500, 100, 400) + votes("b", "c", 450, 100, 450)
    sampler = PairSampler(SamplingPolicy(mode="active", explore=0.0), seed=6)
    sampler.observe(history)
    p = sampler.probabilities([Candidate("a"), Candidate("b"), Candidate("c")])
    assert p[("a", "b")] > 20 * max(p[("a", "c")], p[("b", "c")])
    counts = frequencies(sampler, [Candidate("a"), Candidate("b"), Candidate("c")], 500)
    assert counts[("a", "b")] > 450


def test_active_mode_sends_most_battles_to_a_model_without_votes():
    names = ["a", "b", "c", "d"]
    history = [v for x, y in itertools.combinations(names, 2) for v in votes(x, y, 40, 20, 40)]
    sampler = PairSampler(SamplingPolicy(mode="active"))
    sampler.observe(history)
    p = sampler.probabilities([Candidate(name) for name in [*names, "new"]])
    assert sum(value for pair, value in p.items() if "new" in pair) > 0.8
    # The explore share keeps every allowed pair possible: at least 10% of its weighted chance.
    assert min(p.values()) >= 0.1 / 10


def test_active_mode_prefers_the_pair_whose_score_is_less_certain():
    # Equal votes on both pairs: a-b is close (uncertain score), a-c one-sided.
    history = votes("a", "b", 50, 0, 50) + votes("a", "c", 95, 0, 5)
    sampler = PairSampler(SamplingPolicy(mode="active", explore=0.0))
    sampler.observe(history)
    p = sampler.probabilities([Candidate("a"), Candidate("b"), Candidate("c")])
    assert p[("a", "b")] > 2 * p[("a", "c")]


def test_active_mode_multiplies_eq9_by_weights_and_mixes_in_the_explore_share():
    history = votes("a", "b", 30, 10, 20) + votes("b", "c", 5, 5, 10) + votes("c", "d", 60, 0, 2)
    candidates = [
        Candidate("a", 2.0),
        Candidate("b"),
        Candidate("c", 0.5, vision=True),
        Candidate("d", vision=True),
        Candidate("e", 3.0, vision=True),
    ]
    policy = SamplingPolicy(mode="active", explore=0.25, boost={"e": 2.0}, targets={"d": ["c"]})
    sampler = PairSampler(policy)
    sampler.observe(history)
    names = [c.name for c in candidates]
    gain = RatingState.fit(history).pair_gain(names)
    weights = {"a": 2.0, "b": 1.0, "c": 0.5, "d": 1.0, "e": 6.0}
    base = weighted_by_hand(weights, lambda x, y: "d" not in (x, y) or {x, y} == {"c", "d"})
    active = {
        pair: p * gain[names.index(pair[0]), names.index(pair[1])] for pair, p in base.items()
    }
    total = sum(active.values())
    expected = {pair: 0.25 * base[pair] + 0.75 * active[pair] / total for pair in base}
    assert_distribution(sampler.probabilities(candidates), expected)
    # Vision battles: only c, d, e, and d still meets only c.
    assert set(sampler.probabilities(candidates, vision=True)) == {("c", "d"), ("c", "e")}


def test_observe_replaces_the_history():
    candidates = [Candidate("a"), Candidate("b"), Candidate("c")]
    sampler = PairSampler(SamplingPolicy(mode="active", explore=0.0))
    sampler.observe(votes("a", "b", 500, 0, 500))
    p = sampler.probabilities(candidates)
    assert max(p, key=p.get) != ("a", "b")
    sampler.observe(votes("a", "c", 500, 0, 500) + votes("b", "c", 500, 0, 500))
    p = sampler.probabilities(candidates)
    assert max(p, key=p.get) == ("a", "b")


def penalised_negative_log_likelihood(theta, pairs):
    value = 0.5 * np.sum(theta**2) / PRIOR_SD**2
    for (i, j), (won, n) in pairs.items():
        d = theta[i] - theta[j]
        value -= won * -np.logaddexp(0.0, -d) + (n - won) * -np.logaddexp(0.0, d)
    return value


def test_fit_and_eq9_match_an_independent_computation():
    history = (
        votes("a", "b", 7, 3, 2)
        + votes("b", "c", 4, 0, 6)
        + votes("c", "a", 1, 1, 5)
        + votes("c", "d", 3, 0, 0)
        + [("d", "d", "model_a")]
    )  # self-battle: skipped
    state = RatingState.fit(history)
    order = [state.index[name] for name in "abcd"]
    pairs = {(0, 1): (8.5, 12), (1, 2): (4.0, 10), (0, 2): (5.5, 7), (2, 3): (3.0, 3)}
    result = optimize.minimize(
        penalised_negative_log_likelihood,
        np.zeros(4),
        args=(pairs,),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    np.testing.assert_allclose(state.strength[order], result.x, atol=1e-6)
    # Covariance: inverse of the Hessian by central differences of the objective.
    h = 1e-4
    hessian = np.empty((4, 4))
    for r, c in itertools.product(range(4), repeat=2):

        def f(dr, dc, r=r, c=c):
            x = result.x.copy()
            x[r] += dr
            x[c] += dc
            return penalised_negative_log_likelihood(x, pairs)

        hessian[r, c] = (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h * h)
    covariance = np.linalg.inv(hessian)
    np.testing.assert_allclose(state.covariance[np.ix_(order, order)], covariance, atol=1e-5)
    # Eq. 9 for a-b (12 votes) and for d against a model it never met nor the fit knows.
    gain = state.pair_gain(["a", "b", "d", "new"])
    s = 1.0 / (1.0 + np.exp(result.x[1] - result.x[0]))
    var_ab = covariance[0, 0] + covariance[1, 1] - 2.0 * covariance[0, 1]
    sigma = 13 * (s * (1 - s)) ** 2 * var_ab
    assert gain[0, 1] == pytest.approx(np.sqrt(sigma / 13) - np.sqrt(sigma / 14), rel=1e-5)
    s = 1.0 / (1.0 + np.exp(0.0 - result.x[3]))
    sigma = (s * (1 - s)) ** 2 * (covariance[3, 3] + PRIOR_SD**2)
    assert gain[2, 3] == pytest.approx(np.sqrt(sigma) - np.sqrt(sigma / 2), rel=1e-5)
    np.testing.assert_allclose(gain, gain.T)


def test_fit_recovers_known_strengths():
    rng = np.random.default_rng(11)
    truth = np.array([-1.2, -0.4, 0.0, 0.5, 1.1])
    a = rng.integers(0, 5, 20_000)
    b = (a + rng.integers(1, 5, 20_000)) % 5
    win = rng.random(20_000) < 1.0 / (1.0 + np.exp(truth[b] - truth[a]))
    state = RatingState.fit(
        [
            (f"m{x}", f"m{y}", "model_a" if w else "model_b")
            for x, y, w in zip(a, b, win, strict=True)
        ]
    )
    order = [state.index[f"m{k}"] for k in range(5)]
    centre = np.eye(5) - 1.0 / 5  # truth sums to 0; the prior sets only the common level
    fitted = centre @ state.strength[order]
    se = np.sqrt(np.diag(centre @ state.covariance[np.ix_(order, order)] @ centre))
    assert np.all(se < 0.04)
    assert np.all(np.abs(fitted - truth) < 4 * se)


def test_newcomers_are_boosted_until_their_interval_or_votes_settle():
    rule = Newcomers(boost=4.0, interval=25.0, votes=1000)
    assert rule.factor(None) == 4.0  # no votes yet
    assert rule.factor(Standing(votes=300, half_width=60.0)) == 4.0
    assert rule.factor(Standing(votes=300, half_width=None)) == 4.0  # fit without an interval
    assert rule.factor(Standing(votes=300, half_width=24.9)) == 1.0  # narrow enough
    assert rule.factor(Standing(votes=1000, half_width=60.0)) == 1.0  # enough votes
    off = Newcomers(boost=4.0, interval=25.0, votes=0)
    assert off.factor(None) == off.factor(Standing(5, 300.0)) == 1.0
