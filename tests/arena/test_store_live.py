"""Battles stored in SQLite and in the machine's real PostgreSQL: votes committed before
they are acknowledged, FastChat export that the rating command reads, import back,
benchmark scores on the leaderboard, a vote on the leaderboard within seconds on the
default schedule, and the leaderboard's fitting process ending with a killed server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from modelarena.arena.battle_features import features
from modelarena.arena.live_leaderboard import LiveLeaderboard
from modelarena.arena.sampling import PairSampler, SamplingPolicy
from modelarena.config import ArenaSettings
from modelarena.store.battles import FEATURES, Features
from modelarena.store.db import Database
from modelarena.store.models import Vote

from .scripted_models import model


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "modelarena.cli", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_votes_export_import_and_scores(db_url, start_server, scripted, visitor_factory, tmp_path):
    server = start_server(
        {
            "include_default_models": False,
            "db_url": db_url,  # the live leaderboard on its default schedule
            "models": [
                model("north-1", scripted, "plain", organization="N"),
                model("south-1", scripted, "other", organization="S"),
            ],
        }
    )
    visitor = visitor_factory(server.url).accept_terms()
    winners = {}
    for winner in ("model_a", "model_b", "tie", "tie (bothbad)", "model_a"):
        battle = visitor.start()
        visitor.send(battle["id"], "Hello")
        assert visitor.vote(battle["id"], winner).status_code == 200
        winners[battle["id"]] = winner
    named = visitor.start(mode="side_by_side", models=["north-1", "south-1"])
    visitor.send(named["id"], "Hi")
    visitor.vote(named["id"], "model_a")

    battles = tmp_path / "battles.json"
    cli("export", "battles", "--db", db_url, "--out", str(battles))
    records = json.loads(battles.read_text())
    assert {r["question_id"]: r["winner"] for r in records} == winners
    first = records[0]
    assert first["anony"] is True and first["conversation_a"][0] == {
        "role": "user",
        "content": "Hello",
    }
    assert first["judge"].startswith("voter-")
    assert "sum_assistant_a_tokens" in first["conv_metadata"]
    # Each vote stored the conversation's features with it, as the engine computes them.
    db = Database(db_url)
    with db.session() as session:
        stored = {
            row.conversation_id: Features(*(getattr(row, name) for name in FEATURES))
            for row in session.scalars(select(Vote))
        }
    assert stored.keys() == {*winners, named["id"]}
    for record in records:
        (prompt, answer_a), answer_b = record["conversation_a"], record["conversation_b"][1]
        turns = [(prompt["content"], answer_a["content"], answer_b["content"])]  # one turn
        assert stored[record["question_id"]] == features([turns])[0]
        metadata = record["conv_metadata"]
        assert stored[record["question_id"]].tokens_a == metadata["sum_assistant_a_tokens"] > 0
    db.close()
    everything = tmp_path / "all.parquet"
    cli(
        "export",
        "battles",
        "--db",
        db_url,
        "--out",
        str(everything),
        "--format",
        "parquet",
        "--include-named",
    )
    conversations = tmp_path / "conversations.jsonl"
    cli("export", "conversations", "--db", db_url, "--out", str(conversations))
    assert len(conversations.read_text().splitlines()) == 6
    board = json.loads(cli("leaderboard", str(everything), "--include-named", "--format", "json"))
    assert {row["model"] for row in board} == {"north-1", "south-1"}
    assert sum(row["num_battles"] for row in board) == 2 * 6

    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert "imported 5 battles (0 already stored)" in cli(
        "import", "battles", str(battles), "--db", copy
    )
    assert "imported 0 battles (5 already stored)" in cli(
        "import", "battles", str(battles), "--db", copy
    )
    again = tmp_path / "again.json"
    cli("export", "battles", "--db", copy, "--out", str(again))
    assert [(r["question_id"], r["winner"]) for r in json.loads(again.read_text())] == [
        (r["question_id"], r["winner"]) for r in records
    ]

    scores = tmp_path / "scores.csv"
    scores.write_text("model,MT-Bench,MMLU\nnorth-1,6.5,55.1\nsouth-1,7.25,60\n")
    assert "stored 4 scores" in cli("scores", "import", str(scores), "--db", db_url)
    bad = tmp_path / "bad.csv"
    bad.write_text("model,MMLU\nnorth-1,high\n")
    failed = subprocess.run(
        [sys.executable, "-m", "modelarena.cli", "scores", "import", str(bad), "--db", db_url],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 2 and "not a number" in failed.stderr
    battle = visitor.start()  # one more vote wakes the leaderboard, which now has scores
    visitor.send(battle["id"], "Hello")
    visitor.vote(battle["id"], "model_b")
    # By default each vote wakes the next fit, at most 2 s after the previous one began:
    # the vote shows within seconds (the old schedule took up to a minute).
    answer = poll_leaderboard(server.url, lambda found: found["votes"] == 6, 30)
    assert answer["votes"] == 6 and answer["benchmarks"] == ["MMLU", "MT-Bench"]
    assert {r["model"]: r["scores"]["MT-Bench"] for r in answer["rows"]} == {
        "north-1": 6.5,
        "south-1": 7.25,
    }
    csv_text = httpx.get(server.url + "/api/leaderboard.csv").text
    assert csv_text.splitlines()[0].endswith("MMLU,MT-Bench")

    # The process that fits the leaderboard goes with the server, even on kill -9.
    fitters = [
        pid
        for pid in children(server.process.pid)
        if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    assert len(fitters) == 1
    server.kill()
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in fitters) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in fitters)


def poll_leaderboard(url: str, done, seconds: float) -> dict:
    """The leaderboard once `done(answer)` holds, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        answer = httpx.get(url + "/api/leaderboard").json()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_fits_are_spaced_by_the_minimum_gap_or_their_share_of_a_core():
    settings = ArenaSettings(leaderboard_min_gap_s=2, leaderboard_cpu_share=0.25)
    leaderboard = LiveLeaderboard("sqlite://", settings, dict, PairSampler(SamplingPolicy()))
    assert leaderboard.spacing(0.05, first=False) == 2  # small fits: the minimum gap
    assert leaderboard.spacing(3.0, first=False) == 12  # 3 s of fitting in every 12 s
    assert leaderboard.spacing(8.0, first=True) == 2  # a first fit's full read is not repeated
    with pytest.raises(ValidationError, match="leaderboard_cpu_share"):
        ArenaSettings(leaderboard_cpu_share=0)


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
