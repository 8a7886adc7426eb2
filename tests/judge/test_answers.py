"""`judge answers` with a scripted endpoint, and the question and answer formats: the
dialogue kept across turns, MT-Bench's temperatures by category (or a file), resumable
runs, retried and failed answers, and the real MT-Bench and Arena-Hard files."""

from __future__ import annotations

import json
import re

import pytest

from modelarena.judge.answers import read_answers, read_references
from modelarena.judge.errors import JudgeError
from modelarena.judge.questions import read_questions

from .helpers import invoke, read_lines

QUESTIONS = [
    {"question_id": 1, "category": "writing", "turns": ["Write a haiku.", "Now another."]},
    {"question_id": 2, "category": "math", "turns": ["What is 2+2?"]},
    {"question_id": 3, "category": "stem", "turns": ["Define entropy.", "Shorter.", "Shortest."]},
]


def _echo(body):
    """Reply with how many messages were sent and the last user text."""
    return f"{len(body['messages'])}:{body['messages'][-1]['content']}"


def _questions(tmp_path, questions=QUESTIONS):
    path = tmp_path / "question.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions))
    return path


def _answers(path, judge, *extra):
    return invoke(
        "judge",
        "answers",
        "--questions",
        path,
        "--model",
        "m",
        "--endpoint",
        judge.url,
        "--retries",
        "0",
        *extra,
    )


def test_every_turn_is_answered_in_one_dialogue(tmp_path, scripted_judge):
    judge = scripted_judge(_echo)
    result = _answers(_questions(tmp_path), judge, "--max-tokens", "16")
    assert result.exit_code == 0, result.output
    assert "m: 3 answered, 0 already done" in result.output
    assert "answers of m" in result.stderr and "3/3" in result.stderr  # the Rich progress bar
    answers = {a["question_id"]: a for a in read_lines(tmp_path / "model_answer" / "m.jsonl")}
    assert answers[3]["choices"][0]["turns"] == ["1:Define entropy.", "3:Shorter.", "5:Shortest."]
    assert answers[1]["model_id"] == "m"
    last = max((b for b in judge.requests if len(b["messages"]) == 5), key=len)
    assert [m["role"] for m in last["messages"]] == ["user", "assistant"] * 2 + ["user"]
    assert last["messages"][1]["content"] == "1:Define entropy."
    temperatures = {b["messages"][0]["content"]: b["temperature"] for b in judge.requests}
    assert temperatures == {"Write a haiku.": 0.7, "What is 2+2?": 0.0, "Define entropy.": 0.1}
    assert {b["max_tokens"] for b in judge.requests} == {16}


def test_temperatures_from_a_file_or_one_for_all(tmp_path, scripted_judge):
    judge = scripted_judge(_echo)
    table = tmp_path / "temperatures.yaml"
    table.write_text("math: 0.3\ndefault: 0.5\n")
    assert _answers(_questions(tmp_path), judge, "--temperatures", table).exit_code == 0
    assert {
        b["messages"][-1]["content"]: b["temperature"]
        for b in judge.requests
        if len(b["messages"]) == 1
    } == {"Write a haiku.": 0.5, "What is 2+2?": 0.3, "Define entropy.": 0.5}
    judge.requests.clear()
    out = tmp_path / "elsewhere"
    assert (
        _answers(_questions(tmp_path), judge, "--temperature", "0.9", "--out", out).exit_code == 0
    )
    assert {b["temperature"] for b in judge.requests} == {0.9}
    assert (out / "m.jsonl").is_file()


def test_answers_resume_and_failures_are_retried_later(tmp_path, scripted_judge):
    judge = scripted_judge(lambda b: (503, "busy") if "Shorter" in str(b["messages"]) else _echo(b))
    path = _questions(tmp_path)
    failed = _answers(path, judge)
    assert failed.exit_code == 1
    assert "2 answered, 0 already done" in failed.output
    assert "1 failed (first: question 3: 503: busy" in failed.output
    judge.script = _echo
    judge.requests.clear()
    again = _answers(path, judge)
    assert again.exit_code == 0 and "1 answered, 2 already done" in again.output
    assert {b["messages"][0]["content"] for b in judge.requests} == {"Define entropy."}
    assert len(read_lines(tmp_path / "model_answer" / "m.jsonl")) == 3
    judge.requests.clear()
    assert "0 answered, 3 already done" in _answers(path, judge).output
    assert judge.requests == []


def test_arena_hard_questions_get_arena_hard_answers(tmp_path, scripted_judge):
    judge = scripted_judge(_echo)
    path = _questions(
        tmp_path,
        [{"uid": "abc", "category": "arena-hard-v0.1", "cluster": "x", "prompt": "Explain SCIM."}],
    )
    assert _answers(path, judge).exit_code == 0
    (answer,) = read_lines(tmp_path / "model_answer" / "m.jsonl")
    assert answer["question_id"] == "abc"
    assert answer["choices"][0]["turns"] == [{"content": "1:Explain SCIM."}]
    assert read_answers(tmp_path / "model_answer") == {"m": {"abc": ("1:Explain SCIM.",)}}


def test_real_mt_bench_and_arena_hard_files(mt_bench, arena_hard):
    questions = read_questions(mt_bench / "question.jsonl")
    assert len(questions) == 80 and all(len(q.turns) == 2 for q in questions)
    assert questions[0].id == 81 and questions[0].key == "81"
    answers = read_answers(mt_bench / "model_answer")
    assert set(answers) == {"gpt-4", "vicuna-13b-v1.3", "llama-13b"}
    assert all(len(a) == 80 for a in answers.values())
    references = read_references(mt_bench / "reference_answer" / "gpt-4.jsonl")
    assert len(references) == 30 and len(references["101"]) == 2

    hard = read_questions(arena_hard / "question.jsonl")
    assert len(hard) == 500 and all(len(q.turns) == 1 for q in hard)
    hard_answers = read_answers(arena_hard / "model_answer")
    assert set(hard_answers) == {"gpt-4-0314", "gpt-3.5-turbo-0125", "llama-2-70b-chat"}
    assert all(text for text in hard_answers["gpt-4-0314"][hard[0].key])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question_id": 1}', "needs `turns` (MT-Bench) or `prompt` (Arena-Hard)"),
        ('{"turns": ["a"]}', "needs `question_id` (MT-Bench) or `uid` (Arena-Hard)"),
        ('{"question_id": 1, "turns": []}', "one or more non-empty text turns"),
        (
            '{"question_id": 1, "turns": ["a"]}\n{"question_id": 1, "turns": ["b"]}',
            "question id 1 appears more than once",
        ),
        ('{"question_id": 1, "turns": ["a"]}\nnot json', "line 2: not valid JSON"),
    ],
)
def test_bad_question_files_are_explained(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_text(content + "\n")
    with pytest.raises(JudgeError, match=re.escape(message)):
        read_questions(path)
