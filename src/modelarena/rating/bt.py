"""Bradley–Terry maximum likelihood on aggregated counts, with optional style features and ties.

One batched damped-Newton solver (analytic gradient and Hessian) fits the data and every
bootstrap round; model strengths are identified by a sum-to-zero constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from modelarena.rating.aggregate import PairCounts, pair_index
from modelarena.rating.errors import FitError
from modelarena.rating.identify import check_identified

TIE_MODELS = ("half", "drop", "davidson", "rao-kupper")


# Both are accurate to ~1e-16 in absolute terms, which is what sums of log-likelihoods
# and their derivatives need, and use only SIMD-vectorised ufuncs (log1p is not).
def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + eˣ)."""
    result = np.log(1.0 + np.exp(-np.abs(x)))
    result += np.maximum(x, 0.0)
    return result


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e⁻ˣ)."""
    result = np.tanh(0.5 * x)
    result *= 0.5
    result += 0.5
    return result


class _Logit:
    """Ties count as half a win for each side (or were dropped before aggregation).

    Sufficient statistics per row: battles N and points S of the row's first model.
    """

    n_tie = 0

    def stats(self, counts: np.ndarray) -> tuple[np.ndarray, ...]:
        wins, ties, losses = counts[:, 0], counts[:, 1], counts[:, 2]
        points = wins + 0.5 * ties
        return points + (0.5 * ties + losses), points

    def rows(self, eta: np.ndarray, tau: np.ndarray | None, stats: tuple) -> tuple:
        n, s = stats
        p = _sigmoid(eta)
        objective = n * _softplus(eta)
        objective -= s * eta
        expected = n * p
        return objective, expected - s, expected - expected * p, None, None, None

    def outcome_scores(self, eta: np.ndarray, tau: float | None) -> tuple:
        p = _sigmoid(eta)[:, None]
        return np.array([1.0, 0.5, 0.0]) - p, None

    def expected(self, eta: np.ndarray, tau: float | None) -> np.ndarray:
        return _sigmoid(eta)

    def start(self, counts: np.ndarray) -> list[float]:
        return []


class _Davidson:
    """Davidson (1970): P(tie) ∝ ν·sqrt(π_i π_j); the tie parameter is log ν."""

    n_tie = 1

    def stats(self, counts: np.ndarray) -> tuple[np.ndarray, ...]:
        return counts[:, 0], counts[:, 1], counts[:, 2]

    @staticmethod
    def _probabilities(eta: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, ...]:
        half = 0.5 * np.abs(eta)
        log_z = half + np.log(1.0 + np.exp(-2.0 * half) + np.exp(tau - half))
        return (
            log_z,
            np.exp(0.5 * eta - log_z),
            np.exp(tau - log_z),
            np.exp(-0.5 * eta - log_z),
        )

    def rows(self, eta: np.ndarray, tau: np.ndarray, stats: tuple) -> tuple:
        wins, ties, losses = stats
        t = tau[:, None]
        log_z, p_win, p_tie, p_loss = self._probabilities(eta, t)
        n = wins + ties + losses
        half_gap = 0.5 * (p_win - p_loss)
        objective = n * log_z - 0.5 * (wins - losses) * eta - ties * t
        return (
            objective,
            n * half_gap - 0.5 * (wins - losses),
            n * (0.25 * (p_win + p_loss) - half_gap**2),
            n * p_tie - ties,
            n * p_tie * (1.0 - p_tie),
            -n * p_tie * half_gap,
        )

    def outcome_scores(self, eta: np.ndarray, tau: float) -> tuple:
        _, p_win, p_tie, p_loss = self._probabilities(eta, np.asarray(tau))
        half_gap = (0.5 * (p_win - p_loss))[:, None]
        d = np.array([0.5, 0.0, -0.5]) - half_gap
        e = np.array([0.0, 1.0, 0.0]) - p_tie[:, None]
        return d, e

    def expected(self, eta: np.ndarray, tau: float) -> np.ndarray:
        _, p_win, p_tie, _ = self._probabilities(eta, np.asarray(tau))
        return p_win + 0.5 * p_tie

    def start(self, counts: np.ndarray) -> list[float]:
        tie_rate = counts[:, 1].sum() / counts.sum()
        if not 0 < tie_rate < 1:
            raise FitError("the Davidson tie model needs both ties and decisive battles")
        return [math.log(2.0 * tie_rate / (1.0 - tie_rate))]


class _RaoKupper:
    """Rao and Kupper (1967): i beats j with σ(η − κ), j beats i with σ(−η − κ); κ > 0."""

    n_tie = 1

    def stats(self, counts: np.ndarray) -> tuple[np.ndarray, ...]:
        return counts[:, 0], counts[:, 1], counts[:, 2]

    @staticmethod
    def _parts(eta: np.ndarray, kappa: np.ndarray) -> tuple[np.ndarray, ...]:
        with np.errstate(invalid="ignore", divide="ignore"):
            log_two_sinh = np.where(
                kappa > 0, kappa + np.log1p(-np.exp(-2.0 * np.abs(kappa))), -np.inf
            )
        log_win = -_softplus(kappa - eta)
        log_loss = -_softplus(eta + kappa)
        log_tie = log_two_sinh - eta - _softplus(-eta - kappa) - _softplus(kappa - eta)
        upper, lower = _sigmoid(eta + kappa), _sigmoid(eta - kappa)
        return log_win, log_tie, log_loss, upper, lower

    def _derivatives(self, eta: np.ndarray, kappa: np.ndarray) -> tuple:
        """log P of each outcome and its first and second derivatives in (η, κ)."""
        log_win, log_tie, log_loss, upper, lower = self._parts(eta, kappa)
        a1, b1 = upper * (1.0 - upper), lower * (1.0 - lower)
        a2, b2 = a1 * (1.0 - 2.0 * upper), b1 * (1.0 - 2.0 * lower)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            p_tie = np.exp(log_tie)
            d_tie, e_tie = (a1 - b1) / p_tie, (a1 + b1) / p_tie
            tie_second = (
                (a2 - b2) / p_tie - d_tie**2,
                (a2 - b2) / p_tie - e_tie**2,
                (a2 + b2) / p_tie - d_tie * e_tie,
            )
        logs = (log_win, log_tie, log_loss)
        first = ((1.0 - lower, -(1.0 - lower)), (d_tie, e_tie), (-upper, -upper))
        second = ((-b1, -b1, b1), tie_second, (-a1, -a1, -a1))
        return logs, first, second

    def rows(self, eta: np.ndarray, tau: np.ndarray, stats: tuple) -> tuple:
        logs, first, second = self._derivatives(eta, tau[:, None])
        objective = -sum(n * log_p for n, log_p in zip(stats, logs, strict=True))
        g = -sum(n * d for n, (d, _) in zip(stats, first, strict=True))
        g_tau = -sum(n * e for n, (_, e) in zip(stats, first, strict=True))
        h = -sum(n * s[0] for n, s in zip(stats, second, strict=True))
        h_tau = -sum(n * s[1] for n, s in zip(stats, second, strict=True))
        h_cross = -sum(n * s[2] for n, s in zip(stats, second, strict=True))
        return objective, g, h, g_tau, h_tau, h_cross

    def outcome_scores(self, eta: np.ndarray, tau: float) -> tuple:
        _, first, _ = self._derivatives(eta, np.asarray(tau))
        d = np.stack([np.broadcast_to(d, eta.shape) for d, _ in first], axis=1)
        e = np.stack([np.broadcast_to(e, eta.shape) for _, e in first], axis=1)
        return d, e

    def expected(self, eta: np.ndarray, tau: float) -> np.ndarray:
        log_win, log_tie, _, _, _ = self._parts(eta, np.asarray(tau))
        return np.exp(log_win) + 0.5 * np.exp(log_tie)

    def start(self, counts: np.ndarray) -> list[float]:
        tie_rate = counts[:, 1].sum() / counts.sum()
        if not 0 < tie_rate < 1:
            raise FitError("the Rao–Kupper tie model needs both ties and decisive battles")
        return [math.log((1.0 + tie_rate) / (1.0 - tie_rate))]


class _Kernel(Protocol):
    """What a tie model provides the solver (see _Logit for the plain case)."""

    n_tie: int

    def stats(self, counts: np.ndarray) -> tuple[np.ndarray, ...]: ...
    # τ, the tie parameter, is None for the logit kernel, which has none.
    def rows(self, eta: np.ndarray, tau: Any, stats: tuple) -> tuple: ...
    def outcome_scores(self, eta: np.ndarray, tau: Any) -> tuple: ...
    def expected(self, eta: np.ndarray, tau: Any) -> np.ndarray: ...
    def start(self, counts: np.ndarray) -> list[float]: ...


_KERNELS: dict[str, type[_Kernel]] = {
    "half": _Logit,
    "drop": _Logit,
    "davidson": _Davidson,
    "rao-kupper": _RaoKupper,
}


class Problem:
    """The fixed part of a fit: design rows, tie model and penalty; counts vary per round.

    Parameters are laid out as [θ (one per model), β (one per style feature), τ (tie)],
    with θ in natural log-odds units. The objective is the negative log-likelihood plus
    `penalty`·Σθ²; the L2 strength `l2` is given per squared (θ / ln base).
    """

    def __init__(
        self, data: PairCounts, *, ties: str = "half", l2: float = 0.0, base: float = 10.0
    ):
        if ties not in _KERNELS:
            raise FitError(f"unknown tie model {ties!r}; use one of {', '.join(TIE_MODELS)}")
        if ties == "drop" and data.counts[:, 1].any():
            raise FitError("ties='drop' needs counts aggregated with drop_ties=True")
        self.data = data
        self.kernel: _Kernel = _KERNELS[ties]()
        self.m = data.n_models
        # Style features, one column each; none (0 columns) without style control.
        self.features = np.zeros((len(data.i), 0)) if data.features is None else data.features
        self.k = self.features.shape[1]
        self.n_params = self.m + self.k + self.kernel.n_tie
        self.penalty = l2 / math.log(base) ** 2
        self.i, self.j = data.i, data.j
        keys = self.i * self.m + self.j
        pairs, row_pair = pair_index(keys, self.m)
        # None: each row is its own pair, in sorted order, so per-row values are per-pair.
        self.row_pair = None if np.all(keys[1:] > keys[:-1]) else row_pair
        self.pair_i, self.pair_j = pairs // self.m, pairs % self.m
        self._unit_cache: tuple[bytes, list[tuple]] | None = None
        if self.k:
            self._features_by_column = np.ascontiguousarray(self.features.T)

    # ----------------------------------------------------------------- evaluation
    def start(self) -> np.ndarray:
        """Starting point: equal strengths, no style effect, tie parameter from the tie rate."""
        x = np.zeros(self.n_params)
        x[self.m + self.k :] = self.kernel.start(self.data.counts)
        return x

    def weighted(self, counts: np.ndarray) -> np.ndarray:
        """Counts times the inverse-propensity weights, if any."""
        weights = self.data.weights
        return counts if weights is None else counts * weights

    def eta(self, x: np.ndarray) -> np.ndarray:
        """Linear predictor of each row for each round, shape (rounds, rows)."""
        theta = x[:, : self.m]
        eta = theta[:, self.i] - theta[:, self.j]
        if self.k:
            eta += x[:, self.m : self.m + self.k] @ self.features.T
        return eta

    def tau(self, x: np.ndarray) -> np.ndarray | None:
        return x[:, -1] if self.kernel.n_tie else None

    def _evaluate(self, x: np.ndarray, stats: tuple) -> tuple:
        """Objective per round and the per-row derivative arrays at x (rounds, P)."""
        rows = self.kernel.rows(self.eta(x), self.tau(x), stats)
        return self._with_penalty(x, rows[0].sum(axis=1)), rows[1:]

    def _evaluate_shared(self, x: np.ndarray, stats: tuple) -> tuple:
        """Like _evaluate, for every round at the same point x (P,), cheaply.

        Every per-row quantity is linear in the sufficient statistics at fixed x, so the
        kernel is evaluated once per statistic and combined with each round's statistics.
        """
        total: list = [None] * 6
        for index, per_unit in enumerate(self._unit_rows(x, len(stats))):
            for slot, value in enumerate(per_unit):
                if value is not None:
                    term = stats[index] * value
                    total[slot] = term if total[slot] is None else total[slot] + term
        rounds = len(stats[0])
        objective = self._with_penalty(np.broadcast_to(x, (rounds, x.size)), total[0].sum(axis=1))
        return objective, tuple(total[1:])

    def _unit_rows(self, x: np.ndarray, n_stats: int) -> list[tuple]:
        """Kernel rows at x with each sufficient statistic set to one in turn, memoised.

        Every bootstrap round starts from the same point, so this is computed once; the
        one-entry cache is replaced atomically, which is safe across threads.
        """
        key = x.tobytes()
        cached = self._unit_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        point = x[None]
        eta, tau = self.eta(point), self.tau(point)
        rows = []
        for index in range(n_stats):
            unit = tuple(
                np.ones_like(eta) if k == index else np.zeros_like(eta) for k in range(n_stats)
            )
            rows.append(self.kernel.rows(eta, tau, unit))
        self._unit_cache = (key, rows)
        return rows

    def _with_penalty(self, x: np.ndarray, objective: np.ndarray) -> np.ndarray:
        if self.penalty == 0.0:
            return objective
        return objective + self.penalty * np.sum(x[:, : self.m] ** 2, axis=1)

    # ----------------------------------------------------------------- assembly
    def _pair_sums(self, values: np.ndarray) -> np.ndarray:
        """Per-row values (rounds, rows) summed per model pair (rounds, pairs)."""
        if self.row_pair is None:
            return values
        pairs = self.pair_i.size
        if values.shape[0] == 1:
            return np.bincount(self.row_pair, values[0], pairs)[None]
        offset = (np.arange(values.shape[0]) * pairs)[:, None]
        flat = np.bincount(
            (offset + self.row_pair).ravel(), values.ravel(), values.shape[0] * pairs
        )
        return flat.reshape(values.shape[0], pairs)

    def pair_counts(self, counts: np.ndarray) -> np.ndarray:
        """Outcome counts (rounds, 3, rows) summed per model pair: (rounds, 3, pairs)."""
        return np.stack([self._pair_sums(counts[:, c]) for c in range(3)], axis=1)

    def _scatter(self, per_pair: np.ndarray, sign: float) -> np.ndarray:
        """Per-pair values at the pair's first model plus sign × at its second, per round."""
        rounds = per_pair.shape[0]
        if rounds == 1:
            at_i = np.bincount(self.pair_i, per_pair[0], self.m)
            at_j = np.bincount(self.pair_j, per_pair[0], self.m)
            return (at_i + sign * at_j)[None]
        offset = (np.arange(rounds) * self.m)[:, None]
        flat = per_pair.ravel()
        at_i = np.bincount((offset + self.pair_i).ravel(), flat, rounds * self.m)
        at_j = np.bincount((offset + self.pair_j).ravel(), flat, rounds * self.m)
        return (at_i + sign * at_j).reshape(rounds, self.m)

    def _by_model(self, values: np.ndarray, sign: float) -> np.ndarray:
        """Σ over rows of values at model i plus sign × values at model j, per round."""
        return self._scatter(self._pair_sums(values), sign)

    def _gradient(self, x: np.ndarray, g: np.ndarray, g_tau: np.ndarray | None) -> np.ndarray:
        parts = [self._by_model(g, -1.0) + 2.0 * self.penalty * x[:, : self.m]]
        if self.k:
            parts.append(g @ self.features)
        if g_tau is not None:
            parts.append(g_tau.sum(axis=1, keepdims=True))
        return np.concatenate(parts, axis=1)

    def _assemble(
        self, h: np.ndarray, h_tau: np.ndarray | None, h_cross: np.ndarray | None, penalty: float
    ) -> np.ndarray:
        """Matrix Σ_rows h·s sᵀ for row vectors s = (e_i − e_j, features, 1 for τ)."""
        rounds, m, k = h.shape[0], self.m, self.k
        matrix = np.zeros((rounds, self.n_params, self.n_params))
        per_pair = self._pair_sums(h)
        matrix[:, self.pair_i, self.pair_j] = -per_pair
        matrix[:, self.pair_j, self.pair_i] = -per_pair
        diagonal = np.arange(m)
        matrix[:, diagonal, diagonal] = self._scatter(per_pair, 1.0) + 2.0 * penalty
        features = self.features
        for b in range(rounds if k else 0):
            weighted = h[b] * self._features_by_column  # (k, rows), contiguous
            for f in range(k):
                cross = self._by_model(weighted[f : f + 1], -1.0)[0]
                matrix[b, :m, m + f] = cross
                matrix[b, m + f, :m] = cross
            matrix[b, m : m + k, m : m + k] = weighted @ features
        if h_tau is not None:
            assert h_cross is not None  # a tie parameter has both
            cross = self._by_model(h_cross, -1.0)
            matrix[:, :m, -1] = cross
            matrix[:, -1, :m] = cross
            if k:
                feature_cross = h_cross @ features
                matrix[:, m : m + k, -1] = feature_cross
                matrix[:, -1, m : m + k] = feature_cross
            matrix[:, -1, -1] = h_tau.sum(axis=1)
        return matrix

    def identified(self, matrix: np.ndarray) -> np.ndarray:
        """Add ρ·uuᵀ to the θ block in place (u = 1/√m) and return the matrix.

        The common shift of all θ becomes stiff. Gradients carry no component along u, so the
        solution is the one with Σθ unchanged (= 0). A relative 1e-10 ridge keeps resampled
        rounds whose models fell apart into groups solvable.
        """
        m, every = self.m, np.arange(self.n_params)
        rho = np.maximum(matrix[..., every[:m], every[:m]].mean(axis=-1), 1e-12)
        matrix[..., :m, :m] += (rho / m)[..., None, None]
        diagonal = matrix[..., every, every]
        matrix[..., every, every] = diagonal + 1e-10 * np.maximum(np.abs(diagonal), rho[..., None])
        return matrix

    # ----------------------------------------------------------------- solver
    def newton(
        self,
        counts: np.ndarray,
        start: np.ndarray,
        *,
        tol: float = 1e-9,
        max_iter: int = 100,
        shared_inverse: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Minimise the objective for every round at once from a common start (P,).

        counts: (rounds, 3, rows) of (first model won, tie, second won). Damped Newton: steps
        are halved until the objective does not increase. With `shared_inverse` (the inverse
        of the identified Hessian at `start` on the full data) a round takes the cheap step
        −shared_inverse·gradient (simplified Newton) for as long as its steps shrink at least
        4-fold each time, then switches to its own Hessian.
        Returns the solutions (rounds, P) and which rounds converged (last step below tol).
        """
        stats_all = self.kernel.stats(self.weighted(counts))
        rounds = counts.shape[0]
        x = np.tile(np.asarray(start, dtype=np.float64), (rounds, 1))
        converged = np.zeros(rounds, dtype=bool)
        active = np.arange(rounds)
        stats = stats_all
        simplified = np.full(rounds, shared_inverse is not None)
        previous = np.full(rounds, np.inf)
        objective, rows = self._evaluate_shared(x[0], stats)
        for _iteration in range(max_iter):
            g, h, g_tau, h_tau, h_cross = rows
            gradient = self._gradient(x[active], g, g_tau)
            step = np.empty_like(gradient)
            if simplified.any():
                step[simplified] = -gradient[simplified] @ shared_inverse
            own = ~simplified
            if own.any():
                tie, cross = (None if r is None else r[own] for r in (h_tau, h_cross))
                hessian = self.identified(self._assemble(h[own], tie, cross, self.penalty))
                step[own] = -np.linalg.solve(hessian, gradient[own][..., None])[..., 0]
            size = np.max(np.abs(step), axis=1)
            simplified &= size <= 0.25 * previous
            previous = size
            # A step below tol is taken without a line search: it cannot move x by more.
            small = size < tol
            x[active[small]] += step[small]
            converged[active[small]] = True
            keep = ~small
            if not keep.any():
                break
            active, step, objective = active[keep], step[keep], objective[keep]
            simplified, previous = simplified[keep], previous[keep]
            stats = tuple(statistic[active] for statistic in stats_all)
            scale = np.ones(len(active))
            for _halving in range(60):
                trial = x[active] + scale[:, None] * step
                trial_objective, trial_rows = self._evaluate(trial, stats)
                worse = ~(trial_objective <= objective + 1e-12 * (1.0 + np.abs(objective)))
                if not worse.any():
                    break
                scale[worse] *= 0.5
            # Rounds whose objective still rises after 60 halvings stop here, unconverged.
            still = ~worse
            x[active[still]] = trial[still]
            if not still.any():
                break
            active, objective = active[still], trial_objective[still]
            simplified, previous = simplified[still], previous[still]
            stats = tuple(statistic[still] for statistic in stats)
            rows = tuple(None if r is None else r[still] for r in trial_rows)
        return x, converged

    # ----------------------------------------------------------------- curvature
    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Hessian of the objective at x on the data's counts (no identifiability term)."""
        stats = self.kernel.stats(self.weighted(self.data.counts.T[None]))
        _, (_, h, _, h_tau, h_cross) = self._evaluate(x[None], stats)
        return self._assemble(h, h_tau, h_cross, self.penalty)[0]

    def score_outer(self, x: np.ndarray) -> np.ndarray:
        """J = Σ over battles of the outer product of each battle's log-likelihood gradient."""
        eta = self.eta(x[None])[0]
        tau = None if self.kernel.n_tie == 0 else float(x[-1])
        d, e = self.kernel.outcome_scores(eta, tau)
        weights = self.data.weights
        # A battle of importance v adds v·score, so its outer product counts v².
        n = self.data.counts if self.data.squares is None else self.data.squares
        if weights is not None:
            n = n * (weights**2)[:, None]
        h = (n * d * d).sum(axis=1)[None]
        h_tau = h_cross = None
        if e is not None:
            h_tau = (n * e * e).sum(axis=1)[None]
            h_cross = (n * d * e).sum(axis=1)[None]
        return self._assemble(h, h_tau, h_cross, 0.0)[0]

    def expected(self, difference: np.ndarray, tau: float | None) -> np.ndarray:
        """Expected points (win 1, tie ½) of a model ahead by `difference` in θ."""
        return self.kernel.expected(difference, tau)


@dataclass(frozen=True, eq=False)
class BTFit:
    """A fitted Bradley–Terry model: θ (natural units, Σθ = 0), style β and tie parameter."""

    problem: Problem
    x: np.ndarray

    @property
    def theta(self) -> np.ndarray:
        return self.x[: self.problem.m]

    @property
    def beta(self) -> np.ndarray:
        return self.x[self.problem.m : self.problem.m + self.problem.k]

    @property
    def tie(self) -> float | None:
        return float(self.x[-1]) if self.problem.kernel.n_tie else None


def fit_bt(data: PairCounts, *, ties: str = "half", l2: float = 0.0, base: float = 10.0) -> BTFit:
    """Maximum-(penalised-)likelihood Bradley–Terry fit on aggregated counts.

    With style features, Newton starts from the fit without them (cheap: one row per
    pair), which saves about a third of the iterations on millions of rows. Raises
    FitError when the data do not identify finite ratings (see identify.py).
    """
    check_identified(data, penalized=l2 > 0)
    problem = Problem(data, ties=ties, l2=l2, base=base)
    start = problem.start()
    if problem.k:
        plain = fit_bt(_per_pair(data), ties=ties, l2=l2, base=base)
        start[: problem.m] = plain.theta
        start[problem.m + problem.k :] = plain.x[problem.m :]
    x, converged = problem.newton(data.counts.T[None], start)
    if not converged[0]:
        raise FitError(
            "the Bradley–Terry fit did not converge; the data may nearly separate the models "
            "(add a small --l2 penalty)"
        )
    return BTFit(problem=problem, x=x[0])


def _per_pair(data: PairCounts) -> PairCounts:
    """The same counts summed per model pair, without style features."""
    m = data.n_models
    pairs, row_pair = pair_index(data.i * m + data.j, m)
    counts = np.stack([np.bincount(row_pair, data.counts[:, c], pairs.size) for c in range(3)], 1)
    weights = None
    if data.weights is not None:  # inverse-propensity weights depend on the pair only
        weights = np.zeros(pairs.size)
        weights[row_pair] = data.weights
    return PairCounts(models=data.models, i=pairs // m, j=pairs % m, counts=counts, weights=weights)
