"""Benchmark: the arena under load, with its votes checked against the database, on
SQLite and on PostgreSQL, then again after `kill -9` of the server in the middle of a run.

Each simulated visitor is one HTTP client with its own cookie jar: it accepts the terms
once, then runs battles through the arena's JSON/SSE API exactly as the pages do — start a
battle, send a prompt and read both streamed answers to the end, pause as a reader would,
vote. The models are `engine: openai` entries pointing at a synthetic OpenAI-compatible
upstream (`gateway:synthetic_app` from bench/ under uvicorn: a fixed instant reply, not a
model), so only the arena's own work is measured. Rate limits are off (every visitor is
127.0.0.1); the live leaderboard keeps its defaults (a refit after each vote, at most
one every 2 s, fits at most a quarter of a core; the figures of 2026-11-22 in
docs/benchmarks.md were measured with a refit after 10 votes, at most one every 5 s).

Per database:

1. steady load: the visitors arrive spread over 1.5 x --think seconds, read each pair of
   answers for 0.5-1.5 x --think seconds before voting and wait half that before the next
   battle; votes/s, vote latency p50/p99/max (one vote request's round trip), battle round
   trip (start + streamed answers), server CPU; then the votes table must hold exactly the
   acknowledged votes (HTTP 200), with their winners and visitors;
2. crash: as many new visitors run without pauses (votes/s at saturation), and the server
   gets SIGKILL once --kill-at-votes votes are in and votes are in flight; every
   acknowledged vote must be in the database, nothing that was not sent, no vote that was
   refused, no duplicate; votes that got no response are "unknown" and may or may not be
   there (reported);
3. restart on the same database: it must serve, the database must still be as after 2,
   the crash run's visitors (same cookies, terms accepted before the crash) run one more
   paced battle each, and after a clean stop the final check covers every vote of the run.

    .venv/bin/python bench/arena_load.py [--visitors 200] [--battles 3] [--think 8]
        [--db sqlite,postgres] [--kill-at-votes 400]

PostgreSQL: a throwaway database is created on $MODELARENA_TEST_POSTGRES (default
postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped at the end. MODELARENA_*
variables reach the server (e.g. MODELARENA_ARENA__LEADERBOARD_EVERY_VOTES).

Target (issue): vote latency p99 <= 50 ms. Exits 1 when an integrity check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import orjson
import yaml
from processes import free_port
from scratch_postgres import postgres_database
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_S = 0.050
SERVER = [sys.executable, "-m", "modelarena.cli"]  # how the server starts (a profiler may wrap it)
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
MODELS = [
    {
        "name": f"synth-{i}",
        "engine": "openai",
        "display_name": f"Synthetic {name}",
        "organization": "Synthetic Lab",
        "context_length": 4096,
    }
    for i, name in enumerate(("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"), 1)
]
PROMPTS = (
    "Write a haiku about databases.",
    "What is 17 * 23?",
    "Explain write-ahead logging in two sentences.",
    "Name three sorting algorithms.",
)


# -- processes --------------------------------------------------------------------------


def wait_ready(
    url: str, process: subprocess.Popen, log: Path | None = None, timeout: float = 90
) -> float:
    """Seconds until `url` answers below 500."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(
                f"{url}: process exited early\n" + (log.read_text()[-4000:] if log else "")
            )
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not start in {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """`modelarena serve` as a child process on a fixed port with a log file."""

    def __init__(self, config: Path, port: int, data_dir: Path, log: Path) -> None:
        self.config, self.port, self.data_dir, self.log = config, port, data_dir, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        env = {
            **os.environ,
            "MODELARENA_DATA_DIR": str(self.data_dir),
            "MODELARENA_ARENA__VISITOR_RPM": "0",
            "MODELARENA_ARENA__IP_RPM": "0",
        }
        with self.log.open("a") as log:
            log.write(f"\n--- start {time.strftime('%H:%M:%S')}\n")
            log.flush()
            self.process = subprocess.Popen(
                [*SERVER, "serve", "--port", str(self.port), "--config", str(self.config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        return wait_ready(self.url + "/health", self.process, self.log)

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- the visitors -----------------------------------------------------------------------


@dataclass
class Ledger:
    """Every vote sent, and what became of it, over the whole run of one database."""

    sent: dict[str, tuple[str, str]] = field(default_factory=dict)  # conv -> (winner, visitor)
    acked: set[str] = field(default_factory=set)
    refused: dict[str, int] = field(default_factory=dict)  # conv -> HTTP status
    unknown: set[str] = field(default_factory=set)  # no response (connection lost)


@dataclass
class PhaseStats:
    vote_latency: list[float] = field(default_factory=list)
    battle_latency: list[float] = field(default_factory=list)
    battles: int = 0
    votes: int = 0
    errors: list[str] = field(default_factory=list)  # HTTP errors and unvotable battles
    lost: list[str] = field(default_factory=list)  # requests that got no response
    seconds: float = 0.0
    killed_at: float | None = None  # seconds into the phase
    voting: int = 0  # vote requests in flight now
    server_cpu_s: float = 0.0
    loop_lag: list[float] = field(default_factory=list)


class Visitor:
    def __init__(self, index: int, seed: int) -> None:
        self.index = index
        self.rng = random.Random(seed * 100_003 + index)
        self.jar = aiohttp.CookieJar(unsafe=True)  # 127.0.0.1 is an IP address
        self.accepted = False

    @property
    def visitor_id(self) -> str | None:
        for cookie in self.jar:
            if cookie.key == "ma_visitor":
                return cookie.value
        return None


class Lost(Exception):
    """A request got no HTTP response (the server is gone)."""


async def _post(
    session: aiohttp.ClientSession, url: str, body: dict, headers: dict
) -> tuple[int, bytes]:
    try:
        async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
            return response.status, await response.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Lost(f"{url.rsplit('/', 1)[-1]}: {type(exc).__name__}") from exc


async def run_visitor(
    visitor: Visitor,
    base: str,
    battles: int,
    think: float,
    ledger: Ledger,
    stats: PhaseStats,
    ramp: float,
) -> None:
    headers = {"Origin": base, "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=60)
    # One request at a time; idle connections are dropped before the server's own
    # keep-alive timeout (uvicorn: 5 s) so that a request never races its closing.
    connector = aiohttp.TCPConnector(limit=2, keepalive_timeout=2)
    if ramp:  # visitors arrive spread over the ramp, not all in the same millisecond
        await asyncio.sleep(visitor.rng.uniform(0, ramp))
    async with aiohttp.ClientSession(
        base, cookie_jar=visitor.jar, connector=connector, timeout=timeout
    ) as session:
        try:
            if not visitor.accepted:
                status, data = await _post(session, "/api/terms", {}, headers)
                if status != 200:
                    stats.errors.append(f"terms {status} {data[:200]!r}")
                    return
                visitor.accepted = True
            for _ in range(battles):
                await battle(visitor, session, headers, think, ledger, stats)
        except Lost as exc:
            stats.lost.append(str(exc))
        except _Failed as exc:
            stats.errors.append(str(exc))
        except Exception as exc:  # reported, not fatal to the other visitors
            stats.errors.append(f"{type(exc).__name__}: {exc}")


class _Failed(Exception):
    """The server answered with an error, or a battle cannot be voted."""


async def battle(
    visitor: Visitor,
    session: aiohttp.ClientSession,
    headers: dict,
    think: float,
    ledger: Ledger,
    stats: PhaseStats,
) -> None:
    started = time.perf_counter()
    status, data = await _post(session, "/api/conversations", {"mode": "battle"}, headers)
    if status != 201:
        raise _Failed(f"start {status} {data[:200]!r}")
    conversation = orjson.loads(data)["id"]
    prompt = visitor.rng.choice(PROMPTS) + f" (visitor {visitor.index})"
    done = None
    try:
        async with session.post(
            f"/api/conversations/{conversation}/messages",
            data=orjson.dumps({"prompt": prompt}),
            headers=headers,
        ) as response:
            if response.status != 200:
                raise _Failed(f"messages {response.status} {(await response.read())[:200]!r}")
            async for line in response.content:
                if line.startswith(b"data: "):
                    event = orjson.loads(line[6:])
                    if event["type"] == "done":
                        done = event
                    elif event["type"] == "error":
                        raise _Failed(f"side error: {event.get('message')}")
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Lost(f"messages: {type(exc).__name__}") from exc
    if done is None or not done.get("votable"):
        if done is None:
            raise Lost("stream ended without done")
        raise _Failed(f"not votable after done: {done}")
    stats.battle_latency.append(time.perf_counter() - started)
    stats.battles += 1
    if think:
        await asyncio.sleep(visitor.rng.uniform(0.5 * think, 1.5 * think))
    winner = visitor.rng.choice(WINNERS)
    ledger.sent[conversation] = (winner, visitor.visitor_id or "")
    started = time.perf_counter()
    stats.voting += 1
    try:
        status, data = await _post(
            session, f"/api/conversations/{conversation}/vote", {"winner": winner}, headers
        )
    except Lost:
        ledger.unknown.add(conversation)
        raise
    finally:
        stats.voting -= 1
    elapsed = time.perf_counter() - started
    if status != 200:
        ledger.refused[conversation] = status
        raise _Failed(f"vote {status} {data[:200]!r}")
    ledger.acked.add(conversation)
    stats.vote_latency.append(elapsed)
    stats.votes += 1
    if think:
        await asyncio.sleep(visitor.rng.uniform(0.25 * think, 0.75 * think))


async def watch_loop(stats: PhaseStats, stop: asyncio.Event) -> None:
    """The client's own event-loop lag: it delays every measured round trip as well."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        stats.loop_lag.append(time.perf_counter() - started - 0.01)


async def run_phase(
    visitors: list[Visitor],
    base: str,
    battles: int,
    think: float,
    ledger: Ledger,
    server: Server,
    ramp: float = 0.0,
    kill_at_votes: int | None = None,
) -> PhaseStats:
    """Run every visitor's battles; with `kill_at_votes`, SIGKILL the server once that
    many votes of this phase have been acknowledged, at a moment when votes are in flight
    (a few, or whatever there are after 5 s more)."""
    stats = PhaseStats()
    assert server.process is not None
    pid = server.process.pid
    cpu_before = cpu_seconds(pid)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_loop(stats, stop))
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(run_visitor(v, base, battles, think, ledger, stats, ramp))
        for v in visitors
    ]
    if kill_at_votes is not None:
        deadline = started + 120
        while (
            stats.votes < kill_at_votes
            and time.perf_counter() < deadline
            and not all(t.done() for t in tasks)
        ):
            await asyncio.sleep(0.002)
        deadline = time.perf_counter() + 5
        while stats.voting < max(1, len(visitors) // 20) and time.perf_counter() < deadline:
            await asyncio.sleep(0)
        stats.server_cpu_s = cpu_seconds(pid) - cpu_before
        stats.killed_at = time.perf_counter() - started
        server.kill9()
    await asyncio.gather(*tasks)
    stats.seconds = time.perf_counter() - started
    if kill_at_votes is None:
        stats.server_cpu_s = cpu_seconds(pid) - cpu_before
    stop.set()
    await watcher
    return stats


# -- the checks -------------------------------------------------------------------------


def stored_votes(url: str) -> tuple[dict[str, tuple[str, str]], int]:
    """conversation id -> (winner, visitor id) from the votes table, and its row count."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT conversation_id, winner, visitor_id FROM votes")
            ).all()
    finally:
        engine.dispose()
    return {r[0]: (r[1], r[2]) for r in rows}, len(rows)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def check_votes(url: str, ledger: Ledger, exact: bool, label: str) -> list[Check]:
    """The votes table against the ledger: every acknowledged vote there with its winner
    and visitor, nothing unsent, nothing refused, no duplicates; with `exact`, nothing
    but the acknowledged votes."""
    stored, rows = stored_votes(url)
    acked_missing = ledger.acked - stored.keys()
    unsent = stored.keys() - ledger.sent.keys()
    wrong = sorted(c for c in stored.keys() & ledger.sent.keys() if stored[c] != ledger.sent[c])
    refused_present = stored.keys() & ledger.refused.keys()
    extra = stored.keys() - ledger.acked
    unknown_present = stored.keys() & ledger.unknown
    checks = [
        Check(
            f"{label}: acknowledged votes all stored",
            not acked_missing,
            f"{len(ledger.acked) - len(acked_missing)}/{len(ledger.acked)} stored"
            + (f"; missing e.g. {sorted(acked_missing)[:3]}" if acked_missing else ""),
        ),
        Check(
            f"{label}: stored votes all sent, winner and visitor as sent",
            not unsent and not wrong,
            f"{len(unsent)} never sent, {len(wrong)} differ",
        ),
        Check(
            f"{label}: no refused vote stored",
            not refused_present,
            f"{len(ledger.refused)} refused, {len(refused_present)} of them stored",
        ),
        Check(
            f"{label}: no duplicate rows",
            rows == len(stored),
            f"{rows} rows, {len(stored)} conversations",
        ),
    ]
    if exact:
        checks.append(
            Check(
                f"{label}: nothing stored beyond the acknowledged",
                not extra,
                f"{len(stored)} stored = {len(ledger.acked)} acknowledged"
                if not extra
                else f"{len(extra)} extra",
            )
        )
    else:
        checks.append(
            Check(
                f"{label}: stored = acknowledged + some unknown",
                extra <= ledger.unknown,
                f"{len(stored)} stored = {len(ledger.acked)} acknowledged + "
                f"{len(unknown_present)} of {len(ledger.unknown)} unknown (no response)",
            )
        )
    return checks


# -- one database -----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))]


def ms(value: float) -> str:
    return f"{value * 1e3:.1f} ms"


async def bench_database(
    kind: str, db_url: str, home: Path, backend_url: str, args: argparse.Namespace
) -> tuple[dict, list[Check]]:
    config = home / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "include_default_models": False,
                "db_url": db_url,
                "models": [{**m, "base_url": backend_url + "/v1"} for m in MODELS],
            }
        )
    )
    server = Server(config, free_port(), home / "data", home / "server.log")
    ledger = Ledger()
    checks: list[Check] = []
    result: dict = {"db": kind}
    base = server.url
    ramp = 1.5 * args.think  # about one visitor's cycle: arrivals spread over it
    try:
        result["start_s"] = server.start()
        visitors = [Visitor(i, args.seed) for i in range(args.visitors)]
        print(
            f"[{kind}] steady: {args.visitors} visitors x {args.battles} battles, "
            f"reading {args.think:g} s on average before voting",
            flush=True,
        )
        steady = await run_phase(
            visitors, base, args.battles, args.think, ledger, server, ramp=ramp
        )
        result["steady"] = steady
        checks += check_votes(db_url, ledger, exact=True, label="steady")
        checks.append(
            Check(
                "steady: no errors",
                not steady.errors and not steady.lost,
                f"{len(steady.errors)} errors, {len(steady.lost)} without response"
                + (f"; e.g. {steady.errors[0]}" if steady.errors else "")
                + (f"; e.g. {steady.lost[0]}" if steady.lost else ""),
            )
        )

        # The crash: new visitors without pauses; SIGKILL once enough votes are in.
        crashers = [Visitor(args.visitors + i, args.seed) for i in range(args.visitors)]
        print(
            f"[{kind}] crash: {args.visitors} new visitors without pauses, kill -9 at "
            f"{args.kill_at_votes} acknowledged votes",
            flush=True,
        )
        crash = await run_phase(
            crashers, base, 1_000_000, 0.0, ledger, server, kill_at_votes=args.kill_at_votes
        )
        result["crash"] = crash
        result["in_flight"] = len(ledger.unknown)
        checks.append(
            Check(
                "crash: killed mid-run",
                crash.votes >= args.kill_at_votes,
                f"kill -9 at {crash.killed_at:.1f} s, {crash.votes} votes "
                f"acknowledged, {len(ledger.unknown)} in flight",
            )
        )
        checks += check_votes(db_url, ledger, exact=not ledger.unknown, label="after kill -9")

        result["restart_s"] = server.start()
        response = httpx.get(base + "/api/models", timeout=10)  # nothing else runs now
        served = response.status_code == 200 and len(response.json()["models"])
        checks.append(
            Check(
                "restart: serves the arena's models",
                served == len(MODELS),
                f"/api/models lists {served} models",
            )
        )
        checks += check_votes(db_url, ledger, exact=not ledger.unknown, label="restarted")
        survivors = [v for v in crashers if v.accepted]
        print(
            f"[{kind}] restarted in {result['restart_s']:.1f} s; the crash run's "
            f"{len(survivors)} visitors go on with their cookies, 1 battle each",
            flush=True,
        )
        after = await run_phase(survivors, base, 1, args.think, ledger, server, ramp=ramp)
        result["after"] = after
        checks.append(
            Check(
                "restart: the visitors' battles all voted",
                after.votes == len(survivors) and not after.errors and not after.lost,
                f"{after.votes}/{len(survivors)} voted, {len(after.errors)} errors, "
                f"{len(after.lost)} without response"
                + (f"; e.g. {after.errors[0]}" if after.errors else ""),
            )
        )
        server.stop()
        checks += check_votes(db_url, ledger, exact=not ledger.unknown, label="final")
        stored, _ = stored_votes(db_url)
        result.update(
            stored=len(stored),
            acked=len(ledger.acked),
            unknown=len(ledger.unknown),
            unknown_stored=len(stored.keys() & ledger.unknown),
        )
    finally:
        server.stop()
        if server.log.exists():
            result["log_errors"] = [
                line
                for line in server.log.read_text().splitlines()
                if "ERROR" in line or "Traceback" in line
            ]
    return result, checks


def report(result: dict, checks: list[Check], args: argparse.Namespace) -> None:
    steady: PhaseStats = result["steady"]
    p50, p99 = percentile(steady.vote_latency, 0.5), percentile(steady.vote_latency, 0.99)
    print(f"\n== {result['db']} ==  server start {result['start_s']:.1f} s")
    rows = [
        (
            "steady: visitors (concurrent)",
            f"{args.visitors}, reading {args.think:g} s on average before each vote",
        ),
        (
            "steady: battles / votes acknowledged",
            f"{steady.battles} / {steady.votes} in {steady.seconds:.1f} s",
        ),
        ("steady: votes/s", f"{steady.votes / steady.seconds:.1f}"),
        ("steady: vote latency p50", ms(p50)),
        (
            "steady: vote latency p99",
            f"{ms(p99)} (target 50 ms: {TARGET_P99_S / p99:.2f}x, "
            f"{'met' if p99 <= TARGET_P99_S else 'MISSED'})",
        ),
        ("steady: vote latency max", ms(max(steady.vote_latency, default=float("nan")))),
        (
            "steady: battle round trip p50 / p99",
            f"{ms(percentile(steady.battle_latency, 0.5))} / "
            f"{ms(percentile(steady.battle_latency, 0.99))}",
        ),
        (
            "steady: server CPU",
            f"{steady.server_cpu_s / steady.seconds:.0%} of a core, "
            f"{steady.server_cpu_s / max(1, steady.battles) * 1e3:.1f} ms "
            "per battle",
        ),
        ("steady: client event-loop lag p99", ms(percentile(steady.loop_lag, 0.99))),
    ]
    if "crash" in result:
        crash: PhaseStats = result["crash"]
        rows += [
            (
                "unpaced: votes/s, start to kill -9",
                f"{crash.votes / crash.killed_at:.1f}; vote p50 "
                f"{ms(percentile(crash.vote_latency, 0.5))}, p99 "
                f"{ms(percentile(crash.vote_latency, 0.99))}; server CPU "
                f"{crash.server_cpu_s / max(1, crash.battles) * 1e3:.1f} ms per battle",
            ),
            (
                "kill -9",
                f"at {crash.killed_at:.1f} s: {crash.votes} votes acknowledged, "
                f"{result['in_flight']} in flight",
            ),
        ]
    if "restart_s" in result:
        rows.append(("restart after kill -9", f"{result['restart_s']:.1f} s to /health"))
    if "after" in result:
        after: PhaseStats = result["after"]
        rows.append(
            (
                "after restart: votes",
                f"{after.votes}, p50 "
                f"{ms(percentile(after.vote_latency, 0.5))}, p99 "
                f"{ms(percentile(after.vote_latency, 0.99))}",
            )
        )
    if "stored" in result:
        rows.append(
            (
                "final: stored / acknowledged / no response (of them stored)",
                f"{result['stored']} / {result['acked']} / {result['unknown']} "
                f"({result['unknown_stored']})",
            )
        )
    if "log_errors" in result:
        errors = result["log_errors"]
        rows.append(
            (
                "server log: ERROR / Traceback lines",
                f"{len(errors)}" + (f"; first: {errors[0][:160]}" if errors else ""),
            )
        )
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for check in checks:
        print(f"  {'PASS' if check.ok else 'FAIL'}  {check.name} — {check.detail}")


async def main_async(args: argparse.Namespace) -> int:
    backend_port = free_port()
    backend_url = f"http://127.0.0.1:{backend_port}"
    backend = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            "bench",
            "gateway:synthetic_app",
            "--port",
            str(backend_port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        cwd=ROOT,
    )
    failed = False
    skipped = []
    started = time.monotonic()
    try:
        wait_ready(backend_url + "/v1/models", backend)
        for kind in args.db.split(","):
            with tempfile.TemporaryDirectory(prefix=f"arena-bench-{kind}-") as home:
                drop = None
                if kind == "sqlite":
                    url = f"sqlite:///{home}/arena.db"
                elif kind == "postgres":
                    found = postgres_database()
                    if found is None:
                        skipped.append(kind)
                        continue
                    url, drop = found
                else:
                    raise SystemExit(f"unknown database {kind!r}; use sqlite and/or postgres")
                try:
                    result, checks = await bench_database(kind, url, Path(home), backend_url, args)
                    report(result, checks, args)
                    failed |= not all(c.ok for c in checks)
                except BaseException:
                    print(f"server log:\n{(Path(home) / 'server.log').read_text()[-4000:]}")
                    raise
                finally:
                    if drop:
                        drop()
    finally:
        backend.terminate()
        backend.wait()
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores · synthetic upstream · "
        f"total {time.monotonic() - started:.0f} s · integrity "
        f"{'FAILED' if failed else 'passed'}"
        + (f" · SKIPPED: {', '.join(skipped)}" if skipped else "")
    )
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--battles", type=int, default=3, help="per visitor, steady phase")
    parser.add_argument(
        "--think",
        type=float,
        default=8.0,
        help="mean seconds a visitor reads both answers before voting "
        "(uniform 0.5-1.5x), and half that before the next battle",
    )
    parser.add_argument(
        "--kill-at-votes",
        type=int,
        default=None,
        help="kill -9 the server once the crash run has this many votes "
        "(default: twice the visitors)",
    )
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.kill_at_votes is None:
        args.kill_at_votes = 2 * args.visitors
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    # On SIGTERM, unwind (stop the servers, drop the database) instead of dying at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(runner(main_async(args)))


if __name__ == "__main__":
    main()
