"""Benchmark of arena pair sampling: votes needed to reach a rating interval width.

Simulates votes from a Bradley–Terry model and draws pairs with `PairSampler`, uniform
(weighted mode, equal weights), uniform with the arena's newcomer boost (`Newcomers`: a
model whose interval is not yet within the target weighs `boost` times more, judged at
every check as the live leaderboard's refits would), or active (eq. 9, refitted every few
hundred votes). Every
100 votes the leaderboard's own statistic — `modelarena.rating.rate`, BT with ties ½ and
sandwich 95% intervals — gives the mean and largest interval width in Elo points, and the
vote count at which each first reaches the target is interpolated between checks. Two
scenarios: a cold start, and two new models joining an arena that already has votes (where
"newcomers" is the wider of the two new models' intervals).
Also times observe() on 100,000 battles among 50 models and pick().

    python bench/sampling.py [--seeds 20] [--target 50] [--refit 250] [--explore 0.1]
                             [--spread 400] [--boost 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from datetime import date

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from modelarena.arena.sampling import (  # noqa: E402
    Candidate,
    Newcomers,
    PairSampler,
    SamplingPolicy,
    Standing,
)
from modelarena.rating import Battles, RatingConfig, RatingError, rate  # noqa: E402

NATURAL = np.log(10.0) / 400.0  # log-odds per Elo point
TIE_RATE = 0.25
CHECK_EVERY = 100
MAX_VOTES = 60_000


@dataclass(frozen=True)
class Scenario:
    name: str
    elo: np.ndarray  # true ratings of every model, in Elo points
    history_models: int  # the first this many models share `history` uniform votes
    history: int
    statistics: tuple[str, ...]  # which widths must reach the target: mean, max, newcomers


def scenarios(spread: float) -> tuple[Scenario, ...]:
    """True ratings evenly spaced over `spread` Elo points; newcomers at 3/8 and -1/8 of it."""
    elo = np.linspace(-spread / 2.0, spread / 2.0, 20)
    return (
        Scenario("cold start: 20 models, no votes", elo, 0, 0, ("mean", "max")),
        Scenario(
            "2 new models join 20 with 10,000 votes",
            np.r_[elo, 0.375 * spread, -0.125 * spread],
            20,
            10_000,
            ("max", "newcomers"),
        ),
    )


class Arena:
    """Votes drawn from the true model, kept both as arrays (for `rate`) and as tuples."""

    def __init__(self, elo: np.ndarray, rng: np.random.Generator) -> None:
        self.names = tuple(f"model-{k:02d}" for k in range(len(elo)))
        self.strength = elo * NATURAL
        self.rng = rng
        self.a = np.empty(MAX_VOTES + 20_000, np.int64)
        self.b = np.empty_like(self.a)
        self.outcome = np.empty_like(self.a)
        self.history: list[tuple[str, str, str]] = []

    def vote(self, a: int, b: int) -> None:
        n = len(self.history)
        win = 1.0 / (1.0 + np.exp(self.strength[b] - self.strength[a]))
        outcome = 1 if self.rng.random() < TIE_RATE else (2 if self.rng.random() < win else 0)
        self.a[n], self.b[n], self.outcome[n] = a, b, outcome
        self.history.append((self.names[a], self.names[b], ("model_b", "tie", "model_a")[outcome]))

    def widths(self, newcomers: int) -> tuple[dict[str, float], dict[str, Standing]]:
        """Mean and largest 95% interval width (Elo) of the leaderboard's sandwich fit, the
        largest of the last `newcomers` models, and each model's standing."""
        n = len(self.history)
        unknown = {"mean": np.inf, "max": np.inf, "newcomers": np.inf}
        used = np.unique(np.r_[self.a[:n], self.b[:n]])
        if len(used) < len(self.names):
            return unknown, {}
        try:
            board = rate(
                Battles(self.names, self.a[:n], self.b[:n], self.outcome[:n]), RatingConfig()
            )
        except RatingError:  # some model still won (or lost) every vote
            return unknown, {}
        width = board.ci_upper - board.ci_lower
        standing = {
            name: Standing(int(board.num_battles[k]), float(width[k]) / 2)
            for k, name in enumerate(board.models)
        }
        new = [standing[name].half_width * 2 for name in self.names[len(self.names) - newcomers :]]
        return {
            "mean": float(width.mean()),
            "max": float(width.max()),
            "newcomers": max(new, default=np.inf),
        }, standing


def votes_to_target(
    scenario: Scenario,
    policy: SamplingPolicy,
    seed: int,
    target: float,
    refit: int,
    newcomers: Newcomers | None = None,
) -> dict[str, float]:
    """New votes until each statistic's width first reaches `target` (interpolated).
    With `newcomers`, each model's weight follows its standing at the last check."""
    rng = np.random.default_rng(seed)
    arena = Arena(scenario.elo, rng)
    for _ in range(scenario.history):
        a, b = rng.choice(scenario.history_models, 2, replace=False)
        arena.vote(int(a), int(b))
    sampler = PairSampler(policy, seed=seed)
    sampler.observe(arena.history)
    candidates = [Candidate(name) for name in arena.names]
    position = {name: k for k, name in enumerate(arena.names)}
    reached: dict[str, float] = {}
    previous = {key: np.inf for key in scenario.statistics}
    joined = len(arena.names) - scenario.history_models if scenario.history else 0
    standing = arena.widths(joined)[1]
    new = 0
    while len(reached) < len(scenario.statistics) and new < MAX_VOTES:
        if newcomers is not None:
            candidates = [Candidate(n, newcomers.factor(standing.get(n))) for n in arena.names]
        for _ in range(CHECK_EVERY):
            a, b = sampler.pick(candidates)
            arena.vote(position[a], position[b])
            new += 1
            if new % refit == 0:
                sampler.observe(arena.history)
        widths, standing = arena.widths(joined)
        for key in scenario.statistics:
            if key not in reached and widths[key] <= target:
                before = previous[key]
                share = (
                    1.0 if not np.isfinite(before) else (before - target) / (before - widths[key])
                )
                reached[key] = new - CHECK_EVERY * (1.0 - share)
        previous = widths
    return {key: reached.get(key, np.nan) for key in scenario.statistics}


def time_observe_and_pick(repeat: int = 5) -> dict[str, float]:
    rng = np.random.default_rng(0)
    m, n = 50, 100_000
    names = [f"model-{k:02d}" for k in range(m)]
    strength = rng.normal(0.0, 1.0, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    win = rng.random(n) < 1.0 / (1.0 + np.exp(strength[b] - strength[a]))
    tie = rng.random(n) < TIE_RATE
    battles = [
        (names[x], names[y], "tie" if t else ("model_a" if w else "model_b"))
        for x, y, w, t in zip(a.tolist(), b.tolist(), win.tolist(), tie.tolist(), strict=True)
    ]
    sampler = PairSampler(SamplingPolicy(mode="active"), seed=0)
    candidates = [Candidate(name) for name in names]
    observe, first = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        sampler.observe(battles)
        observe.append(time.perf_counter() - start)
        start = time.perf_counter()
        sampler.pick(candidates)
        first.append(time.perf_counter() - start)
    picks = 20_000
    start = time.perf_counter()
    for _ in range(picks):
        sampler.pick(candidates)
    return {
        "observe_s": statistics.median(observe),
        "first_pick_ms": statistics.median(first) * 1e3,
        "pick_us": (time.perf_counter() - start) / picks * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--target", type=float, default=50.0, help="95%% width, Elo points")
    parser.add_argument("--refit", type=int, default=250, help="votes between observe() calls")
    parser.add_argument(
        "--explore",
        type=float,
        default=SamplingPolicy().explore,
        help="active mode's weighted share",
    )
    parser.add_argument(
        "--spread", type=float, default=400.0, help="true ratings span this many Elo points"
    )
    parser.add_argument(
        "--boost", type=float, default=Newcomers().boost, help="the newcomer boost's factor"
    )
    args = parser.parse_args()
    # name: (policy, newcomer rule); the boost's target is the benchmark's own target.
    boost = Newcomers(boost=args.boost, interval=args.target / 2, votes=Newcomers().votes)
    policies = {
        "uniform": (SamplingPolicy(), None),
        "boosted": (SamplingPolicy(), boost),
        "active": (SamplingPolicy(mode="active", explore=args.explore), None),
    }
    print(
        f"# bench/sampling.py · {date.today()} · {platform.machine()}, {os.cpu_count()} cores"
        f" · Python {platform.python_version()}"
    )
    print(
        f"target: 95% interval width ≤ {args.target:g} Elo points (rate(): BT, ties ½, "
        f"sandwich); true ratings over {args.spread:g} Elo; ties {TIE_RATE:.0%}; "
        f"{args.seeds} seeds; boosted: weight × {args.boost:g} until a model's interval is "
        f"within ± {args.target / 2:g}; active (explore {args.explore:g}) "
        f"refits every {args.refit} votes; widths checked every {CHECK_EVERY} votes\n"
    )
    started = time.perf_counter()
    for scenario in scenarios(args.spread):
        results = {
            name: [
                votes_to_target(scenario, policy, seed, args.target, args.refit, rule)
                for seed in range(args.seeds)
            ]
            for name, (policy, rule) in policies.items()
        }
        print(f"## {scenario.name}")
        print(
            "| width | uniform votes | boosted votes | boosted / uniform "
            "| active votes | active / uniform |"
        )
        print("|---|---|---|---|---|---|")
        for key in scenario.statistics:
            uniform = [r[key] for r in results["uniform"]]
            cells = [f"{np.mean(uniform):,.0f} ± {np.std(uniform):,.0f}"]
            for other in ("boosted", "active"):
                values = [r[key] for r in results[other]]
                ratios = [x / y for x, y in zip(values, uniform, strict=True)]
                cells += [
                    f"{np.mean(values):,.0f} ± {np.std(values):,.0f}",
                    f"**{np.mean(values) / np.mean(uniform):.2f}** (per seed "
                    f"{min(ratios):.2f}–{max(ratios):.2f})",
                ]
            print(f"| {key} | " + " | ".join(cells) + " |")
        print()
    simulated = time.perf_counter() - started
    timing = time_observe_and_pick()
    print("## speed (50 models)")
    print(
        f"observe(100,000 battles): {timing['observe_s'] * 1e3:.0f} ms (median of 5) · "
        f"first pick after observe: {timing['first_pick_ms']:.1f} ms · "
        f"pick: {timing['pick_us']:.1f} µs"
    )
    print(f"\nsimulations took {simulated:.0f} s")


if __name__ == "__main__":
    main()
