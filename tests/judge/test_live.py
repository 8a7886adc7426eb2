"""End to end on the real platform: the gateway's bundled models answer two MT-Bench
questions (resumably); the scripted judge grades and compares them; and one of the real
local models, used as a judge, leaves verdicts that do not parse: they are recorded with
their raw text, never dropped or turned into a grade."""

from __future__ import annotations

import json

import pytest

from .helpers import invoke, read_lines, shown_models
from .scripted import user_text

pytestmark = pytest.mark.live

MODELS = ("smollm2-135m-instruct", "gemma-3-270m")
QUESTIONS = {81, 111}  # writing (sampled at 0.7) and math (greedy), two turns each


@pytest.fixture(scope="module")
def bench(mt_bench, default_server, tmp_path_factory):
    """question.jsonl (two MT-Bench questions) and model_answer/ from the real models."""
    root = tmp_path_factory.mktemp("live")
    lines = [
        line
        for line in (mt_bench / "question.jsonl").read_text().splitlines()
        if json.loads(line)["question_id"] in QUESTIONS
    ]
    (root / "question.jsonl").write_text("\n".join(lines) + "\n")
    for model in MODELS:
        result = invoke(
            "judge",
            "answers",
            "--questions",
            root / "question.jsonl",
            "--model",
            model,
            "--endpoint",
            default_server.url + "/v1",
            "--max-tokens",
            "16",
        )
        assert result.exit_code == 0, result.output
        assert f"{model}: 2 answered, 0 already done" in result.output
    return root


def test_answers_come_from_the_real_models_and_resume(bench, default_server):
    for model in MODELS:
        answers = read_lines(bench / "model_answer" / f"{model}.jsonl")
        assert {a["question_id"] for a in answers} == QUESTIONS
        for answer in answers:
            assert answer["model_id"] == model
            turns = answer["choices"][0]["turns"]
            assert len(turns) == 2 and all(isinstance(t, str) for t in turns)
        assert any(t.strip() for a in answers for t in a["choices"][0]["turns"])
        temperatures = {a["question_id"]: a["generation"]["temperature"] for a in answers}
        assert temperatures == {81: 0.7, 111: 0.0}
    before = (bench / "model_answer" / f"{MODELS[0]}.jsonl").read_text()
    again = invoke(
        "judge",
        "answers",
        "--questions",
        bench / "question.jsonl",
        "--model",
        MODELS[0],
        "--endpoint",
        default_server.url + "/v1",
        "--max-tokens",
        "16",
    )
    assert again.exit_code == 0 and "0 answered, 2 already done" in again.output
    assert (bench / "model_answer" / f"{MODELS[0]}.jsonl").read_text() == before


def test_scripted_judge_grades_and_compares_the_real_answers(bench, scripted_judge, tmp_path):
    def script(body):
        if "Reply of A" in user_text(body) or "Conversation with A" in user_text(body):
            return "A is clearer. [[A>B]]"  # always the first position: order-dependent
        return "Reasonable. Rating: [[6]]"

    judge = scripted_judge(script)
    for mode in ("single", "pairwise-all"):
        result = invoke(
            "judge",
            "run",
            "--mode",
            mode,
            "--judge-model",
            "scripted",
            "--judge-endpoint",
            judge.url,
            "--answers",
            bench / "model_answer",
            "--out",
            tmp_path / f"{mode}.jsonl",
        )
        assert result.exit_code == 0, result.output
    single = read_lines(tmp_path / "single.jsonl")
    pairs = read_lines(tmp_path / "pairwise-all.jsonl")
    assert len(single) == 2 * 2 * 2 and {r["score"] for r in single} == {6.0}
    assert len(pairs) == 2 * 2 * 2 and all(r["verdict"] == "A>B" for r in pairs)
    answers = {
        m: {
            a["question_id"]: a["choices"][0]["turns"]
            for a in read_lines(bench / "model_answer" / f"{m}.jsonl")
        }
        for m in MODELS
    }
    for body in judge.requests:  # the judge sees the real answers
        text = user_text(body)
        assert any(turns[0] in text for m in MODELS for turns in answers[m].values())
        assert shown_models(body) == []

    shown = invoke(
        "judge",
        "show",
        tmp_path / "single.jsonl",
        tmp_path / "pairwise-all.jsonl",
        "--format",
        "json",
        "--bootstrap-rounds",
        "0",
    )
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert {row["model"]: row["overall"] for row in report["grades"]} == dict.fromkeys(MODELS, 6.0)
    # Position A always wins: every pair is order-dependent, so every pair is a tie.
    assert all(
        row["ties"] == 4 and row["inconsistent"] == 4 and row["win_rate"] == 0.5
        for row in report["win_rates"]
    )


def test_a_real_local_judge_records_unparseable_verdicts(bench, default_server, tmp_path):
    out = tmp_path / "smol-judge.jsonl"
    result = invoke(
        "judge",
        "run",
        "--mode",
        "single",
        "--judge-model",
        MODELS[0],
        "--judge-endpoint",
        default_server.url + "/v1",
        "--answers",
        bench / "model_answer",
        "--max-tokens",
        "24",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    records = read_lines(out)
    assert len(records) == 2 * 2 * 2  # every verdict asked for is kept
    failures = [r for r in records if r["score"] is None]
    assert failures, "SmolLM2 gave a parseable [[rating]] in 24 tokens every time"
    for record in records:
        assert record["judge"] == MODELS[0] and isinstance(record["raw"], str)
        assert (record["score"] is None) == (record["error"] is not None)
    for record in failures:
        assert "[[" not in record["raw"] or "no [[rating]]" not in record["error"]
    shown = invoke("judge", "show", out, "--format", "json")
    counts = json.loads(shown.stdout)["counts"]
    assert counts["grades"] == 8 and counts["grade_parse_failures"] == len(failures)
