"""Sandwich and bootstrap intervals: reference computations, coverage by simulation, safety."""

from __future__ import annotations

import math
import multiprocessing
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from modelarena.rating.aggregate import aggregate
from modelarena.rating.bt import fit_bt
from modelarena.rating.intervals import (
    MultinomialSampler,
    bootstrap,
    normal_intervals,
    percentile_intervals,
    rank_upper_bound,
    sandwich_covariance,
)
from modelarena.rating.leaderboard import rate
from modelarena.rating.presets import Anchor, RatingConfig

from .helpers import rare_model_battles, simulate

TRUTH = np.array([-0.6, -0.3, 0.0, 0.2, 0.4, 0.8])


def test_sandwich_matches_per_battle_scores():
    rng = np.random.default_rng(5)
    battles = simulate(TRUTH, 3000, rng, tie_rate=0.25)
    fit = fit_bt(aggregate(battles))
    m = len(TRUTH)
    # Straight from the definition, one row per battle: H = Σ p(1−p) x xᵀ, J = Σ s sᵀ.
    x = np.zeros((len(battles), m))
    x[np.arange(len(battles)), battles.model_a] = 1.0
    x[np.arange(len(battles)), battles.model_b] -= 1.0
    p = 1.0 / (1.0 + np.exp(-(x @ fit.theta)))
    y = battles.outcome / 2.0
    hessian = (x * (p * (1 - p))[:, None]).T @ x
    scores = x * (y - p)[:, None]
    inverse = np.linalg.pinv(hessian)
    reference = inverse @ (scores.T @ scores) @ inverse
    assert np.abs(sandwich_covariance(fit) - reference).max() < 1e-10


def test_sandwich_with_style_and_ties_model_matches_finite_differences():
    """H from the code equals the numerical Jacobian of the code's own gradient."""
    rng = np.random.default_rng(8)
    style = np.round(np.exp(rng.normal(4.0, 0.6, (2000, 2, 4))))
    battles = simulate(TRUTH, 2000, rng, tie_rate=0.2, style=style, beta=np.full(4, 0.2))
    fit = fit_bt(aggregate(battles, style_control=True), ties="davidson")
    problem = fit.problem
    stats_ = problem.kernel.stats(problem.data.counts.T[None])

    def gradient(point):
        _, rows = problem._evaluate(point[None], stats_)
        return problem._gradient(point[None], rows[0], rows[2])[0]

    step = 1e-6
    numeric = np.array(
        [
            (gradient(fit.x + step * e) - gradient(fit.x - step * e)) / (2 * step)
            for e in np.eye(fit.x.size)
        ]
    )
    assert np.abs(problem.hessian(fit.x) - numeric).max() < 1e-4 * np.abs(numeric).max()


def test_multinomial_resampling_is_multinomial():
    rng = np.random.default_rng(2)
    counts = np.array([50.0, 1.0, 7.0, 300.0, 2.0, 40.0])
    draws = MultinomialSampler(counts).draw(20_000, rng)
    n = counts.sum()
    assert np.all(draws.sum(axis=1) == n)
    p = counts / n
    assert np.allclose(draws.mean(axis=0), n * p, rtol=0.02, atol=0.05)
    expected_cov = n * (np.diag(p) - np.outer(p, p))
    assert np.allclose(np.cov(draws.T), expected_cov, rtol=0.05, atol=0.15)
    # The rare category's distribution matches Binomial(n, p) (chi-square test).
    observed = np.bincount(draws[:, 1], minlength=8)[:8]
    expected = stats.binom.pmf(np.arange(8), int(n), p[1]) * len(draws)
    expected[-1] += stats.binom.sf(7, int(n), p[1]) * len(draws)
    observed[-1] += np.count_nonzero(draws[:, 1] > 7)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_multinomial_resampling_of_many_equal_counts():
    """Cells sharing a count are drawn as a histogram and shuffled; still multinomial."""
    rng = np.random.default_rng(3)
    counts = np.r_[np.full(2000, 3.0), np.full(1000, 10.0), [1.0, 500.0]]
    n = counts.sum()
    draws = MultinomialSampler(counts).draw(400, rng)
    assert np.all(draws.sum(axis=1) == n)
    threes = draws[:, :2000].ravel()
    p = 3.0 / n
    support = np.arange(9)
    observed = np.bincount(np.minimum(threes, 8), minlength=9)
    expected = stats.binom.pmf(support, int(n), p) * threes.size
    expected[-1] = stats.binom.sf(7, int(n), p) * threes.size
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # Cells are exchangeable: no cell's mean drifts from the others.
    assert np.abs(draws[:, 2000:3000].mean(axis=0) - 10.0).max() < 6 * math.sqrt(10 / 400)
    assert draws[:, -1].mean() == pytest.approx(500.0, abs=6 * math.sqrt(500 / 400))


def test_bootstrap_is_reproducible_and_independent_of_threads():
    rng = np.random.default_rng(9)
    fit = fit_bt(aggregate(simulate(TRUTH, 2000, rng, tie_rate=0.1)))
    one, unconverged = bootstrap(fit, 300, seed=4, workers=1)
    two, _ = bootstrap(fit, 300, seed=4, workers=2)
    assert unconverged == 0
    assert np.array_equal(one, two)
    assert not np.array_equal(one, bootstrap(fit, 300, seed=5)[0])
    assert np.allclose(one.sum(axis=1), 0.0, atol=1e-9)  # every round keeps Σθ = 0


def test_bootstrap_rounds_match_fits_on_resampled_battles():
    """Each bootstrap round equals a full fit on its resampled counts."""
    rng = np.random.default_rng(12)
    data = aggregate(simulate(TRUTH, 1500, rng, tie_rate=0.2))
    fit = fit_bt(data)
    samples, _ = bootstrap(fit, 4, seed=1)
    chunk_rng = np.random.default_rng(np.random.SeedSequence(1).spawn(1)[0])
    flat = data.counts.T.ravel()
    cells = np.flatnonzero(flat > 0)
    for index, drawn in enumerate(MultinomialSampler(flat[cells]).draw(4, chunk_rng)):
        resampled = np.zeros(flat.size)
        resampled[cells] = drawn
        again = fit_bt(
            type(data)(models=data.models, i=data.i, j=data.j, counts=resampled.reshape(3, -1).T)
        )
        # Rounds stop at a 1e-5 step: within 1e-6 natural units (0.0002 rating points).
        assert np.abs(samples[index] - again.theta).max() < 1e-6


def _bootstrap_in_child(method: str, fit) -> np.ndarray:
    context = multiprocessing.get_context(method)
    with context.Pool(1) as pool:
        return pool.apply_async(bootstrap, (fit, 64, 3)).get(timeout=120)[0]


@pytest.mark.parametrize("method", multiprocessing.get_all_start_methods())
def test_bootstrap_is_safe_in_any_process_start_method(method):
    rng = np.random.default_rng(4)
    fit = fit_bt(aggregate(simulate(TRUTH, 1000, rng)))
    here, _ = bootstrap(fit, 64, 3)  # threads have run in this process before it forks
    assert np.array_equal(_bootstrap_in_child(method, fit), here)


def _coverage(ci: str, datasets: int, rounds: int = 0) -> tuple[float, float]:
    """Share of (dataset, model) intervals covering the truth, and of all-model bands."""
    rng = np.random.default_rng({"sandwich": 101, "bootstrap": 202}[ci])
    truth = 1000 + 400 / math.log(10) * (TRUTH - TRUTH.mean())
    covered = simultaneous = 0
    for _ in range(datasets):
        battles = simulate(TRUTH, 2000, rng)
        board = rate(
            battles, RatingConfig(ci=ci, rounds=max(rounds, 1), seed=int(rng.integers(1 << 30)))
        )
        order = [battles.models.index(name) for name in board.models]
        hit = (board.ci_lower <= truth[order]) & (truth[order] <= board.ci_upper)
        covered += int(hit.sum())
        simultaneous += bool(
            np.all(
                (board.simultaneous_lower <= truth[order])
                & (truth[order] <= board.simultaneous_upper)
            )
        )
    return covered / (datasets * len(TRUTH)), simultaneous / datasets


def test_sandwich_intervals_cover_the_truth_95_percent_of_the_time():
    per_model, joint = _coverage("sandwich", 300)
    assert 0.92 <= per_model <= 0.98
    assert joint >= 0.90


def test_bootstrap_intervals_cover_the_truth_95_percent_of_the_time():
    per_model, joint = _coverage("bootstrap", 200, rounds=500)
    assert 0.92 <= per_model <= 0.98
    assert joint >= 0.88


def test_interval_helpers():
    point = np.array([1.0, 2.0, 3.0])
    covariance = np.diag([0.25, 0.25, 0.0])
    intervals = normal_intervals(point, covariance, 0.95, seed=0)
    assert intervals.lower[0] == pytest.approx(1 - 1.959964 * 0.5, abs=1e-5)
    assert intervals.upper[2] == intervals.lower[2] == 3.0  # an anchored model: no width
    # Two independent quantities: the simultaneous multiplier is z at √0.95.
    expected = stats.norm.ppf(0.5 + math.sqrt(0.95) / 2)
    assert (intervals.simultaneous_upper[0] - 1.0) / 0.5 == pytest.approx(expected, abs=0.03)
    samples = np.random.default_rng(0).normal(point, 1.0, (4000, 3))
    boot = percentile_intervals(point, samples, 0.9)
    assert np.allclose(boot.upper - point, 1.645, atol=0.08)
    assert rank_upper_bound(np.array([10.0, 5.0, 0.0]), np.array([12.0, 11.0, 4.0])).tolist() == [
        1,
        1,
        3,
    ]


def test_a_model_unbounded_in_some_rounds_does_not_move_the_others():
    """Rounds where the rare model won (or lost) all its resampled battles have no finite
    rating for it; the other models' intervals must not inherit its drift."""
    battles = rare_model_battles()
    sandwich = rate(battles)
    boot = rate(battles, RatingConfig(ci="bootstrap", rounds=200))
    assert 40 <= boot.bootstrap_unconverged <= 110  # P(no loss in a resample) = e^-1
    for name in ("m0", "m1", "m2"):
        s, b = sandwich.models.index(name), boot.models.index(name)
        # Without an anchor the sandwich carries the rare model's wide uncertainty into
        # every rating (ratings average 1000); the bootstrap stays within it.
        slack = 0.25 * (sandwich.ci_upper[s] - sandwich.ci_lower[s]) / 2
        assert sandwich.ci_lower[s] - slack < boot.ci_lower[b] < boot.rating[b], name
        assert boot.rating[b] < boot.ci_upper[b] < sandwich.ci_upper[s] + slack, name
        assert np.isfinite(boot.simultaneous_lower[b]) and np.isfinite(boot.simultaneous_upper[b])
    rare = boot.models.index("rare")
    assert boot.ci_upper[rare] == math.inf and boot.simultaneous_upper[rare] == math.inf
    record = boot.records()[rare]
    assert record["ci_upper"] is None and record["rating"] is not None


def test_differences_to_an_anchor_match_the_sandwich_when_a_model_is_unbounded():
    battles = rare_model_battles()
    anchor = RatingConfig(anchor=Anchor("m1", 1000.0))
    sandwich = rate(battles, anchor)
    boot = rate(battles, replace(anchor, ci="bootstrap", rounds=200))
    for name in ("m0", "m2"):
        s, b = sandwich.models.index(name), boot.models.index(name)
        half_width = (sandwich.ci_upper[s] - sandwich.ci_lower[s]) / 2
        assert abs(boot.ci_lower[b] - sandwich.ci_lower[s]) < 0.3 * half_width, name
        assert abs(boot.ci_upper[b] - sandwich.ci_upper[s]) < 0.3 * half_width, name
    rare = boot.models.index("rare")
    assert boot.ci_upper[rare] == math.inf


def test_percentile_intervals_with_unbounded_rounds():
    rng = np.random.default_rng(3)
    samples = rng.normal(0.0, 1.0, (1000, 3))
    samples[:10, 0] = np.inf  # 1%: the upper 97.5% bound stays finite
    samples[:100, 1] = -np.inf  # 10%: the lower bound is unbounded
    samples[:40, 2] = np.nan  # 4% undefined: unbounded on both sides
    intervals = percentile_intervals(np.zeros(3), samples, 0.95)
    assert np.isfinite(intervals.lower[0]) and np.isfinite(intervals.upper[0])
    assert intervals.lower[1] == -np.inf and np.isfinite(intervals.upper[1])
    assert intervals.lower[2] == -np.inf and intervals.upper[2] == np.inf
    assert intervals.simultaneous_upper[0] == np.inf and np.isfinite(
        intervals.simultaneous_lower[0]
    )
    assert intervals.simultaneous_lower[1] == -np.inf
    finite = percentile_intervals(np.zeros(3), np.where(np.isfinite(samples), samples, 0.0), 0.95)
    assert np.all(np.isfinite(finite.lower)) and np.all(np.isfinite(finite.simultaneous_upper))


def test_unbounded_rounds_are_fits_on_the_main_group_centred_on_it():
    """A round where the rare model has no finite rating equals a fit on the other models'
    resampled battles, shifted so that their mean change from the full-data fit is zero."""
    data = aggregate(rare_model_battles())
    fit = fit_bt(data)
    samples, _ = bootstrap(fit, 8, seed=1)
    chunk_rng = np.random.default_rng(np.random.SeedSequence(1).spawn(1)[0])
    flat = data.counts.T.ravel()
    cells = np.flatnonzero(flat > 0)
    main = (data.i < 3) & (data.j < 3)
    checked = 0
    for index, drawn in enumerate(MultinomialSampler(flat[cells]).draw(8, chunk_rng)):
        if np.isfinite(samples[index, 3]):
            continue
        resampled = np.zeros(flat.size)
        resampled[cells] = drawn
        counts = resampled.reshape(3, -1).T[main]
        again = fit_bt(
            type(data)(models=data.models[:3], i=data.i[main], j=data.j[main], counts=counts)
        )
        expected = again.theta - np.mean(again.theta - fit.theta[:3])
        assert np.abs(samples[index, :3] - expected).max() < 1e-6
        checked += 1
    assert checked >= 2
