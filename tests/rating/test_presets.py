"""Each preset reproduces its published formula, computed here independently with scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from modelarena.rating.data import Battles
from modelarena.rating.leaderboard import rate
from modelarena.rating.presets import PRESETS, RatingConfig, preset

from .helpers import simulate

LN10 = math.log(10.0)


def _battles(names: tuple[str, ...], seed: int = 1) -> Battles:
    rng = np.random.default_rng(seed)
    battles = simulate(np.linspace(-0.9, 0.9, len(names)), 3000, rng, tie_rate=0.2)
    return Battles(names, battles.model_a, battles.model_b, battles.outcome)


def _by_name(board) -> dict[str, float]:
    return dict(zip(board.models, board.rating, strict=True))


def _logistic_regression_c1(battles: Battles) -> np.ndarray:
    """scikit-learn's LogisticRegression(fit_intercept=False, C=1) on FastChat's Dec 2023 table.

    Every battle appears twice with ±ln 10 in the two models' columns; a win for model_a is
    y = 1 in both copies, a tie is y = 1 in the first copy only. Objective: Σ log-loss + ½‖w‖².
    """
    n, m = len(battles), len(battles.models)
    rows = np.arange(2 * n)
    x = np.zeros((2 * n, m))
    x[rows, np.tile(battles.model_a, 2)] = LN10
    x[rows, np.tile(battles.model_b, 2)] = -LN10
    y = np.tile((battles.outcome == 2).astype(float), 2)
    y[:n][battles.outcome == 1] = 1.0

    def objective(w):
        z = x @ w
        p = 1.0 / (1.0 + np.exp(-z))
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * w @ w
        return loss, x.T @ (p - y) + w

    return minimize(objective, np.zeros(m), jac=True, method="BFGS", options={"gtol": 1e-9}).x


def _half_tie_fit(battles: Battles, penalty: float) -> np.ndarray:
    """argmin over w of Σ ℓ½(ln10·(w_a − w_b)) + penalty·Σ w², from w = 0 like FastChat.

    Exact trust-region Newton on the raw rows; steps stay in the span of the gradients, so
    without a penalty Σw stays 0, as in FastChat's L-BFGS from zeros.
    """
    m = len(battles.models)
    x = np.zeros((len(battles), m))
    x[np.arange(len(battles)), battles.model_a] = LN10
    x[np.arange(len(battles)), battles.model_b] -= LN10
    y = battles.outcome / 2.0

    def objective(w):
        z = x @ w
        return np.sum(np.logaddexp(0.0, z) - y * z) + penalty * w @ w

    def gradient(w):
        return x.T @ (1.0 / (1.0 + np.exp(-(x @ w))) - y) + 2 * penalty * w

    def hessian(w):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        return (x * (p * (1 - p))[:, None]).T @ x + 2 * penalty * np.eye(m)

    result = minimize(
        objective,
        np.zeros(m),
        jac=gradient,
        hess=hessian,
        method="trust-exact",
        options={"gtol": 1e-12},
    )
    return result.x


def test_fastchat_2023_12_is_sklearn_logistic_regression_with_c_1():
    battles = _battles(("m0", "m1", "m2", "m3", "m4"))
    reference = 1000 + 400 * _logistic_regression_c1(battles)
    board = rate(battles, preset("fastchat-2023-12"))
    ours = _by_name(board)
    assert max(abs(ours[name] - reference[k]) for k, name in enumerate(battles.models)) < 1e-6
    # The form of the same objective: Σ ℓ½(ln10·(w_a − w_b)) + 0.25·Σ w².
    w = _half_tie_fit(battles, 0.25)
    assert (
        max(abs(ours[name] - (1000 + 400 * w[k])) for k, name in enumerate(battles.models)) < 1e-6
    )
    assert board.config.ci == "bootstrap" and board.config.rounds == 100


def test_fastchat_2023_12_calibrates_llama_13b_to_800_when_rated():
    battles = _battles(("llama-13b", "m1", "m2", "m3"))
    reference = 1000 + 400 * _logistic_regression_c1(battles)
    reference += 800 - reference[0]
    ours = _by_name(rate(battles, preset("fastchat-2023-12")))
    assert max(abs(ours[name] - reference[k]) for k, name in enumerate(battles.models)) < 1e-6


def test_fastchat_2024_is_unpenalised_bt_with_mixtral_at_1114():
    names = ("m0", "mixtral-8x7b-instruct-v0.1", "m2", "m3", "m4", "m5")
    battles = _battles(names)
    w = _half_tie_fit(battles, 0.0)
    reference = 1000 + 400 * w
    reference += 1114 - reference[1]
    board = rate(battles, preset("fastchat-2024"))
    ours = _by_name(board)
    assert max(abs(ours[name] - reference[k]) for k, name in enumerate(names)) < 1e-6
    anchored = board.models.index("mixtral-8x7b-instruct-v0.1")
    assert board.ci_lower[anchored] == board.ci_upper[anchored] == 1114.0
    assert board.config.rounds == 100 and board.anchored == names[1]
    # Without Mixtral the ratings keep FastChat's implicit mean of 1000.
    plain = rate(_battles(("a", "b", "c")), preset("fastchat-2024"))
    assert plain.anchored is None and plain.rating.mean() == pytest.approx(1000.0, abs=1e-9)


def test_lmarena_2025_uses_sandwich_intervals():
    battles = _battles(("a", "b", "c", "d"))
    board = rate(battles, preset("lmarena-2025"))
    default = rate(battles, RatingConfig())
    assert board.config.ci == "sandwich"
    assert np.allclose(board.rating, default.rating) and np.allclose(
        board.ci_upper, default.ci_upper
    )


def test_presets_are_named_and_unknown_ones_refused():
    assert set(PRESETS) == {"fastchat-2024", "fastchat-2023-12", "lmarena-2025"}
    with pytest.raises(ValueError, match="presets: fastchat-2024"):
        preset("fastchat-2022")
