"""A leaderboard for a topic: battles weighted by how similar their prompts are to a query.

Simulated arena: model X wins coding prompts, model Y cooking prompts, Z sits between. With
a synthetic embedding (the topic's direction plus noise) the weighted fit must put X first
for a coding query and Y first for a cooking query, with the unweighted fit in between; the
weighted sandwich interval must agree with the weighted bootstrap; and importance weights of
1 must reproduce the unweighted fit exactly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from modelarena.rating import Battles, RatingConfig, RatingError, rate
from modelarena.rating.aggregate import aggregate
from modelarena.rating.bt import fit_bt
from modelarena.rating.errors import BattleDataError
from modelarena.rating.intervals import bootstrap, sandwich_covariance
from modelarena.rating.weights import effective_count, similarities, topic_weights

from .helpers import simulate

MODELS = ("X", "Y", "Z")
# Strengths (natural units) on coding prompts and on cooking prompts: X and Y swap ranks.
CODING = np.array([0.8, -0.8, 0.0])
COOKING = np.array([-0.8, 0.8, 0.0])
DIMENSIONS = 16


def arena(n: int, seed: int) -> tuple[Battles, np.ndarray, np.ndarray]:
    """n battles, half on each topic, with each prompt's embedding and its topic (0, 1)."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, 2, n)
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(1, 3, n)) % 3
    strengths = np.where(topic[:, None] == 0, CODING, COOKING)
    rows = np.arange(n)
    logit = strengths[rows, a] - strengths[rows, b]
    outcome = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit)), 2, 0)
    outcome = np.where(rng.random(n) < 0.1, 1, outcome).astype(np.int8)
    vectors = rng.normal(0.0, 0.35, (n, DIMENSIONS))
    vectors[rows, topic] += 1.0
    battles = Battles(MODELS, a.astype(np.int32), b.astype(np.int32), outcome)
    return battles, vectors, topic


def query(topic: int) -> np.ndarray:
    return np.eye(DIMENSIONS)[topic]


def ratings(battles: Battles, config: RatingConfig | None = None) -> dict[str, float]:
    board = rate(battles, config)
    return dict(zip(board.models, board.rating, strict=True))


@pytest.fixture(scope="module")
def simulated() -> tuple[Battles, np.ndarray, np.ndarray]:
    return arena(4000, seed=7)


def test_a_topic_query_puts_that_topic_s_winner_first(simulated):
    battles, vectors, _ = simulated
    everyone = ratings(battles)
    for topic, best, worst in ((0, "X", "Y"), (1, "Y", "X")):
        weights = topic_weights(similarities(vectors, query(topic)), temperature=0.1)
        board = rate(replace(battles, importance=weights))
        assert board.models[0] == best and board.models[-1] == worst
        weighted = dict(zip(board.models, board.rating, strict=True))
        # The unweighted board mixes both topics: it lies between the two topic boards.
        assert weighted[best] > everyone[best] + 50
        assert weighted[worst] < everyone[worst] - 50


def test_the_unweighted_board_lies_between_the_two_topics(simulated):
    battles, vectors, _ = simulated
    everyone = ratings(battles)
    coding, cooking = (
        ratings(replace(battles, importance=topic_weights(similarities(vectors, query(t)))))
        for t in (0, 1)
    )
    for model in ("X", "Y"):
        low, high = sorted((coding[model], cooking[model]))
        assert low < everyone[model] < high


def test_sharper_kernels_move_further_towards_the_topic(simulated):
    battles, vectors, _ = simulated
    similarity = similarities(vectors, query(0))
    gaps = []
    for temperature in (1.0, 0.3, 0.1):
        board = ratings(
            replace(battles, importance=topic_weights(similarity, temperature=temperature))
        )
        gaps.append(board["X"] - board["Y"])
    assert gaps[0] < gaps[1] < gaps[2]
    top = topic_weights(similarity, "top-k", top_k=1500)
    assert top.sum() == 1500 and effective_count(top) == pytest.approx(1500)
    assert ratings(replace(battles, importance=top))["X"] > ratings(battles)["X"]


def spread(battles: Battles, rounds: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of θ: the sandwich's, and the bootstrap samples' deviations."""
    fit = fit_bt(aggregate(battles))
    sandwich = np.sqrt(np.diag(sandwich_covariance(fit)))[:3]
    samples, failed = bootstrap(fit, rounds, seed=3)
    assert failed == 0
    return sandwich, samples[:, :3].std(axis=0)


def test_weighted_sandwich_agrees_with_the_weighted_bootstrap(simulated):
    battles, vectors, _ = simulated
    weights = topic_weights(similarities(vectors, query(1)), temperature=0.2)
    weighted = replace(battles, importance=weights)
    sandwich, resampled = spread(weighted)
    np.testing.assert_allclose(resampled, sandwich, rtol=0.12)
    # Weights shrink the information: the errors are larger than with every vote at 1.
    assert np.all(sandwich > spread(battles, rounds=1)[0])


def test_importance_counts_squared_in_the_sandwich():
    """Each battle of importance v adds v·score: J counts v², not v (a multiplicity would)."""
    battles, vectors, _ = arena(1500, seed=2)
    weights = topic_weights(similarities(vectors, query(0)), temperature=0.3)
    fit = fit_bt(aggregate(replace(battles, importance=weights)))
    theta, m, n = fit.theta, 3, len(battles)
    x = np.zeros((n, m))
    x[np.arange(n), battles.model_a] = 1.0
    x[np.arange(n), battles.model_b] -= 1.0
    p = 1.0 / (1.0 + np.exp(-(x @ theta)))
    score = (battles.outcome / 2.0 - p)[:, None] * x
    hessian = (x * (weights * p * (1 - p))[:, None]).T @ x + np.full((m, m), 1.0 / m)
    outer = (score * (weights**2)[:, None]).T @ score
    inverse = np.linalg.inv(hessian)
    reference = inverse @ outer @ inverse
    np.testing.assert_allclose(sandwich_covariance(fit), reference, rtol=1e-6, atol=1e-12)


def test_importance_of_one_reproduces_the_unweighted_fit_exactly(simulated):
    battles, _, _ = simulated
    ones = replace(battles, importance=np.ones(len(battles)))
    for config in (RatingConfig(), RatingConfig(ties="davidson"), RatingConfig(l2=0.01)):
        plain, weighted = rate(battles, config), rate(ones, config)
        assert weighted.models == plain.models
        np.testing.assert_array_equal(weighted.rating, plain.rating)
        np.testing.assert_array_equal(weighted.ci_lower, plain.ci_lower)
        np.testing.assert_array_equal(weighted.ci_upper, plain.ci_upper)
    # The bootstrap resamples battles one by one then: the same distribution, other draws.
    sandwich, by_battle = spread(ones)
    _, by_cell = spread(battles)
    np.testing.assert_allclose(by_battle, by_cell, rtol=0.12)
    np.testing.assert_allclose(by_battle, sandwich, rtol=0.12)


def test_a_multiplicity_is_that_many_battles_of_the_same_importance():
    battles, vectors, _ = arena(600, seed=4)
    weights = topic_weights(similarities(vectors, query(0)), temperature=0.3)
    doubled = Battles(
        MODELS,
        np.repeat(battles.model_a, 2),
        np.repeat(battles.model_b, 2),
        np.repeat(battles.outcome, 2),
        importance=np.repeat(weights, 2),
    )
    counted = replace(battles, weight=np.full(len(battles), 2), importance=weights)
    one, other = rate(doubled), rate(counted)
    np.testing.assert_allclose(other.rating, one.rating, rtol=1e-12)
    np.testing.assert_allclose(other.ci_upper, one.ci_upper, rtol=1e-9)


def test_battles_of_importance_zero_are_left_out():
    battles, _, topic = arena(800, seed=5)
    only_coding = (topic == 0).astype(float)
    kept = np.flatnonzero(topic == 0)
    subset = Battles(MODELS, battles.model_a[kept], battles.model_b[kept], battles.outcome[kept])
    np.testing.assert_allclose(
        rate(replace(battles, importance=only_coding)).rating, rate(subset).rating, rtol=1e-12
    )
    with pytest.raises(RatingError, match="importance 0"):
        rate(replace(battles, importance=np.zeros(len(battles))))


def test_bad_importance_and_elo_are_refused():
    battles, _, _ = arena(50, seed=1)
    for bad in (-1.0, np.nan, np.inf):
        values = np.ones(len(battles))
        values[3] = bad
        with pytest.raises(BattleDataError, match="importance.*index 3"):
            replace(battles, importance=values)
    with pytest.raises(RatingError, match="Bradley–Terry"):
        rate(replace(battles, importance=np.ones(len(battles))), RatingConfig(method="elo"))


def test_effective_votes_and_kernels():
    assert effective_count(np.ones(40)) == pytest.approx(40)
    assert effective_count(np.r_[1.0, np.zeros(9)]) == pytest.approx(1)
    assert effective_count(np.zeros(3)) == 0.0
    assert effective_count(np.r_[1.0, 1.0, 0.5, 0.5]) == pytest.approx(9 / 2.5)
    weights = topic_weights(np.array([1.0, 0.9, 0.0]), temperature=0.1)
    np.testing.assert_allclose(weights, [1.0, np.exp(-1.0), np.exp(-10.0)])
    np.testing.assert_array_equal(
        topic_weights(np.array([0.2, 0.9, 0.5]), "top-k", top_k=2), [0.0, 1.0, 1.0]
    )
    for bad in ({"temperature": 0.0}, {"kernel": "gauss"}):
        with pytest.raises(RatingError):
            topic_weights(np.ones(2), **bad)


def test_similarities_centre_on_the_prompts_mean():
    shared = np.array([10.0, 0.0, 0.0])
    vectors = shared + np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    # Raw cosines are all near 1 (the shared direction); centred ones tell topics apart.
    found = similarities(vectors, shared + np.array([0.0, 1.0, 0.0]))
    assert found[0] > 0.9 and found[1] < 0 and found[0] > found[2]
    with pytest.raises(RatingError, match="dimensions"):
        similarities(vectors, np.ones(2))


@pytest.mark.parametrize("style_control", [False, True])
def test_a_common_scale_of_importance_changes_nothing(style_control):
    """Importance c everywhere scales H by c and J by c²: ratings and intervals stay."""
    rng = np.random.default_rng(9)
    style = rng.integers(0, 400, (900, 2, 4)).astype(float)
    battles = simulate(np.array([0.3, 0.0, -0.3]), 900, rng, tie_rate=0.1, style=style,
                       beta=np.array([0.4, 0.0, 0.0, 0.0]))  # fmt: skip
    config = RatingConfig(style_control=style_control)
    plain = rate(battles, config)
    for scale in (1.0, 0.25):
        scaled = rate(replace(battles, importance=np.full(len(battles), scale)), config)
        assert scaled.models == plain.models
        np.testing.assert_allclose(scaled.rating, plain.rating, rtol=1e-9)
        np.testing.assert_allclose(scaled.ci_upper, plain.ci_upper, rtol=1e-9)
        for ours, theirs in zip(scaled.style, plain.style, strict=True):
            assert ours.value == pytest.approx(theirs.value, rel=1e-8)
            assert ours.upper == pytest.approx(theirs.upper, rel=1e-8)
