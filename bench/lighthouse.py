"""Benchmark: Lighthouse's scores for the arena (`/`) and the leaderboard (`/leaderboard`)
on desktop, driving Debian's Chromium.

It starts the server on a fresh SQLite database with six models on bench/gateway.py's
synthetic upstream (instant replies, not a model), casts --votes blind votes through the
arena's API so that the leaderboard has ratings, its table and its charts, then runs
Lighthouse (npm, pinned below; fetched by npx on the first run) --runs times per page,
each in a fresh browser profile (a first visit: the terms dialog is open on `/`, nothing
is cached). It prints each run's performance, accessibility, best-practices and SEO
scores, the median, the timings behind performance, and the audits that cost points.

    .venv/bin/python bench/lighthouse.py [--runs 3] [--votes 60] [--pages /,/leaderboard]
        [--keep DIR] [--url http://127.0.0.1:8000]

With --url it measures a server that is already running instead (nothing is started or
seeded). CHROME_PATH may name another Chromium (default /usr/bin/chromium); LIGHTHOUSE
another command (default `npx --yes lighthouse@12.8.2`; Lighthouse 13 needs Node 22).

Targets (issue 14), desktop: performance >= 90, accessibility >= 95, best practices >= 95.
Exits 1 when a page's median misses one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from processes import free_port, synthetic_backend, wait_ready

ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE = "npx --yes lighthouse@12.8.2"
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGETS = {"performance": 90, "accessibility": 95, "best-practices": 95}
METRICS = {
    "first-contentful-paint": "FCP",
    "largest-contentful-paint": "LCP",
    "total-blocking-time": "TBT",
    "cumulative-layout-shift": "CLS",
    "speed-index": "SI",
}
MODELS = [
    {
        "name": f"synth-{i}",
        "engine": "openai",
        "display_name": f"Synthetic {name}",
        "organization": "Synthetic Lab",
        "license": "Apache-2.0",
    }
    for i, name in enumerate(("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"), 1)
]
WINNERS = ("model_a", "model_b", "model_a", "tie", "model_b", "tie (bothbad)")


def seed_votes(base: str, votes: int) -> None:
    """Blind battles voted through the arena's API, as a page would, then a wait until
    the leaderboard has rated every model."""
    with httpx.Client(base_url=base, headers={"Origin": base}, timeout=60) as client:
        client.post("/api/terms").raise_for_status()
        for n in range(votes):
            started = client.post("/api/conversations", json={})
            started.raise_for_status()
            battle = started.json()
            with client.stream(
                "POST",
                f"/api/conversations/{battle['id']}/messages",
                json={"prompt": f"Question {n}: what is {n} + {n}?"},
            ) as stream:
                stream.read()
            client.post(
                f"/api/conversations/{battle['id']}/vote", json={"winner": WINNERS[n % 6]}
            ).raise_for_status()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            board = client.get("/api/leaderboard").json()
            if len(board.get("rows", [])) >= len(MODELS):
                return
            time.sleep(1)
        print("warning: the leaderboard did not rate every model within 2 minutes")


def lighthouse(url: str, out: Path) -> dict:
    """One Lighthouse run on `url`, desktop preset; its JSON report."""
    command = [
        *shlex.split(os.environ.get("LIGHTHOUSE", LIGHTHOUSE)),
        url,
        "--preset=desktop",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--output=json",
        f"--output-path={out}",
        "--quiet",
    ]
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    subprocess.run(command, env=env, check=True, timeout=300)
    return json.loads(out.read_text())


def scores(report: dict) -> dict[str, int]:
    return {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}


def costs(report: dict) -> dict[str, str]:
    """The audits that cost points, by "category: audit": the failed weighted ones, and
    performance's opportunities (with what Lighthouse estimates they would save)."""
    audits = report["audits"]
    found = {}
    for category in CATEGORIES:
        for ref in report["categories"][category]["auditRefs"]:
            audit = audits[ref["id"]]
            if audit.get("score") is None or audit["score"] >= 0.9:
                continue
            if ref["weight"] > 0 or audit.get("details", {}).get("type") == "opportunity":
                found[f"{category}: {ref['id']}"] = audit.get("displayValue", "failed")
    return found


def measure(base: str, pages: list[str], runs: int, keep: Path) -> bool:
    met = True
    for page in pages:
        reports = []
        for run in range(1, runs + 1):
            out = keep / f"lighthouse{page.replace('/', '_') or '_'}-{run}.json"
            reports.append(lighthouse(base + page, out))
            metrics = reports[-1]["audits"]
            timings = ", ".join(
                f"{name} {metrics[m]['displayValue']}" for m, name in METRICS.items()
            )
            print(f"{page} run {run}: {scores(reports[-1])} · {timings}", flush=True)
        median = {c: statistics.median(scores(r)[c] for r in reports) for c in CATEGORIES}
        print(f"{page} median of {runs}: " + ", ".join(f"{c} {v:g}" for c, v in median.items()))
        each_run = [costs(r) for r in reports]
        for audit in dict.fromkeys(a for run in each_run for a in run):
            shown = " | ".join(run.get(audit, "passed") for run in each_run)
            print(f"  costs points: {audit} ({shown})")
        missed = [c for c, target in TARGETS.items() if median[c] < target]
        if missed:
            met = False
            print(f"  below target: {', '.join(missed)}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--votes", type=int, default=60)
    parser.add_argument("--pages", default="/,/leaderboard")
    parser.add_argument("--keep", type=Path, help="folder for the JSON reports")
    parser.add_argument("--url", help="measure this running server instead")
    args = parser.parse_args()
    pages = args.pages.split(",")
    keep = args.keep or Path(tempfile.mkdtemp(prefix="lighthouse-"))
    keep.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} · Lighthouse "
        f"{os.environ.get('LIGHTHOUSE', LIGHTHOUSE)} · reports in {keep}",
        flush=True,
    )
    if args.url:
        return 0 if measure(args.url.rstrip("/"), pages, args.runs, keep) else 1
    backend_port, port = free_port(), free_port()
    backend = synthetic_backend(backend_port)
    processes = [backend]
    with tempfile.TemporaryDirectory(prefix="lighthouse-server-") as home:
        try:
            wait_ready(f"http://127.0.0.1:{backend_port}/v1/models", backend)
            config = Path(home) / "config.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "include_default_models": False,
                        "models": [
                            {**m, "base_url": f"http://127.0.0.1:{backend_port}/v1"} for m in MODELS
                        ],
                        # Seeding votes quickly from one visitor: no per-minute limits.
                        "arena": {
                            "leaderboard_every_votes": 1,
                            "leaderboard_min_gap_s": 0,
                            "visitor_rpm": 0,
                            "ip_rpm": 0,
                        },
                    }
                )
            )
            base = f"http://127.0.0.1:{port}"
            server = subprocess.Popen(
                [sys.executable, "-m", "modelarena.cli", "serve", "--port", str(port),
                 "--config", str(config)],
                env={**os.environ, "MODELARENA_DATA_DIR": str(Path(home) / "data")},
                cwd=ROOT,
                stdout=(Path(home) / "server.log").open("w"),
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            processes.append(server)
            wait_ready(base + "/health", server)
            seed_votes(base, args.votes)
            print(f"server: {len(MODELS)} synthetic models, {args.votes} votes", flush=True)
            met = measure(base, pages, args.runs, keep)
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=30)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
