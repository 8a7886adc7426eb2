"""Battles stored in SQLite and in the machine's real PostgreSQL: votes committed before
they are acknowledged, FastChat export that the rating command reads, import back, and
benchmark scores on the leaderboard, and the leaderboard's fitting process ending with a
killed server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
            "db_url": db_url,
            "arena": {"leaderboard_every_votes": 1, "leaderboard_min_gap_s": 0},
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
    for _ in range(100):
        answer = httpx.get(server.url + "/api/leaderboard").json()
        if answer["votes"] == 6 and answer["benchmarks"]:
            break
        time.sleep(0.1)
    assert answer["benchmarks"] == ["MMLU", "MT-Bench"]
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
