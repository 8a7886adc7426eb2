"""Arena pair sampling: which two models in service meet in the next battle.

Weighted mode: P(pair) ∝ w_a·w_b within battle targets; active mode also weighs each pair by
eq. 9 of Chiang et al. (2024) on a Bradley–Terry fit of the votes (docs/arena-sampling.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from modelarena.rating import PairCounts, fit_bt
from modelarena.vocabulary import A_SCORE

MODES = ("weighted", "active")
# Prior standard deviation of a model's strength in log-odds units (≈ 174 Elo points): the
# only information about a model without votes, and a bound on it when it won every vote.
PRIOR_SD = 1.0


class NoPairError(ValueError):
    """No two models in service may battle (too few qualify, or battle targets exclude all)."""


@dataclass(frozen=True)
class Candidate:
    """A model in service that may battle: its relative sampling weight, image support."""

    name: str
    weight: float = 1.0
    vision: bool = False

    def __post_init__(self) -> None:
        if not (
            isinstance(self.weight, int | float) and math.isfinite(self.weight) and self.weight > 0
        ):
            raise ValueError(
                f"model {self.name!r}: sampling weight must be a positive number, "
                f"not {self.weight!r}"
            )


@dataclass(frozen=True)
class Standing:
    """A model's place in the ratings as far as sampling cares: its votes and the
    half-width of its rating's 95% interval (None: not rated yet)."""

    votes: int
    half_width: float | None


@dataclass(frozen=True)
class Newcomers:
    """Extra weight for a model whose rating has not settled, so that a new entry gets
    the votes it needs fast: `boost` multiplies its weight until its interval is within
    ± `interval` points or it has `votes` votes (0: no boost for anyone)."""

    boost: float = 4.0
    interval: float = 25.0
    votes: int = 1000

    def settled(self, standing: Standing | None) -> bool:
        if standing is None:
            return self.votes == 0
        narrow = standing.half_width is not None and standing.half_width <= self.interval
        return narrow or standing.votes >= self.votes

    def factor(self, standing: Standing | None) -> float:
        return 1.0 if self.settled(standing) else self.boost


@dataclass(frozen=True)
class SamplingPolicy:
    """How pairs are drawn: the mode, weight multipliers, and battle targets.

    `boost[name]` multiplies that model's weight. A model in `targets` battles only the
    listed opponents that are among the candidates (anyone, if none of them is). In active
    mode a share `explore` of the probability is spread as in weighted mode, so every
    allowed pair keeps a chance and no single pair takes every battle.
    """

    mode: str = "weighted"
    boost: Mapping[str, float] = field(default_factory=dict)
    targets: Mapping[str, Sequence[str]] = field(default_factory=dict)
    explore: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"sampling mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        bad = sorted(
            name
            for name, factor in self.boost.items()
            if not (isinstance(factor, int | float) and math.isfinite(factor) and factor > 0)
        )
        if bad:
            raise ValueError(f"boost factors must be positive numbers; check {', '.join(bad)}")
        for name, opponents in self.targets.items():
            if isinstance(opponents, str):
                raise ValueError(
                    f"targets of {name!r} must be a list of model names, not the string "
                    f"{opponents!r}"
                )
        if not 0.0 <= self.explore <= 1.0:
            raise ValueError(f"explore must be between 0 and 1, not {self.explore!r}")
        object.__setattr__(self, "boost", MappingProxyType(dict(self.boost)))
        object.__setattr__(
            self,
            "targets",
            MappingProxyType({name: tuple(opponents) for name, opponents in self.targets.items()}),
        )


@dataclass(frozen=True, eq=False)
class RatingState:
    """The vote history as active sampling sees it: votes per pair and a Bradley–Terry fit.

    Strengths are in log-odds units, fitted with a N(0, PRIOR_SD²) prior on each; their
    `covariance` is the inverse of the penalised Hessian. A model absent from `index` has
    no votes, strength 0 and variance PRIOR_SD², independent of the others.
    """

    index: Mapping[str, int]
    votes: np.ndarray
    strength: np.ndarray
    covariance: np.ndarray

    @classmethod
    def fit(cls, battles: Sequence[tuple[str, str, str]]) -> RatingState:
        """Fit (model_a, model_b, winner) votes with the rating engine's penalised
        Bradley–Terry fit (the prior is its L2 penalty); self-battles carry nothing and
        are skipped."""
        index: dict[str, int] = {}
        try:
            rows = [
                (index.setdefault(a, len(index)), index.setdefault(b, len(index)), A_SCORE[w])
                for a, b, w in battles
                if a != b
            ]
        except KeyError as exc:
            raise ValueError(
                f"unknown winner {exc.args[0]!r}; expected one of {', '.join(A_SCORE)}"
            ) from None
        m = len(index)
        if m == 0:
            return cls(MappingProxyType(index), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0)))
        table = np.array(rows, dtype=float).reshape(-1, 3)
        a, b, score = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]
        low, high = np.minimum(a, b), np.maximum(a, b)
        key = low * m + high
        first_score = np.where(a == low, score, 1.0 - score)  # the lower index's points
        counts = np.stack(
            [np.bincount(key, first_score == outcome, m * m) for outcome in (1.0, 0.5, 0.0)], axis=1
        )
        pairs = np.flatnonzero(counts.sum(axis=1))
        i, j = np.divmod(pairs, m)
        data = PairCounts(models=tuple(index), i=i, j=j, counts=counts[pairs])
        # The N(0, PRIOR_SD²) prior is the penalty Σθ²/(2·PRIOR_SD²) in natural log-odds.
        bt = fit_bt(data, ties="half", l2=0.5 / PRIOR_SD**2, base=math.e)
        votes = counts.sum(axis=1).reshape(m, m)
        covariance = np.linalg.inv(bt.problem.hessian(bt.x))
        return cls(MappingProxyType(index), votes + votes.T, bt.theta, covariance)

    def pair_gain(self, names: Sequence[str]) -> np.ndarray:
        """Eq. 9 for every pair of `names`: sqrt(Σ/(n + 1)) − sqrt(Σ/(n + 2)).

        n is the pair's votes so far; the one added pseudo-vote keeps a pair without votes
        finite. Σ = (n + 1)·Var(ŝ) is the variance of one vote that the fit's uncertainty
        implies, where ŝ = σ(θ̂_a − θ̂_b) is the pair's expected score and, by the delta
        method, Var(ŝ) = (ŝ(1 − ŝ))²·Var(θ̂_a − θ̂_b).
        """
        position = np.array([self.index.get(name, -1) for name in names])
        known = np.flatnonzero(position >= 0)
        inside = np.ix_(known, known)
        outside = np.ix_(position[known], position[known])
        strength = np.zeros(len(names))
        strength[known] = self.strength[position[known]]
        votes = np.zeros((len(names), len(names)))
        votes[inside] = self.votes[outside]
        covariance = np.eye(len(names)) * PRIOR_SD**2
        covariance[inside] = self.covariance[outside]
        variance = np.diag(covariance)
        difference = np.maximum(variance[:, None] + variance[None, :] - 2.0 * covariance, 0.0)
        score = 1.0 / (1.0 + np.exp(strength[None, :] - strength[:, None]))
        sigma = (votes + 1.0) * (score * (1.0 - score)) ** 2 * difference
        return np.sqrt(sigma / (votes + 1.0)) - np.sqrt(sigma / (votes + 2.0))


class PairSampler:
    """Draws battle pairs under a SamplingPolicy; active mode learns from observe().

    The distribution is computed once per candidate list and vote history: pick() keeps it
    for the last (candidates, vision, history) it saw.
    """

    def __init__(self, policy: SamplingPolicy, seed: int | None = None) -> None:
        self.policy = policy
        self._rng = np.random.default_rng(seed)
        self._state: RatingState | None = None
        self._cache: tuple[tuple, tuple[tuple[str, str], ...], np.ndarray] | None = None

    def observe(self, battles: Sequence[tuple[str, str, str]]) -> None:
        """Replace the vote history that active sampling uses with `battles`.

        Each is (model_a, model_b, winner), winner one of model_a, model_b, tie,
        tie (bothbad). Weighted mode ignores the history.
        """
        if self.policy.mode == "active":
            self._state = RatingState.fit(battles)

    def probabilities(
        self, candidates: Sequence[Candidate], *, vision: bool = False
    ) -> dict[tuple[str, str], float]:
        """Each allowed unordered pair (in candidate order) and its chance of being picked."""
        pairs, cumulative = self._distribution(candidates, vision)
        return dict(zip(pairs, np.diff(cumulative, prepend=0.0).tolist(), strict=True))

    def pick(self, candidates: Sequence[Candidate], *, vision: bool = False) -> tuple[str, str]:
        """Two distinct model names, in random order (which is A and which is B).

        `candidates` are the models in service; with `vision` only those that accept images
        qualify. Raises NoPairError when no two qualifying models may battle.
        """
        pairs, cumulative = self._distribution(candidates, vision)
        drawn = int(np.searchsorted(cumulative, self._rng.random() * cumulative[-1], side="right"))
        first, second = pairs[min(drawn, len(pairs) - 1)]
        return (first, second) if self._rng.random() < 0.5 else (second, first)

    def _distribution(
        self, candidates: Sequence[Candidate], vision: bool
    ) -> tuple[tuple[tuple[str, str], ...], np.ndarray]:
        state = self._state
        key = (tuple(candidates), vision, state)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2]
        every = [c.name for c in candidates]
        if len(set(every)) != len(every):
            repeated = sorted({name for name in every if every.count(name) > 1})
            raise ValueError(f"candidates name a model more than once: {', '.join(repeated)}")
        qualified = [c for c in candidates if c.vision or not vision]
        names = [c.name for c in qualified]
        if len(names) < 2:
            kind = "models that accept images" if vision else "models"
            raise NoPairError(
                f"a battle needs two {kind} in service; there {'is' if len(names) == 1 else 'are'}"
                f" {len(names)}{': ' + names[0] if names else ''}"
            )
        weight = np.array([c.weight * self.policy.boost.get(c.name, 1.0) for c in qualified])
        chance = np.triu(np.outer(weight, weight) * self._allowed(names), 1)
        if not chance.any():
            raise NoPairError(
                "battle targets allow no pair among the models in service "
                f"({', '.join(names)}); check arena targets"
            )
        chance /= chance.sum()
        if self.policy.mode == "active":
            active = chance * (state or RatingState.fit(())).pair_gain(names)
            chance = self.policy.explore * chance + (1.0 - self.policy.explore) * (
                active / active.sum()
            )
        i, j = np.nonzero(chance)
        pairs = tuple((names[a], names[b]) for a, b in zip(i.tolist(), j.tolist(), strict=True))
        cumulative = np.cumsum(chance[i, j])
        self._cache = (key, pairs, cumulative)
        return pairs, cumulative

    def _allowed(self, names: list[str]) -> np.ndarray:
        """allowed[a, b]: both models' targets (those in service) admit the other."""
        present = set(names)
        allowed = np.ones((len(names), len(names)), dtype=bool)
        for a, name in enumerate(names):
            opponents = set(self.policy.targets.get(name, ())) & present
            if opponents:
                row = np.array([other in opponents for other in names])
                allowed[a, :] &= row
                allowed[:, a] &= row
        np.fill_diagonal(allowed, False)
        return allowed
