"""MT-Bench reproduced: with MT-Bench's own question, answer, reference and judge prompt
files (../shared/data/mt_bench), every request the judge receives is exactly the original
template filled in with str.format, the template chosen as MT-Bench chooses it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from .helpers import invoke, read_lines
from .scripted import user_text

QUESTIONS = {81, 111, 121}  # writing; math and coding (graded against references)
MODELS = ("gpt-4", "llama-13b")
NEEDS_REFERENCE = {"math", "reasoning", "coding"}
TEMPLATES = {
    "single": {"single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn"},
    "pairwise-all": {"pair-v2", "pair-math-v1", "pair-v2-multi-turn", "pair-math-v1-multi-turn"},
}


def _subset(source: Path, target: Path) -> None:
    lines = [
        line
        for line in source.read_text().splitlines()
        if json.loads(line)["question_id"] in QUESTIONS
    ]
    target.write_text("\n".join(lines) + "\n")


@pytest.fixture
def answers(mt_bench, tmp_path) -> Path:
    directory = tmp_path / "model_answer"
    directory.mkdir()
    for model in MODELS:
        _subset(mt_bench / "model_answer" / f"{model}.jsonl", directory / f"{model}.jsonl")
    return directory


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _expected(mt_bench: Path, pairwise: bool) -> Counter:
    """MT-Bench's requests, built independently from its files."""
    templates = {t["name"]: t for t in _lines(mt_bench / "judge_prompts.jsonl")}
    questions = {q["question_id"]: q for q in _lines(mt_bench / "question.jsonl")}
    references = {
        r["question_id"]: r["choices"][0]["turns"]
        for r in _lines(mt_bench / "reference_answer" / "gpt-4.jsonl")
    }
    answers = {
        m: {
            a["question_id"]: a["choices"][0]["turns"]
            for a in _lines(mt_bench / "model_answer" / f"{m}.jsonl")
        }
        for m in MODELS
    }
    expected: Counter = Counter()
    for qid in QUESTIONS:
        question = questions[qid]
        math = question["category"] in NEEDS_REFERENCE
        q = question["turns"]
        ref = references.get(qid) if math else None
        groups = [MODELS, MODELS[::-1]] if pairwise else [(m,) for m in MODELS]
        for group in groups:
            for turn in (1, 2):
                kwargs = {}
                if pairwise:
                    a, b = answers[group[0]][qid], answers[group[1]][qid]
                    name = "pair-math-v1" if math else "pair-v2"
                    if turn == 1:
                        kwargs = {"question": q[0], "answer_a": a[0], "answer_b": b[0]}
                    else:
                        kwargs = {
                            "question_1": q[0],
                            "question_2": q[1],
                            "answer_a_1": a[0],
                            "answer_a_2": a[1],
                            "answer_b_1": b[0],
                            "answer_b_2": b[1],
                        }
                else:
                    a = answers[group[0]][qid]
                    name = "single-math-v1" if math else "single-v1"
                    if turn == 1:
                        kwargs = {"question": q[0], "answer": a[0]}
                    else:
                        kwargs = {
                            "question_1": q[0],
                            "question_2": q[1],
                            "answer_1": a[0],
                            "answer_2": a[1],
                        }
                if ref:
                    kwargs["ref_answer_1"] = ref[0]
                    if turn == 2:
                        kwargs["ref_answer_2"] = ref[1]
                template = templates[name + ("-multi-turn" if turn == 2 else "")]
                expected[
                    (template["system_prompt"], template["prompt_template"].format(**kwargs))
                ] += 1
    return expected


@pytest.mark.parametrize("mode", ["single", "pairwise-all"])
def test_requests_equal_the_filled_mt_bench_templates(mt_bench, answers, scripted_judge, mode):
    judge = scripted_judge(
        lambda body: "[[A]]" if "Assistant B" in user_text(body) else "Rating: [[6]]"
    )
    result = invoke(
        "judge",
        "run",
        "--mode",
        mode,
        "--judge-model",
        "gpt-4",
        "--judge-endpoint",
        judge.url,
        "--answers",
        answers,
        "--questions",
        mt_bench / "question.jsonl",
        "--reference",
        mt_bench / "reference_answer" / "gpt-4.jsonl",
        "--prompts",
        mt_bench / "judge_prompts.jsonl",
    )
    assert result.exit_code == 0, result.output
    received = Counter(tuple(m["content"] for m in body["messages"]) for body in judge.requests)
    assert all(len(key) == 2 for key in received)  # a system prompt, then the user prompt
    assert received == _expected(mt_bench, mode != "single")
    assert {body["temperature"] for body in judge.requests} == {0.0}

    kind = "single" if mode == "single" else "pair"
    records = read_lines(answers.parent / "model_judgment" / f"gpt-4_judge_prompts_{kind}.jsonl")
    assert len(records) == len(judge.requests) == sum(received.values())
    assert {r["prompt"] for r in records} == TEMPLATES[mode]
