"""Bradley–Terry fits on aggregated counts against plain scipy fits on the raw battles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from modelarena.rating.aggregate import aggregate
from modelarena.rating.bt import fit_bt
from modelarena.rating.data import Battles
from modelarena.rating.errors import FitError
from modelarena.rating.style import style_features

from .helpers import simulate

LN10 = math.log(10.0)


def _reference(objective, size: int, start: np.ndarray | None = None) -> np.ndarray:
    """Minimise a raw-row objective with BFGS and complex-step gradients (exact to rounding).

    The objective must accept complex parameters: f(x + ih·e_k) has imaginary part h·∂f/∂x_k.
    """
    step = 1e-30

    def gradient(x):
        probe = x + 1j * step * np.eye(size)
        return np.array([objective(row).imag / step for row in probe])

    result = minimize(
        lambda x: objective(x).real,
        np.zeros(size) if start is None else start,
        jac=gradient,
        method="BFGS",
        options={"gtol": 1e-9, "maxiter": 10_000},
    )
    return result.x


def _log_sigmoid(x):
    return -np.log(1.0 + np.exp(-x))


def _centered(theta: np.ndarray) -> np.ndarray:
    return theta - theta.mean()


@pytest.fixture(scope="module")
def battles() -> Battles:
    rng = np.random.default_rng(7)
    return simulate(np.array([-0.8, -0.2, 0.1, 0.3, 0.9, 0.0]), 4000, rng, tie_rate=0.2)


def test_ties_half_matches_a_raw_row_fit(battles):
    a, b, y = battles.model_a, battles.model_b, battles.outcome / 2.0
    m = len(battles.models)

    def negative_log_likelihood(theta):
        eta = theta[a] - theta[b]
        return -np.sum(y * _log_sigmoid(eta) + (1 - y) * _log_sigmoid(-eta))

    reference = _centered(_reference(negative_log_likelihood, m))
    fit = fit_bt(aggregate(battles))
    assert np.abs(fit.theta - reference).max() * 400 / LN10 < 1e-6
    assert abs(fit.theta.sum()) < 1e-12


def test_dropped_ties_and_l2_match_raw_row_fits(battles):
    decisive = battles.outcome != 1
    a, b, y = battles.model_a[decisive], battles.model_b[decisive], battles.outcome[decisive] / 2.0
    m = len(battles.models)
    l2 = 3.0

    def objective(theta):
        eta = theta[a] - theta[b]
        penalty = l2 * np.sum((theta / LN10) ** 2)
        return -np.sum(y * _log_sigmoid(eta) + (1 - y) * _log_sigmoid(-eta)) + penalty

    reference = _reference(objective, m)
    fit = fit_bt(aggregate(battles, drop_ties=True), ties="drop", l2=l2)
    assert np.abs(fit.theta - reference).max() * 400 / LN10 < 1e-6


def test_davidson_matches_a_raw_row_fit(battles):
    a, b, outcome = battles.model_a, battles.model_b, battles.outcome
    m = len(battles.models)

    def objective(x):
        theta, log_nu = _centered(x[:m]), x[m]
        eta = theta[a] - theta[b]
        log_z = np.log(np.exp(eta / 2) + np.exp(-eta / 2) + np.exp(log_nu))
        log_p = np.where(outcome == 2, eta / 2, np.where(outcome == 0, -eta / 2, log_nu)) - log_z
        return -log_p.sum()

    x = _reference(objective, m + 1)
    fit = fit_bt(aggregate(battles), ties="davidson")
    assert np.abs(fit.theta - _centered(x[:m])).max() * 400 / LN10 < 1e-6
    assert fit.tie == pytest.approx(x[m], abs=1e-7)


def test_rao_kupper_matches_a_raw_row_fit(battles):
    a, b, outcome = battles.model_a, battles.model_b, battles.outcome
    m = len(battles.models)

    def objective(x):
        theta, kappa = _centered(x[:m]), x[m]
        eta = theta[a] - theta[b]
        win, loss = np.exp(_log_sigmoid(eta - kappa)), np.exp(_log_sigmoid(-eta - kappa))
        p = np.where(outcome == 2, win, np.where(outcome == 0, loss, 1 - win - loss))
        with np.errstate(invalid="ignore"):  # BFGS may probe κ < 0, where P(tie) < 0
            return -np.log(p).sum()

    x = _reference(objective, m + 1, start=np.r_[np.zeros(m), 0.5])
    fit = fit_bt(aggregate(battles), ties="rao-kupper")
    assert np.abs(fit.theta - _centered(x[:m])).max() * 400 / LN10 < 1e-6
    assert fit.tie == pytest.approx(x[m], abs=1e-7)


def test_reweighted_pairs_match_a_raw_row_fit(battles):
    a, b, y = battles.model_a, battles.model_b, battles.outcome / 2.0
    m = len(battles.models)
    pair = np.minimum(a, b) * m + np.maximum(a, b)
    weight = 1.0 / np.maximum(np.bincount(pair)[pair], 50)

    def objective(theta):
        eta = theta[a] - theta[b]
        return -np.sum(weight * (y * _log_sigmoid(eta) + (1 - y) * _log_sigmoid(-eta)))

    reference = _centered(_reference(objective, m))
    fit = fit_bt(aggregate(battles, reweight=True))
    assert np.abs(fit.theta - reference).max() * 400 / LN10 < 1e-6


def test_style_control_matches_a_raw_row_fit():
    rng = np.random.default_rng(3)
    n = 3000
    style = np.round(np.exp(rng.normal(4.0, 0.8, (n, 2, 4))))
    style[:, :, 1] = rng.integers(0, 3, (n, 2))  # small counts repeat, so rows merge
    battles = simulate(
        np.array([-0.5, 0.0, 0.2, 0.6]), n, rng, tie_rate=0.1, style=style, beta=np.ones(4) * 0.2
    )
    a, b, y = battles.model_a, battles.model_b, battles.outcome / 2.0
    z, _ = style_features(style)
    m = len(battles.models)

    def objective(x):
        eta = x[a] - x[b] + z @ x[m:]
        return -np.sum(y * _log_sigmoid(eta) + (1 - y) * _log_sigmoid(-eta))

    reference = _reference(objective, m + 4)
    fit = fit_bt(aggregate(battles, style_control=True))
    assert np.abs(fit.theta - _centered(reference[:m])).max() * 400 / LN10 < 1e-6
    assert np.abs(fit.beta - reference[m:]).max() < 1e-7


def test_aggregation_merges_identical_battles():
    battles = Battles(
        models=("a", "b", "c"),
        model_a=np.array([0, 1, 0, 2, 0], dtype=np.int32),
        model_b=np.array([1, 0, 1, 0, 2], dtype=np.int32),
        outcome=np.array([2, 2, 1, 0, 2], dtype=np.int8),
        weight=np.array([1, 2, 1, 3, 1]),
    )
    data = aggregate(battles)
    assert data.i.tolist() == [0, 0] and data.j.tolist() == [1, 2]
    # (a beat b) + 2×(b beat a) + tie; c beat a ×3 and a beat c.
    assert data.counts.tolist() == [[1, 1, 2], [4, 0, 0]]


def test_simulated_strengths_are_recovered():
    rng = np.random.default_rng(11)
    truth = np.linspace(-1.5, 1.5, 12)
    fit = fit_bt(aggregate(simulate(truth, 60_000, rng)))
    assert np.abs(fit.theta - _centered(truth)).max() < 0.08  # about 4 standard errors


def test_models_that_never_met_are_fitted_together_only_with_a_penalty():
    battles = Battles(
        models=("a", "b", "c", "d"),
        model_a=np.array([0, 0, 1, 2, 2, 3], dtype=np.int32),
        model_b=np.array([1, 1, 0, 3, 3, 2], dtype=np.int32),
        outcome=np.array([2, 2, 2, 2, 2, 2], dtype=np.int8),
    )
    with pytest.raises(FitError, match="2 groups that never met.*group 1: a, b; group 2: c, d"):
        fit_bt(aggregate(battles))
    # The penalty alone places the groups: each is centred, as a whole fit would be.
    fit = fit_bt(aggregate(battles), l2=0.1)
    assert fit.theta[0] > 0 and fit.theta[:2].sum() == pytest.approx(0.0, abs=1e-12)
    assert fit.theta[2:] == pytest.approx(fit.theta[:2], abs=1e-12)


def test_a_model_that_never_lost_is_named_and_a_penalty_fixes_it():
    battles = Battles(
        models=("champion", "b", "c"),
        model_a=np.array([0, 0, 1, 2, 1], dtype=np.int32),
        model_b=np.array([1, 2, 2, 1, 0], dtype=np.int32),
        outcome=np.array([2, 2, 2, 2, 0], dtype=np.int8),
    )
    with pytest.raises(FitError, match="champion never lost to the others.*--l2"):
        fit_bt(aggregate(battles))
    fit = fit_bt(aggregate(battles), l2=0.1)
    assert fit.theta[0] == fit.theta.max()
