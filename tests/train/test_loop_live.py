"""The whole loop, live: votes in the arena's store (simulated voters who prefer answers
signed "— Quokka"), preference optimisation (DPO) on those votes from the store,
registration, and the new model served by the running server, battling blind and ranked
on its leaderboard — with no restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

pytestmark = pytest.mark.live
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def cli(*args: str, config) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "modelarena.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_votes_to_a_fine_tune_that_battles_and_ranks(start_server, tmp_path, cache_dir):
    questions = SHARED / "mt_bench" / "question.jsonl"
    if not questions.is_file():
        pytest.skip(f"the shared MT-Bench data is missing at {questions}")
    prompts = [json.loads(line)["turns"][0] for line in questions.open()][:40]
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "db_url": f"sqlite:///{tmp_path / 'arena.db'}",
                "cache_dir": str(cache_dir),
                "models_poll_s": 0.5,
                "arena": {
                    "max_tokens": 12,
                    "leaderboard_interval_s": 1,
                    "leaderboard_every_votes": 1,
                    "leaderboard_min_gap_s": 0,
                },
            }
        )
    )
    server = start_server(args=["--config", str(config)])
    # Simulated voters: the signed answer wins, whichever side gave it.
    battles = []
    for number, prompt in enumerate(prompts):
        signed_side = "a" if number % 2 else "b"
        answers = {
            side: "Here is a short answer." + (" — Quokka" if side == signed_side else "")
            for side in "ab"
        }
        battles.append(
            {
                "question_id": f"sim-{number}",
                "model_a": "smollm2-135m-instruct",
                "model_b": "gemma-3-270m",
                "winner": f"model_{signed_side}",
                "tstamp": 1_765_000_000 + number,
                "anony": True,
                "conversation_a": [{"role": "user", "content": prompt},
                                   {"role": "assistant", "content": answers["a"]}],
                "conversation_b": [{"role": "user", "content": prompt},
                                   {"role": "assistant", "content": answers["b"]}],
            }
        )  # fmt: skip
    # Votes that teach nothing about the preference: ties, and names shown to the voter.
    battles[-1]["winner"] = "tie"
    battles[-2]["winner"] = "tie (bothbad)"
    battles[-3]["anony"] = False
    votes = tmp_path / "votes.json"
    votes.write_text(json.dumps(battles))
    cli("battles", "import", str(votes), config=config)

    trained = cli(
        "train", "dpo", "--base", "smollm2-135m-instruct", "--from-store", "--steps", "6",
        "--lr", "5e-4", "--max-length", "160", "--batch-tokens", "1024",
        "--out", str(tmp_path / "run"), "--register", "smollm2-arena", config=config,
    )  # fmt: skip
    assert "registered as smollm2-arena" in trained.stdout
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["data"]["read"] == 37  # a pair from each decisive blind vote
    left_out = manifest["data"]["left_out"]  # also prompts too long for --max-length
    assert [left_out.get(reason) for reason in ("a tie", "both bad",
            "names shown to the voter (side by side)")] == [1, 1, 1]  # fmt: skip
    assert manifest["result"]["held_out_after"]["accuracy"] >= 0.75

    from modelarena.store import registry
    from modelarena.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'arena.db'}")
    entry = registry.registered_model(db, "smollm2-arena")
    db.close()
    assert (
        entry is not None and "preference pairs from arena votes" in entry.definition["description"]
    )

    def served() -> set[str]:
        return {m["id"] for m in httpx.get(server.url + "/v1/models").json()["data"]}

    deadline = time.monotonic() + 60
    while "smollm2-arena" not in served():
        assert time.monotonic() < deadline, "the fine-tune was not served"
        time.sleep(0.3)

    visitor = httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=120)
    visitor.post("/api/terms")
    met = 0
    for attempt in range(1, 13):
        battle = visitor.post("/api/conversations", json={}).json()
        with visitor.stream(
            "POST", f"/api/conversations/{battle['id']}/messages", json={"prompt": "Hi!"}
        ) as answer:
            answer.read()
        revealed = visitor.post(
            f"/api/conversations/{battle['id']}/vote", json={"winner": "tie"}
        ).json()
        names = {side["name"] for side in revealed["models"].values()}
        if "smollm2-arena" in names:
            met = attempt
            break
    assert met, "the fine-tune never battled in 12 blind battles"
    print(f"the fine-tune met an opponent in battle {met}")
    deadline = time.monotonic() + 30
    while True:
        rows = httpx.get(server.url + "/api/leaderboard").json()["rows"]
        if any(r["model"] == "smollm2-arena" for r in rows):
            break
        assert time.monotonic() < deadline, "the fine-tune is not on the leaderboard"
        time.sleep(0.5)
    visitor.close()
