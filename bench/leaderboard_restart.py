"""Benchmark: the live leaderboard after a server restart with 1,000,000 stored votes, on
SQLite and on PostgreSQL.

Fills a fresh database with --votes voted blind battles as the arena stores them (a
conversation, its turns with their text, the vote, and the features a vote stores,
computed from that text by the arena's own code) with bulk SQL, then starts a fresh
process that does what the server's fitting process does after a restart
(`leaderboard_fit.open_store`, then `fit`) and prints seconds for each step:

* open: the imports and the database connection of the fitting process;
* cold load: every stored vote read into the battle table (small rows, no text);
* first fit: every category's raw board (it re-reads what changed since the load:
  nothing); open + cold load + first fit is the time until the leaderboard shows (a
  server's first fit is raw only, and shows at once);
* style-controlled fit: every category's board, raw and style-controlled, which then
  replace the first;
* refit after a vote: one more vote stored the way the arena stores it, then a fit (what
  each later fit costs, which spaces fits under `leaderboard_cpu_share`).

With --old K, the first K battles are stored without features (voted before migration
0005): the cold load computes theirs from the text and writes them back, once.

    .venv/bin/python bench/leaderboard_restart.py [--votes 1000000] [--models 60]
        [--db sqlite,postgres] [--old 0] [--pool 2000] [--tmp DIR]

The database was just written, so it is in the OS page cache, as on a server restarted
without a reboot; CPU seconds of the fitting process are printed beside wall seconds,
since other work on the machine stretches the latter.

PostgreSQL: a throwaway database is created on $MODELARENA_TEST_POSTGRES (default
postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped at the end; it is
vacuumed and analysed after the fill, as autovacuum would have done on a live server.

Target (issue): the leaderboard shows within 10 s of a restart with 1,000,000 votes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from scratch_postgres import postgres_database

TARGET_SECONDS = 10.0
CHUNK = 100_000  # rows per insert batch
VISITOR = "bench-visitor-{:06d}"


# --- realistic conversations -------------------------------------------------------

TOPICS = [
    "owls",
    "the French revolution",
    "black holes",
    "sourdough bread",
    "tax law",
    "the Roman empire",
    "photosynthesis",
    "jazz harmony",
    "climate models",
    "chess",
]
CODE = [
    "reverse a linked list",
    "parse a CSV file",
    "debounce a function",
    "merge two sorted arrays",
    "validate an email address",
    "read a JSON config",
]
LANGUAGES = ["Python", "JavaScript", "Rust", "Go", "SQL"]
FOREIGN = [
    "请用三句话介绍一下{}。",
    "Erkläre mir bitte {} so, dass es ein Kind versteht, und nicht zu lang.",
    "¿Puedes explicarme qué es {} y por qué es importante para la gente?",
    "Peux-tu m'expliquer {} en quelques phrases simples, s'il te plaît ?",
]  # fmt: skip


def prompt(rng: np.random.Generator) -> str:
    topic = TOPICS[rng.integers(len(TOPICS))]
    kind = rng.random()
    if kind < 0.25:
        task, language = CODE[rng.integers(len(CODE))], LANGUAGES[rng.integers(len(LANGUAGES))]
        return f"Write a {language} function to {task}. Explain the edge cases."
    if kind < 0.4:
        a, b = rng.integers(2, 500, 2)
        return f"If a train travels {a} km in {b} minutes, how many km does it go in 3 hours?"
    if kind < 0.55:
        return FOREIGN[rng.integers(len(FOREIGN))].format(topic)
    if kind < 0.65:  # a long prompt: a pasted document and a question about it
        document = " ".join(f"Paragraph {i} about {topic} with some detail." for i in range(80))
        return f"Summarise this document:\n\n{document}\n\nWhat is its main point?"
    return f"Tell me something surprising about {topic}, and why it matters today."


def answer(rng: np.random.Generator, question: str) -> str:
    parts = []
    if rng.random() < 0.4:
        parts.append("## Overview")
    parts.append(f"Here is a considered answer to: {question[:80]}")
    for i in range(int(rng.integers(0, 7))):
        bullet = "- " if rng.random() < 0.5 else f"{i + 1}. "
        bold = "**key point** " if rng.random() < 0.3 else ""
        parts.append(f"{bullet}{bold}detail number {i} explained in a full sentence or two.")
    if "function" in question and rng.random() < 0.8:
        parts.append("```python\ndef solve(items):\n    return sorted(items)\n```")
    parts.append("In short: " + "it depends on the context. " * int(rng.integers(1, 12)))
    return "\n".join(parts)


def conversation_pool(size: int, seed: int = 0) -> list[list[tuple[str, str, str]]]:
    """`size` distinct conversations of one to three turns."""
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(size):
        turns = 1 + int(rng.random() < 0.2) + int(rng.random() < 0.05)
        questions = [prompt(rng) for _ in range(turns)]
        pool.append([(q, answer(rng, q), answer(rng, q)) for q in questions])
    return pool


# --- filling a database --------------------------------------------------------------


class Battles:
    """The battles to store: pool entry, models, winner and vote time of each."""

    def __init__(self, n: int, models: int, pool_size: int, seed: int = 1) -> None:
        from modelarena.arena.battle_features import features

        rng = np.random.default_rng(seed)
        self.n = n
        self.pool = conversation_pool(pool_size)
        self.features = features(self.pool)
        self.pick = rng.integers(0, pool_size, n)
        strength = rng.normal(0, 1, models)
        self.a = rng.integers(0, models, n)
        self.b = (self.a + 1 + rng.integers(0, models - 1, n)) % models
        win = rng.random(n) < 1 / (1 + np.exp(strength[self.b] - strength[self.a]))
        tie = rng.random(n)
        self.winner = np.where(win, "model_a", "model_b")
        self.winner = np.where(tie < 0.15, "tie", np.where(tie < 0.2, "tie (bothbad)", self.winner))
        self.visitor = rng.integers(0, max(1, n // 20), n)
        start = datetime(2025, 12, 7, tzinfo=UTC)
        seconds = np.sort(rng.random(n)) * 365 * 86400
        self.when = [start + timedelta(seconds=float(s)) for s in seconds]
        self.ids = [uuid.UUID(bytes=os.urandom(16)).hex for _ in range(n)]
        self.models = [f"model-{i:03d}" for i in range(models)]

    def visitors(self) -> Iterator[tuple]:
        first = self.when[0]
        for v in np.unique(self.visitor).tolist():
            yield VISITOR.format(v), "bench", first, first

    def conversations(self) -> Iterator[tuple]:
        for i in range(self.n):
            yield (
                self.ids[i],
                VISITOR.format(self.visitor[i]),
                "battle",
                self.models[self.a[i]],
                self.models[self.b[i]],
                "{}",
                False,
                self.when[i] - timedelta(seconds=60),
            )

    def turns(self) -> Iterator[tuple]:
        for i in range(self.n):
            moment = self.when[i] - timedelta(seconds=30)
            for position, (question, answer_a, answer_b) in enumerate(self.pool[self.pick[i]]):
                yield (self.ids[i], position, question, 0, moment, answer_a, answer_b,
                       "stop", "stop")  # fmt: skip

    def votes(self, old: int) -> Iterator[tuple]:
        """Each vote with the features a vote stores (none for the first `old`)."""
        from dataclasses import astuple

        from modelarena.store.battles import FEATURES

        stored = [astuple(f) for f in self.features]
        missing = (None,) * len(FEATURES)
        for i in range(self.n):
            features = missing if i < old else stored[self.pick[i]]
            yield (self.ids[i], VISITOR.format(self.visitor[i]), str(self.winner[i]),
                   self.when[i], *features)  # fmt: skip


TABLES = {
    "visitors": "id, ip_hash, created_at, terms_accepted_at",
    "conversations": "id, visitor_id, mode, model_a, model_b, sampling, vision, created_at",
    "turns": "conversation_id, position, prompt, regenerations, created_at, answer_a, "
    "answer_b, finish_a, finish_b",
    "votes": "conversation_id, visitor_id, winner, created_at",
}


def rows_of(battles: Battles, old: int) -> list[tuple[str, str, Iterator[tuple]]]:
    from modelarena.store.battles import FEATURES

    return [
        ("visitors", TABLES["visitors"], battles.visitors()),
        ("conversations", TABLES["conversations"], battles.conversations()),
        ("turns", TABLES["turns"], battles.turns()),
        ("votes", TABLES["votes"] + ", " + ", ".join(FEATURES), battles.votes(old)),
    ]


def fill_sqlite(path: str, battles: Battles, old: int) -> None:
    def text(value: object) -> object:  # times as SQLAlchemy stores them in SQLite
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    for table, columns, rows in rows_of(battles, old):
        marks = ", ".join("?" * len(columns.split(",")))
        statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        batch: list[tuple] = []
        for row in rows:
            batch.append(tuple(text(v) for v in row))
            if len(batch) == CHUNK:
                connection.executemany(statement, batch)
                batch.clear()
        connection.executemany(statement, batch)
        connection.commit()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def fill_postgres(url: str, battles: Battles, old: int) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        for table, columns, rows in rows_of(battles, old):
            statement = f"COPY {table} ({columns}) FROM STDIN"
            with connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        connection.execute("VACUUM ANALYZE")


# --- the restart, in a fresh process ---------------------------------------------------


def restart(url: str) -> dict[str, float]:
    """Run in a child process: what the fitting process does after a restart, timed
    (wall seconds, and this process's CPU seconds as `cpu_...`)."""
    marks = [(time.perf_counter(), time.process_time())]
    from modelarena.arena import leaderboard_fit
    from modelarena.arena.battle_features import view_features
    from modelarena.store import arena as store

    leaderboard_fit.open_store(url, os.getppid())
    marks.append((time.perf_counter(), time.process_time()))
    table = leaderboard_fit._battles
    assert table is not None
    loaded = table.load()
    marks.append((time.perf_counter(), time.process_time()))
    snapshot, _ = leaderboard_fit.fit({}, False, style=False)  # the raw boards show first
    marks.append((time.perf_counter(), time.process_time()))
    styled, _ = leaderboard_fit.fit({}, False)  # then the style-controlled ones replace them
    marks.append((time.perf_counter(), time.process_time()))

    db = table.db  # one more vote, stored as the arena stores it, then a refit
    store.ensure_visitor(db, "bench-new-visitor", "ip")
    store.create_conversation(db, "bench-new", "bench-new-visitor", "battle",
                              ["model-000", "model-001"], {}, False)  # fmt: skip
    turn = store.add_turn(db, "bench-new", 0, "Hello there", None)
    for side in ("a", "b"):
        store.save_side(db, turn, side, store.SideResult(f"Hi from {side}", "stop"))
    assert store.add_vote(db, "bench-new", "bench-new-visitor", "model_a", None, view_features)
    marks.append((time.perf_counter(), time.process_time()))
    again, _ = leaderboard_fit.fit({}, False)
    marks.append((time.perf_counter(), time.process_time()))
    result: dict[str, float] = {}
    steps = [("open", 0, 1), ("cold_load", 1, 2), ("first_fit", 2, 3), ("shown", 0, 3),
             ("style_fit", 3, 4), ("style_shown", 0, 4),
             ("refit_after_vote", 5, 6)]  # fmt: skip
    for name, begin, end in steps:
        result[name] = marks[end][0] - marks[begin][0]
        result["cpu_" + name] = marks[end][1] - marks[begin][1]
    return result | {
        "rows": loaded.num_rows,
        "votes": snapshot.votes,
        "votes_after": again.votes,
        "models": len(snapshot.board("all").rows),
        "boards": len(snapshot.boards) + len(styled.styled),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "load_average": os.getloadavg()[0],
    }


def measure(url: str) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, __file__, "--child", url], capture_output=True, text=True
    )
    if child.returncode != 0:
        raise SystemExit(f"the restart failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def bench_one(kind: str, args: argparse.Namespace, battles: Battles) -> None:
    from modelarena.store.db import Database

    drop: Callable[[], None] = lambda: None  # noqa: E731
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        if kind == "sqlite":
            url = f"sqlite:///{folder}/arena.db"
        else:
            found = postgres_database()
            if found is None:
                return
            url, drop = found
        try:
            db = Database(url)
            db.migrate()
            db.close()
            start = time.perf_counter()
            if kind == "sqlite":
                fill_sqlite(url.removeprefix("sqlite:///"), battles, args.old)
            else:
                fill_postgres(url, battles, args.old)
            filled = time.perf_counter() - start
            size = database_size(kind, url)
            print(f"\n{kind}: {battles.n:,} voted battles stored in {filled:.0f} s "
                  f"({size / 1e9:.2f} GB), {args.old:,} without features")  # fmt: skip
            result = measure(url)
            report(result, battles.n, args.old)
        finally:
            drop()


def database_size(kind: str, url: str) -> int:
    if kind == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as connection:
        size = connection.exec_driver_sql("select pg_database_size(current_database())").scalar()
    engine.dispose()
    return int(size or 0)


def report(result: dict[str, float], n: int, old: int) -> None:
    rows = [
        ("open (imports, connection)", "open"),
        ("cold load of the battle table", "cold_load"),
        ("first fit (every category, raw)", "first_fit"),
        ("restart -> leaderboard shown", "shown"),
        ("style-controlled fit (every category)", "style_fit"),
        ("restart -> style-controlled shown", "style_shown"),
        ("refit after one more vote (both)", "refit_after_vote"),
    ]
    print(f"  {'(CPU: the fitting process alone)':<38} {'wall':>9} {'CPU':>9}")
    for label, key in rows:
        print(f"  {label:<38} {result[key]:7.2f} s {result['cpu_' + key]:7.2f} s")
    if old:
        per_battle = 1000 * result["cold_load"] / old
        print(f"  {'cold load per battle without features':<38} {per_battle:7.2f} ms")
    verdict = "meets" if result["shown"] <= TARGET_SECONDS else "misses"
    print(f"  {verdict} the target of {TARGET_SECONDS:.0f} s; {result['votes']:,} votes "
          f"({result['votes_after']:,} after the new one), {result['models']} models, "
          f"{result['boards']} boards; fitting process peak RSS "
          f"{result['peak_rss_gb']:.2f} GB; host load average "
          f"{result['load_average']:.1f} on {os.cpu_count()} cores")  # fmt: skip
    if result["votes"] != n or result["votes_after"] != n + 1:
        raise SystemExit("the leaderboard does not count every stored vote")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--old", type=int, default=0, help="battles stored without features")
    parser.add_argument("--pool", type=int, default=2000, help="distinct conversations")
    parser.add_argument("--tmp", default=None, help="folder for the SQLite database")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(restart(args.child)))
        return
    if not 0 <= args.old <= args.votes or args.votes < 1 or args.models < 2:
        raise SystemExit("need --votes >= 1, --models >= 2 and 0 <= --old <= --votes")
    kinds = [kind.strip() for kind in args.db.split(",") if kind.strip()]
    unknown = set(kinds) - {"sqlite", "postgres"}
    if unknown:
        raise SystemExit(
            f"unknown database {', '.join(sorted(unknown))}; use sqlite and/or postgres"
        )
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.votes:,} votes among {args.models} models")  # fmt: skip
    start = time.perf_counter()
    battles = Battles(args.votes, args.models, args.pool)
    print(f"battles generated in {time.perf_counter() - start:.0f} s")
    for kind in kinds:
        bench_one(kind, args, battles)


if __name__ == "__main__":
    main()
