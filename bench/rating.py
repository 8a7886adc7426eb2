"""Benchmark of the rating engine on 2,000,000 battles among 300 models (with style features).

Generates a FastChat-shaped Parquet file, then times the whole `modelarena leaderboard`
command (as a child process, start to printed output, with its peak memory) and the
engine's stages in this process, and prints them against the targets of issue 3 and the
reference figures measured on this machine for FastChat and arena-rank.

    python bench/rating.py [--battles 2000000] [--models 300] [--rounds 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

OUT = Path(__file__).resolve().parent / "out"
# Seconds, from issue 3 (targets) and its measurements on this machine (references).
TARGETS = {
    "cli_sandwich": 2.5,
    "fit_sandwich": 0.5,
    "bootstrap_1000": 15.0,
    "style_fit": 5.0,
    "online_elo": 2.0,
}
PEAK_MEMORY_TARGET_GB = 2.0
FASTCHAT = {"load": 1.3, "compute_bt": 2.3, "bootstrap_100": 15.5, "total": 19.0}
ARENA_RANK = {"load": 1.3, "dataset": 4.7, "fit_sandwich": 2.6, "total": 8.6}
TRUE_STYLE = {"length": 0.25, "headers": 0.08, "lists": 0.05, "bold": 0.06}


def generate(path: Path, n: int, m: int, seed: int = 0) -> None:
    """FastChat clean_battle-shaped battles with conv_metadata; outcomes follow a BT model
    with style effects, 15% ties and 5% 'tie (bothbad)'; all anonymous, so the default
    filters keep every battle."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.0, m)
    popularity = np.exp(rng.normal(0.0, 0.5, m))
    popularity /= popularity.sum()
    a = rng.choice(m, n, p=popularity)
    b = (a + 1 + rng.choice(m - 1, n)) % m
    tokens = np.round(np.exp(rng.normal(6.0, 0.7, (2, n)))).astype(np.int64)
    headers = rng.poisson(1.5, (2, n, 6)) * (rng.random((2, n, 1)) < 0.4)
    lists = rng.poisson(3.0, (2, n, 2))
    bold = rng.poisson(2.0, (2, n, 2))
    features = []
    for side_a, side_b in (
        (tokens[0], tokens[1]),
        (headers[0].sum(-1), headers[1].sum(-1)),
        (lists[0].sum(-1), lists[1].sum(-1)),
        (bold[0].sum(-1), bold[1].sum(-1)),
    ):
        ratio = (side_a - side_b) / (side_a + side_b + 1.0)
        features.append((ratio - ratio.mean()) / ratio.std())
    logit = strength[a] - strength[b] + np.array(list(TRUE_STYLE.values())) @ np.array(features)
    u = rng.random(n)
    winner = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit)), "model_a", "model_b")
    winner = np.where(u < 0.15, "tie", np.where(u < 0.20, "tie (bothbad)", winner))
    names = np.array([f"model-{i:03d}" for i in range(m)])

    def counts(values: np.ndarray, keys: list[str]) -> pa.StructArray:
        return pa.StructArray.from_arrays(
            [pa.array(values[..., i]) for i in range(len(keys))], keys
        )

    metadata_fields, metadata_names = [], []
    for side, index in (("a", 0), ("b", 1)):
        metadata_fields += [
            pa.array(tokens[index]),
            counts(headers[index], [f"h{level}" for level in range(1, 7)]),
            counts(lists[index], ["ordered", "unordered"]),
            counts(bold[index], ["**", "__"]),
        ]
        metadata_names += [
            f"sum_assistant_{side}_tokens",
            f"header_count_{side}",
            f"list_count_{side}",
            f"bold_count_{side}",
        ]
    table = pa.table(
        {
            "model_a": pa.array(names[a]).dictionary_encode(),
            "model_b": pa.array(names[b]).dictionary_encode(),
            "winner": pa.array(winner).dictionary_encode(),
            "judge": pa.array(rng.integers(0, n // 20, n)),
            "anony": pa.array(np.ones(n, dtype=bool)),  # all anonymous: every stage sees all n
            "tstamp": pa.array(1.7e9 + np.sort(rng.random(n)) * 3.0e7),
            "language": pa.array(np.where(rng.random(n) < 0.7, "English", "Chinese")),
            "conv_metadata": pa.StructArray.from_arrays(metadata_fields, metadata_names),
        }
    )
    pq.write_table(table, path)


def run_cli(path: Path, *options: str) -> tuple[float, float]:
    """Seconds from starting `modelarena leaderboard` to its exit, and its peak RSS in GB."""
    executable = shutil.which("modelarena", path=str(Path(sys.executable).parent))
    command = [executable or sys.executable, "leaderboard", str(path), *options]
    if executable is None:
        command = [sys.executable, "-m", "modelarena.cli", "leaderboard", str(path), *options]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout = child.stdout.read()
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0 or not stdout:
        raise SystemExit(f"{' '.join(command)} failed: {stderr.decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024**2


def timed(function, repeat: int) -> tuple[float, object]:
    """Median seconds of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=2_000_000)
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate, args.battles, args.models)
        return
    OUT.mkdir(exist_ok=True)
    path = OUT / f"rating_battles_{args.battles}_{args.models}_v2.parquet"
    if not path.exists():
        # In a child process: a child's peak RSS counts the memory of the process it was
        # forked from, so this process stays small until the commands have been timed.
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--generate", str(path), "--battles", str(args.battles),
             "--models", str(args.models)],
            check=True,
        )  # fmt: skip
        print(f"generated {path} in {time.perf_counter() - start:.1f} s")
    print(f"{args.battles:,} battles, {args.models} models, {path.stat().st_size / 1e6:.0f} MB")

    run_cli(path)  # warm the file cache and the interpreter's bytecode cache
    cli = [run_cli(path) for _ in range(args.repeat)]
    cli_seconds = statistics.median(s for s, _ in cli)
    boot_cli = run_cli(path, "--ci", "bootstrap", "--bootstrap-rounds", str(args.rounds))
    style_cli = run_cli(path, "--style-control")
    elo_cli = run_cli(path, "--method", "elo", "--ci", "none")
    peak = max(gb for _, gb in [*cli, boot_cli, style_cli, elo_cli])
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    import numpy as np

    from modelarena.rating.aggregate import aggregate
    from modelarena.rating.bt import fit_bt
    from modelarena.rating.data import Filters, select_battles
    from modelarena.rating.elo import online_elo
    from modelarena.rating.intervals import bootstrap, sandwich_covariance
    from modelarena.rating.read import read_battles

    battles = select_battles(read_battles(path), Filters()).battles
    fit_seconds, _ = timed(lambda: sandwich_covariance(fit_bt(aggregate(battles))), args.repeat)
    fit = fit_bt(aggregate(battles))
    boot_seconds, (_, unconverged) = timed(lambda: bootstrap(fit, args.rounds, 0), 1)
    styled = select_battles(read_battles(path), Filters(), style_control=True).battles

    def style_fit():
        result = fit_bt(aggregate(styled, style_control=True))
        return result, sandwich_covariance(result)

    style_seconds, (style_result, style_cov) = timed(style_fit, args.repeat)
    elo_seconds, _ = timed(lambda: online_elo(battles), args.repeat)

    rows = [
        ("whole CLI, BT + sandwich (process start to output)", "cli_sandwich", cli_seconds),
        ("BT fit + sandwich (aggregate, Newton, H⁻¹JH⁻¹)", "fit_sandwich", fit_seconds),
        (f"bootstrap, {args.rounds} rounds", "bootstrap_1000", boot_seconds),
        ("style-control fit + sandwich", "style_fit", style_seconds),
        ("online Elo", "online_elo", elo_seconds),
    ]
    machine = f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{date.today()} · {machine}")
    print(f"{'measure':55} {'seconds':>8} {'target':>7} {'target/ours':>11}")
    for label, key, seconds in rows:
        print(f"{label:55} {seconds:8.2f} {TARGETS[key]:7.1f} {TARGETS[key] / seconds:10.1f}×")
    label = "peak RSS of any leaderboard command (GB)"
    print(f"{label:55} {peak:8.2f} {PEAK_MEMORY_TARGET_GB:7.1f}")
    print(f"(this process held {parent_mb:.0f} MB while it started the commands)")
    print("\nwhole CLI runs: " + ", ".join(f"{s:.2f} s / {gb:.2f} GB" for s, gb in cli))
    for options, (seconds, gb) in (
        (f"--ci bootstrap --bootstrap-rounds {args.rounds}", boot_cli),
        ("--style-control", style_cli),
        ("--method elo --ci none", elo_cli),
    ):
        print(f"CLI {options}: {seconds:.2f} s, {gb:.2f} GB")
    print(f"bootstrap rounds that did not converge: {unconverged}")
    fastchat_round = FASTCHAT["bootstrap_100"] / 100
    print("\nagainst the references measured on this machine (issue 3):")
    print(
        f"  FastChat pipeline with 100 bootstrap rounds {FASTCHAT['total']:.1f} s; our CLI with "
        f"{args.rounds} rounds {boot_cli[0]:.2f} s ({FASTCHAT['total'] / boot_cli[0]:.1f}× faster, "
        f"{args.rounds / 100:g}× the rounds)"
    )
    ours_round = boot_seconds / args.rounds
    print(
        f"  per bootstrap round: FastChat {fastchat_round * 1000:.0f} ms, ours "
        f"{ours_round * 1000:.1f} ms ({fastchat_round / ours_round:.0f}×)"
    )
    print(
        f"  FastChat compute_bt (fit only) {FASTCHAT['compute_bt']:.1f} s; our fit + sandwich "
        f"{fit_seconds:.2f} s ({FASTCHAT['compute_bt'] / fit_seconds:.0f}×)"
    )
    print(
        f"  arena-rank load + dataset + fit + sandwich {ARENA_RANK['total']:.1f} s; our whole CLI "
        f"{cli_seconds:.2f} s ({ARENA_RANK['total'] / cli_seconds:.1f}×)"
    )
    print(
        f"  arena-rank fit + sandwich {ARENA_RANK['fit_sandwich']:.1f} s; ours {fit_seconds:.2f} s "
        f"({ARENA_RANK['fit_sandwich'] / fit_seconds:.0f}×)"
    )
    m = len(style_result.problem.data.models)
    se = np.sqrt(np.diag(style_cov)[m:])
    names = style_result.problem.data.feature_names
    fitted = ", ".join(
        f"{name} {value:.3f}±{1.96 * s:.3f}"
        for name, value, s in zip(names, style_result.beta, se, strict=True)
    )
    print(f"\nstyle coefficients (ties ½): {fitted}")
    print(
        "  generated among decisive battles: "
        + ", ".join(f"{k} {v}" for k, v in TRUE_STYLE.items())
        + "; the 20% ties, drawn regardless of style, shrink ½-tie estimates about 0.7×"
    )


if __name__ == "__main__":
    main()
