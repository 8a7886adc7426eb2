"""Uncertainty of Bradley–Terry fits: sandwich covariance, multinomial bootstrap, intervals.

Also FastChat's rank upper bound and simultaneous (max-statistic) intervals.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from modelarena.rating.aggregate import Units
from modelarena.rating.bt import BTFit
from modelarena.rating.identify import ResampleLimits

# Bootstrap rounds are solved in chunks whose count arrays stay near this many cells.
_CHUNK_CELLS = 1 << 17
_SIMULTANEOUS_DRAWS = 10_000
# Cells sharing one count are resampled as a histogram when there are at least this many.
_HISTOGRAM_CELLS = 256
# A Newton step below this (natural units, ~0.002 rating points) leaves an error ~1e-10.
_BOOTSTRAP_TOL = 1e-5


def sandwich_covariance(fit: BTFit) -> np.ndarray:
    """Robust covariance H⁻¹ J H⁻¹ of all parameters (θ constrained to Σθ = 0).

    H is the Hessian of the penalised negative log-likelihood, J the sum over battles of the
    outer products of their scores; both are computed from the aggregated counts.
    """
    problem = fit.problem
    inverse = np.linalg.inv(problem.identified(problem.hessian(fit.x)))
    return inverse @ problem.score_outer(fit.x) @ inverse


class MultinomialSampler:
    """Exact resamples of integer cell counts: Multinomial(N, counts / N) each.

    Independent Poisson counts with total mean N − r (r ≈ 5√N) are, given their sum
    s ≤ N, Multinomial(s, p); topping up with N − s categorical draws (inverse CDF on
    sorted uniforms) gives Multinomial(N, p). Draws with s > N (probability ~1e-7) are
    redrawn. The Poisson counts of the K cells that share one original count are iid, so
    their values are drawn as a histogram — Multinomial(K, Poisson pmf) — and shuffled
    over the cells, several times faster than K Poisson draws.
    """

    def __init__(self, counts: np.ndarray) -> None:
        self.n = int(round(counts.sum()))
        self.p = counts / counts.sum()
        reserve = min(self.n, int(5.0 * math.sqrt(self.n)) + 10)
        rate = (self.n - reserve) / self.n
        self.cumulative = np.cumsum(self.p)
        order = np.argsort(counts, kind="stable")
        ordered = counts[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], ordered.size]
        self.groups = []
        rest = []
        for start, end in zip(starts, ends, strict=True):
            if end - start >= _HISTOGRAM_CELLS:
                self.groups.append((order[start:end], *_poisson_pmf(ordered[start] * rate)))
            else:
                rest.append(order[start:end])
        self.rest = np.concatenate(rest) if rest else np.zeros(0, dtype=np.int64)
        self.rest_mean = counts[self.rest] * rate

    def draw(self, rounds: int, rng: np.random.Generator) -> np.ndarray:
        """An array (rounds, cells) of resampled counts."""
        draws = self._poisson(rounds, rng)
        while True:
            over = np.flatnonzero(draws.sum(axis=1) > self.n)
            if over.size == 0:
                break
            draws[over] = self._poisson(over.size, rng)
        missing = self.n - draws.sum(axis=1)
        owner = np.repeat(np.arange(rounds), missing)
        # Sorting each round's uniforms makes the CDF search walk memory in order.
        uniforms = np.sort(rng.random(owner.size) + owner) - owner
        cells = np.searchsorted(self.cumulative, uniforms * self.cumulative[-1], "right")
        np.add.at(draws, (owner, np.minimum(cells, self.p.size - 1)), 1)
        return draws

    def _poisson(self, rounds: int, rng: np.random.Generator) -> np.ndarray:
        draws = np.empty((rounds, self.p.size), dtype=np.int64)
        if self.rest.size:
            draws[:, self.rest] = rng.poisson(self.rest_mean, size=(rounds, self.rest.size))
        for cells, support, pmf in self.groups:
            histogram = rng.multinomial(cells.size, pmf, size=rounds)
            values = np.repeat(np.tile(support, rounds), histogram.ravel()).reshape(rounds, -1)
            draws[:, cells] = rng.permuted(values, axis=1)
        return draws


def _poisson_pmf(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Support and probabilities of Poisson(mean), cut where the tail is below 1e-30."""
    if mean == 0.0:
        return np.zeros(1, dtype=np.int64), np.ones(1)
    top = int(math.ceil(mean + 15.0 * math.sqrt(mean) + 30.0))
    support = np.arange(top + 1)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(support[1:]))])
    pmf = np.exp(support * math.log(mean) - mean - log_factorial)
    return support, pmf / pmf.sum()


def bootstrap(
    fit: BTFit,
    rounds: int,
    seed: int,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Refit on `rounds` multinomial resamples of the aggregated counts, warm-started.

    Returns the parameter samples (rounds, P) and how many rounds left some model without a
    finite rating (its θ is ±inf or NaN there; see _Limits and _pin) or did not converge.
    Rounds run in chunks on threads; chunk c always uses child seed c,
    so the result depends on `seed` only, never on timing, and no process is started.
    Battles with importance weights are resampled one by one, each carrying its importance.
    """
    problem = fit.problem
    flat, units = problem.data.counts.T.ravel(), problem.data.units
    resample = _resampler(flat, units)
    drawn = flat.size if units is None else max(flat.size, units.cell.size)
    chunk = int(np.clip(_CHUNK_CELLS // drawn, 1, 256))
    shared_inverse = np.linalg.inv(problem.identified(problem.hessian(fit.x)))
    sizes = [min(chunk, rounds - start) for start in range(0, rounds, chunk)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    limits_of = None if problem.penalty else _Limits(fit)

    def run(index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seeds[index])
        counts = resample(sizes[index], rng).reshape(sizes[index], 3, -1)
        limits = None if limits_of is None else limits_of(counts)
        x, converged = problem.newton(
            counts, fit.x, tol=_BOOTSTRAP_TOL, shared_inverse=shared_inverse
        )
        if limits is None:
            return x, ~converged
        _pin(x, limits, fit.theta)
        return x, ~converged | np.any(limits != 0.0, axis=1)

    samples = np.empty((rounds, fit.x.size))
    unconverged = 0
    offsets = np.cumsum([0, *sizes])
    threads = max(1, min(workers or os.cpu_count() or 1, len(sizes)))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = {pool.submit(run, index): index for index in range(len(sizes))}
        done = 0
        for future in as_completed(futures):
            index = futures[future]
            x, failed = future.result()
            samples[offsets[index] : offsets[index + 1]] = x
            unconverged += int(np.count_nonzero(failed))
            done += sizes[index]
            if progress is not None:
                progress(done)
    return samples, unconverged


def _resampler(
    flat: np.ndarray, units: Units | None
) -> Callable[[int, np.random.Generator], np.ndarray]:
    """A function drawing resamples (rounds, cells) of the flattened counts `flat`: of its
    cells' whole counts, or of the battles `units` stand for."""
    if units is None:
        cells = np.flatnonzero(flat > 0)
        sampler = MultinomialSampler(flat[cells])

        def draw_cells(rounds: int, rng: np.random.Generator) -> np.ndarray:
            resampled = np.zeros((rounds, flat.size))
            resampled[:, cells] = sampler.draw(rounds, rng)
            return resampled

        return draw_cells
    battles = MultinomialSampler(units.count)

    def draw_battles(rounds: int, rng: np.random.Generator) -> np.ndarray:
        values = battles.draw(rounds, rng) * units.value
        target = (np.arange(rounds) * flat.size)[:, None] + units.cell
        totals = np.bincount(target.ravel(), values.ravel(), rounds * flat.size)
        return totals.reshape(rounds, flat.size)

    return draw_battles


class _Limits:
    """Per round, 0 for models with a finite rating, ±inf or NaN for the others.

    In a round that leaves some model without one (see ResampleLimits), the battles of
    those models are removed from the round's counts in place, so the round is solved on
    the main group's battles alone.
    """

    def __init__(self, fit: BTFit) -> None:
        problem = self.problem = fit.problem
        self.search = ResampleLimits(problem.m, problem.pair_i, problem.pair_j)
        full = problem.pair_counts(problem.data.counts.T[None])[0]
        self.low_scored, self.high_scored = full[0] + full[1] > 0, full[2] + full[1] > 0

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        problem = self.problem
        per_pair = problem.pair_counts(counts)
        low_scored = per_pair[:, 0] + per_pair[:, 1] > 0
        high_scored = per_pair[:, 2] + per_pair[:, 1] > 0
        # A resample has no win or tie the data lack, so a round that kept all of the data's
        # (strongly connected) edges is strongly connected too; only the others are searched.
        lost = np.any(low_scored != self.low_scored, axis=1) | np.any(
            high_scored != self.high_scored, axis=1
        )
        limits = np.zeros((len(counts), problem.m))
        if lost.any():
            limits[lost] = self.search(
                low_scored[lost], high_scored[lost], per_pair[lost].sum(axis=1)
            )
        for r in np.flatnonzero(np.any(limits != 0.0, axis=1)):
            main = limits[r] == 0.0
            counts[r][:, ~(main[problem.i] & main[problem.j])] = 0.0
        return limits


def _pin(x: np.ndarray, limits: np.ndarray, theta: np.ndarray) -> None:
    """Centre each round's main group on its full-data ratings; others take their limits.

    A round normally keeps Σθ = 0 over all models; where some models have no finite rating,
    the constraint is kept over the main group instead (its mean shift from the full-data
    estimate is zero), so an unbounded model does not drag the others along.
    """
    m = theta.size
    for r in np.flatnonzero(np.any(limits != 0.0, axis=1)):
        main = limits[r] == 0.0
        shift = np.mean(x[r, :m][main] - theta[main])
        x[r, :m] = np.where(main, x[r, :m] - shift, limits[r])


@dataclass(frozen=True, eq=False)
class Intervals:
    """Per-quantity intervals at one level, and simultaneous ones covering all at once."""

    lower: np.ndarray
    upper: np.ndarray
    simultaneous_lower: np.ndarray
    simultaneous_upper: np.ndarray


def normal_intervals(
    point: np.ndarray, covariance: np.ndarray, level: float, seed: int
) -> Intervals:
    """Wald intervals point ± z·se, and max-|z| simultaneous intervals by simulation.

    The simultaneous multiplier is the `level` quantile of max_m |Z_m|/se_m for Z drawn from
    N(0, covariance); quantities with zero variance (an anchor) are left out of the max.
    """
    se = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    varying = se > 1e-12 * (1.0 + np.abs(point))
    multiplier = z
    if np.count_nonzero(varying) > 1:
        sub = covariance[np.ix_(varying, varying)]
        values, vectors = np.linalg.eigh(sub)
        root = vectors * np.sqrt(np.maximum(values, 0.0))
        draws = np.random.default_rng(seed).standard_normal((_SIMULTANEOUS_DRAWS, len(values)))
        ratio = np.abs(draws @ root.T) / se[varying]
        multiplier = float(np.quantile(ratio.max(axis=1), level))
    return Intervals(
        lower=point - z * se,
        upper=point + z * se,
        simultaneous_lower=point - multiplier * se,
        simultaneous_upper=point + multiplier * se,
    )


def percentile_intervals(point: np.ndarray, samples: np.ndarray, level: float) -> Intervals:
    """Bootstrap percentile intervals, and max-statistic simultaneous intervals.

    The simultaneous band is point ± c·sd with c the `level` quantile over rounds of
    max_m |sample_m − point_m| / sd_m (sd: bootstrap standard deviations). Samples may hold
    ±inf (no finite estimate that round) or NaN (none either way, counted as −inf for the
    lower bound and +inf for the upper). A quantity with such rounds is left out of c, and
    its simultaneous band is unbounded on each side where it has them.
    """
    tail = (1.0 - level) / 2.0
    finite = np.isfinite(samples)
    clean = finite.all(axis=0)
    lower, upper = np.quantile(np.where(finite, samples, 0.0), [tail, 1.0 - tail], axis=0)
    sd = samples.std(axis=0) if clean.all() else np.where(clean, 0.0, np.nan)
    if not clean.all():
        sd[clean] = samples[:, clean].std(axis=0)
        rough, kept = samples[:, ~clean], finite[:, ~clean]
        lower[~clean] = _quantile(np.where(np.isnan(rough), -np.inf, rough), tail)
        upper[~clean] = _quantile(np.where(np.isnan(rough), np.inf, rough), 1.0 - tail)
        counted = kept.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(kept, rough, 0.0).sum(axis=0) / counted
            sd[~clean] = np.sqrt((np.where(kept, rough - mean, 0.0) ** 2).sum(axis=0) / counted)
    varying = clean & (sd > 1e-12 * (1.0 + np.abs(point)))
    multiplier = NormalDist().inv_cdf(0.5 + level / 2.0)
    if varying.any():
        deviation = np.abs(samples[:, varying] - point[varying]) / sd[varying]
        multiplier = float(np.quantile(deviation.max(axis=1), level))
    nowhere = np.isnan(sd)  # not one finite round
    below = np.any(np.isneginf(samples) | np.isnan(samples), axis=0) | nowhere
    above = np.any(np.isposinf(samples) | np.isnan(samples), axis=0) | nowhere
    return Intervals(
        lower=lower,
        upper=upper,
        simultaneous_lower=np.where(below, -np.inf, point - multiplier * sd),
        simultaneous_upper=np.where(above, np.inf, point + multiplier * sd),
    )


def _quantile(values: np.ndarray, q: float) -> np.ndarray:
    """Column quantiles with linear interpolation (numpy's default) over values holding ±inf.

    Between an infinite and a finite neighbour the infinite one wins, so a bound is unbounded
    as soon as the rounds beyond it are.
    """
    ordered = np.sort(values, axis=0)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    fraction = position - low
    a, b = ordered[low], ordered[min(low + 1, len(ordered) - 1)]
    with np.errstate(invalid="ignore"):
        result = a + (b - a) * fraction
    if fraction == 0.0:
        return a
    result = np.where(np.isneginf(a) | (a == b), a, result)
    return np.where(np.isposinf(b), b, result)


def rank_upper_bound(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """FastChat's rank: 1 + the number of models whose lower bound exceeds this upper bound."""
    return 1 + np.count_nonzero(lower[None, :] > upper[:, None], axis=1)
