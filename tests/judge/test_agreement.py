"""`judge agreement` and `judge from-battles`: judges against human votes from a battle
file or the arena database (SQLite and PostgreSQL), with and without ties, Cohen's κ, per
category, and judge against judge; the loop battles -> judge -> agreement closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelarena.judge.agreement import cohen_kappa, metrics
from modelarena.store import repo
from modelarena.store.db import Database

from .arena_db import add_battle
from .helpers import invoke, marker, prefer_in_order, read_lines

# (question, model_a, model_b, human winner, turns, extra columns). The scripted judge
# prefers alpha > beta > gamma; the comments say whether the human agrees.
BATTLES = [
    ("c1", "alpha", "beta", "model_a", 1, {"category": "writing"}),  # agrees
    ("c1", "alpha", "beta", "model_b", 1, {"category": "writing"}),  # a second voter: no
    ("c2", "gamma", "alpha", "model_b", 1, {"math": True, "coding": False}),  # agrees
    ("c3", "beta", "gamma", "tie", 1, {}),  # human tie
    ("c4", "gamma", "beta", "model_a", 2, {}),  # no (turn 2)
    ("c5", "alpha", "gamma", "tie (bothbad)", 1, {}),  # human tie
]


def _conversation(model: str, question: str, turns: int) -> list[dict]:
    messages = []
    for turn in range(1, turns + 1):
        messages += [
            {"role": "user", "content": f"Prompt {question}.{turn}"},
            {"role": "assistant", "content": marker(model, question, turn)},
        ]
    return messages


def battle_file(path: Path) -> Path:
    records = [
        {
            "question_id": q,
            "model_a": a,
            "model_b": b,
            "winner": w,
            "turn": t,
            "judge": f"voter{i}",
            "anony": True,
            "tstamp": 1.7e9 + i,
            "conversation_a": _conversation(a, q, t),
            "conversation_b": _conversation(b, q, t),
            **extra,
        }
        for i, (q, a, b, w, t, extra) in enumerate(BATTLES)
    ]
    path.write_text(json.dumps(records))
    return path


def _judge(directory: Path, judge, name: str) -> Path:
    out = directory / f"{name}.jsonl"
    result = invoke(
        "judge",
        "run",
        "--mode",
        "pairwise-all",
        "--judge-model",
        name,
        "--judge-endpoint",
        judge.url,
        "--answers",
        directory / "model_answer",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    return out


def test_kappa_and_agreement_by_hand():
    items = [("1", "1"), ("1", "2"), ("2", "2"), ("2", "2"), ("tie", "tie"), ("1", "tie")]
    result = metrics(items)
    assert result["agreement"] == pytest.approx(4 / 6)
    # p_e = (3·1 + 2·3 + 1·2) / 36 = 11/36; κ = (24/36 − 11/36) / (25/36)
    assert result["kappa"] == pytest.approx(13 / 25)
    assert result["items_without_ties"] == 4
    assert result["agreement_without_ties"] == pytest.approx(3 / 4)
    assert result["kappa_without_ties"] == pytest.approx(0.5)  # p_e = (2·1 + 2·3)/16
    assert cohen_kappa([("1", "1"), ("1", "1")]) is None  # undefined, not 1 or 0
    assert cohen_kappa([]) is None


def test_battle_file_to_judge_to_agreement(tmp_path, scripted_judge):
    votes = battle_file(tmp_path / "battles.json")
    made = invoke("judge", "from-battles", votes, "--out", tmp_path)
    assert made.exit_code == 0, made.output
    questions = {q["question_id"]: q for q in read_lines(tmp_path / "question.jsonl")}
    assert questions["c4"]["turns"] == ["Prompt c4.1", "Prompt c4.2"]
    assert questions["c1"]["category"] == "writing"
    gamma = {a["question_id"]: a for a in read_lines(tmp_path / "model_answer" / "gamma.jsonl")}
    assert set(gamma) == {"c2", "c3", "c4", "c5"}
    assert gamma["c4"]["choices"][0]["turns"] == [
        marker("gamma", "c4", 1),
        marker("gamma", "c4", 2),
    ]

    judge = scripted_judge(prefer_in_order())
    judgments = _judge(tmp_path, judge, "ranker")
    # Only the pairs voters saw are judged: c1..c5 one pair each, c4 on two turns.
    assert len(judge.requests) == 2 * 6

    result = invoke(
        "judge", "agreement", "--judgments", judgments, "--votes", votes, "--format", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {row["category"]: row for row in data["comparisons"]}
    overall = rows["all"]
    assert (overall["first"], overall["second"]) == ("ranker", "human")
    assert overall["keys"] == 5 and overall["items"] == 6
    assert overall["agreement"] == pytest.approx(2 / 6)
    assert overall["kappa"] == pytest.approx(0.0)  # the judge always names model_1
    assert overall["items_without_ties"] == 4
    assert overall["agreement_without_ties"] == pytest.approx(2 / 4)
    assert rows["writing"]["items"] == 2 and rows["writing"]["agreement"] == 0.5
    assert rows["math"]["items"] == 1 and rows["math"]["agreement"] == 1.0
    assert "coding" not in rows
    assert rows["general"]["items"] == 3 and rows["general"]["agreement"] == 0.0
    assert data["unmatched"] == {
        "ranker pairs without votes": 1,  # c4 turn 1
        "votes without ranker pairs": 0,
    }

    table = invoke("judge", "agreement", "--judgments", judgments, "--votes", votes)
    assert table.exit_code == 0 and "ranker" in table.stdout and "human" in table.stdout


def test_judge_against_judge(tmp_path, scripted_judge):
    battle_file(tmp_path / "battles.json")
    assert (
        invoke("judge", "from-battles", tmp_path / "battles.json", "--out", tmp_path).exit_code == 0
    )
    ranker = _judge(tmp_path, scripted_judge(prefer_in_order()), "ranker")
    reverse = _judge(
        tmp_path, scripted_judge(prefer_in_order(("gamma", "beta", "alpha"))), "reverse"
    )
    ties = _judge(tmp_path, scripted_judge(lambda body: "[[A=B]]"), "fence-sitter")
    result = invoke(
        "judge",
        "agreement",
        "--judgments",
        ranker,
        "--judgments",
        reverse,
        "--judgments",
        ties,
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    rows = {
        (r["first"], r["second"]): r
        for r in json.loads(result.stdout)["comparisons"]
        if r["category"] == "all"
    }
    assert set(rows) == {
        ("fence-sitter", "ranker"),
        ("fence-sitter", "reverse"),
        ("ranker", "reverse"),
    }
    assert rows[("ranker", "reverse")]["keys"] == 6
    assert rows[("ranker", "reverse")]["agreement"] == 0.0
    assert rows[("fence-sitter", "ranker")]["agreement"] == 0.0
    assert rows[("fence-sitter", "ranker")]["items_without_ties"] == 0
    assert rows[("fence-sitter", "ranker")]["agreement_without_ties"] is None


def test_agreement_needs_votes_or_two_judges(tmp_path, scripted_judge):
    battle_file(tmp_path / "battles.json")
    invoke("judge", "from-battles", tmp_path / "battles.json", "--out", tmp_path)
    judgments = _judge(tmp_path, scripted_judge(prefer_in_order()), "ranker")
    result = invoke("judge", "agreement", "--judgments", judgments)
    assert result.exit_code == 1
    assert "give --votes, or judgments of two or more judges" in result.output


def test_arena_database_votes_close_the_loop(tmp_path, scripted_judge, arena_url):
    db = Database(arena_url)
    db.migrate()
    try:
        for question, a, b, winner, turns, _ in BATTLES:
            if question == "c1" and winner == "model_b":
                continue  # the arena keeps one vote per battle
            prompts = [
                (f"Prompt {question}.{t}", marker(a, question, t), marker(b, question, t))
                for t in range(1, turns + 1)
            ]
            add_battle(db, question, a, b, prompts, winner)
        add_battle(db, "unvoted", "alpha", "beta", [("Prompt u", "x", "y")], None)
        repo.save_prompt_label(db, "c2", "labeller", {"math": True, "coding": False}, "{}")
    finally:
        db.close()
    made = invoke("judge", "from-battles", arena_url, "--out", tmp_path)
    assert made.exit_code == 0, made.output
    assert "5 questions" in made.output  # voted battles only
    judgments = _judge(tmp_path, scripted_judge(prefer_in_order()), "ranker")
    result = invoke(
        "judge", "agreement", "--judgments", judgments, "--votes", arena_url, "--format", "json"
    )
    assert result.exit_code == 0, result.output
    rows = {r["category"]: r for r in json.loads(result.stdout)["comparisons"]}
    assert rows["all"]["items"] == 5 and rows["all"]["agreement"] == pytest.approx(2 / 5)
    assert rows["all"]["agreement_without_ties"] == pytest.approx(2 / 3)
    assert rows["math"]["items"] == 1 and rows["math"]["agreement"] == 1.0
