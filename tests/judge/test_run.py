"""`judge run` with our default prompts and the scripted judge: what each mode asks, both
orders of every pair, turn 2 with the whole dialogue, references, parse failures kept with
their raw text, and re-runs that only make the missing calls."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from modelarena.judge.answers import read_answers

from .helpers import MODELS, invoke, marker, prefer_in_order, read_lines, shown_models, write_set
from .scripted import user_text


def _run(answers, judge, mode, *extra):
    return invoke(
        "judge",
        "run",
        "--mode",
        mode,
        "--judge-model",
        "scripted",
        "--judge-endpoint",
        judge.url,
        "--answers",
        answers,
        "--retries",
        "0",
        *extra,
    )


def test_single_grades_every_turn_and_keeps_failures(tmp_path, scripted_judge):
    answers = write_set(tmp_path / "bench")
    # The judge cannot decide about question q1; it grades everything else 7.
    judge = scripted_judge(
        lambda b: (
            "Hmm, hard to say." if "Question 1," in user_text(b) else "Good answer. Rating: [[7]]"
        )
    )
    result = _run(answers, judge, "single")
    assert result.exit_code == 0, result.output
    assert "24 judgments written (6 without a readable verdict" in result.output
    assert "judging with scripted" in result.stderr and "24/24" in result.stderr  # Rich bar
    path = tmp_path / "bench" / "model_judgment" / "scripted_default_single.jsonl"
    records = read_lines(path)
    assert Counter((r["model"], r["turn"]) for r in records) == {
        (m, t): 4 for m in MODELS for t in (1, 2)
    }
    failed = [r for r in records if r["score"] is None]
    assert {r["question_id"] for r in failed} == {"q1"}
    for record in failed:
        assert record["raw"] == "Hmm, hard to say."
        assert "no [[rating]]" in record["error"]
        assert record["judge"] == "scripted" and record["prompts"] == "default"
    assert {r["score"] for r in records if r["score"] is not None} == {7.0}
    assert {r["prompt"] for r in records} == {"grade", "grade-dialogue"}

    again = _run(answers, judge, "single")
    assert again.exit_code == 0
    assert "0 judgments written" in again.output and "24 already done" in again.output
    assert len(judge.requests) == 24


def test_turn_two_is_judged_with_the_whole_dialogue(tmp_path, scripted_judge):
    answers = write_set(tmp_path / "bench", models=("alpha",), questions=1)
    judge = scripted_judge(lambda b: "[[5]]")
    assert _run(answers, judge, "single").exit_code == 0
    turn_one, turn_two = sorted(judge.requests, key=lambda b: len(user_text(b)))
    assert marker("alpha", "q0", 2) not in user_text(turn_one)
    text = user_text(turn_two)
    for needle in (
        "Question 0, part one?",
        marker("alpha", "q0", 1),
        "Question 0, part two?",
        marker("alpha", "q0", 2),
    ):
        assert needle in text
    assert "turn 2" in turn_two["messages"][0]["content"]


@pytest.mark.parametrize(
    ("mode", "pairs"),
    [
        ("pairwise-baseline", {("alpha", "beta"), ("alpha", "gamma")}),
        ("pairwise-all", {("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")}),
    ],
)
def test_pairwise_judges_both_orders(tmp_path, scripted_judge, mode, pairs):
    answers = write_set(tmp_path / "bench")
    judge = scripted_judge(prefer_in_order())
    extra = ("--baseline", "alpha") if mode == "pairwise-baseline" else ()
    result = _run(answers, judge, mode, *extra)
    assert result.exit_code == 0, result.output
    records = read_lines(tmp_path / "bench" / "model_judgment" / "scripted_default_pair.jsonl")
    games = Counter((r["model_a"], r["model_b"]) for r in records)
    assert games == {order: 8 for a, b in pairs for order in ((a, b), (b, a))}
    for body in judge.requests:  # the request shows model_a's answers first
        assert len(shown_models(body)) == 2
    for record in records:
        better = min(record["model_a"], record["model_b"], key=MODELS.index)
        assert record["verdict"] == ("A" if better == record["model_a"] else "B") + (
            ">>" if {record["model_a"], record["model_b"]} == {"alpha", "gamma"} else ">"
        ) + ("B" if better == record["model_a"] else "A")
        assert record["conv_metadata"]["turns"] == record["turn"]
    assert {r["prompt"] for r in records} == {"compare", "compare-dialogue"}


def test_references_guide_math_and_coding_only(tmp_path, scripted_judge):
    answers = write_set(tmp_path / "bench", models=("alpha",))
    reference = tmp_path / "reference.jsonl"
    reference.write_text(
        "".join(
            json.dumps(
                {
                    "question_id": f"q{i}",
                    "model_id": "teacher",
                    "choices": [{"turns": [f"REF-{i}-1", f"REF-{i}-2"]}],
                }
            )
            + "\n"
            for i in range(4)
        )
    )
    judge = scripted_judge(lambda b: "[[4]]")
    assert _run(answers, judge, "single", "--reference", reference).exit_code == 0
    records = read_lines(tmp_path / "bench" / "model_judgment" / "scripted_default_single.jsonl")
    by_category = {(r["category"], r["turn"]): r["prompt"] for r in records}
    assert by_category == {
        ("writing", 1): "grade",
        ("writing", 2): "grade-dialogue",
        ("roleplay", 1): "grade",
        ("roleplay", 2): "grade-dialogue",
        ("math", 1): "grade-reference",
        ("math", 2): "grade-dialogue-reference",
        ("coding", 1): "grade-reference",
        ("coding", 2): "grade-dialogue-reference",
    }
    with_reference = [b for b in judge.requests if "REF-" in user_text(b)]
    assert len(with_reference) == 4
    assert all(
        "REF-1-1" in user_text(b) and "REF-1-2" in user_text(b)
        for b in with_reference
        if "Question 1, part two?" in user_text(b)
    )


def test_failed_calls_are_not_recorded_and_a_rerun_makes_them(tmp_path, scripted_judge):
    answers = write_set(tmp_path / "bench", models=("alpha",))
    judge = scripted_judge(
        lambda b: (500, "overloaded") if "Question 2," in user_text(b) else "[[6]]"
    )
    failed = _run(answers, judge, "single")
    assert failed.exit_code == 1
    assert "2 judge calls failed (first: 500: overloaded" in failed.output
    path = tmp_path / "bench" / "model_judgment" / "scripted_default_single.jsonl"
    assert len(read_lines(path)) == 6
    judge.script = lambda b: "[[6]]"
    judge.requests.clear()
    assert _run(answers, judge, "single").exit_code == 0
    assert len(judge.requests) == 2
    assert all("Question 2," in user_text(b) for b in judge.requests)
    assert len(read_lines(path)) == 8


def test_a_judgment_file_of_other_prompts_is_refused(tmp_path, scripted_judge, mt_bench):
    answers = write_set(tmp_path / "bench", models=("alpha",), questions=1)
    judge = scripted_judge(lambda b: "[[6]]")
    out = tmp_path / "judgments.jsonl"
    assert _run(answers, judge, "single", "--out", out).exit_code == 0
    result = _run(
        answers, judge, "single", "--out", out, "--prompts", mt_bench / "judge_prompts.jsonl"
    )
    assert result.exit_code == 1
    assert "prompt set 'default', not 'judge_prompts'; give another --out file" in result.output


def test_usage_errors_name_the_problem(tmp_path, scripted_judge):
    answers = write_set(tmp_path / "bench", models=("alpha", "beta"), questions=1)
    judge = scripted_judge(lambda b: "[[6]]")
    missing = _run(answers, judge, "pairwise-baseline")
    assert missing.exit_code == 1 and "needs --baseline MODEL" in missing.output
    unknown = _run(answers, judge, "pairwise-baseline", "--baseline", "omega")
    assert unknown.exit_code == 1
    assert "no answers of omega; answers exist for alpha, beta" in unknown.output
    assert judge.requests == []


def test_answers_of_another_question_set_are_refused(tmp_path, scripted_judge, mt_bench):
    answers = write_set(tmp_path / "bench", models=("alpha",), questions=1)
    judge = scripted_judge(lambda b: "[[6]]")
    result = _run(answers, judge, "single", "--questions", mt_bench / "question.jsonl")
    assert result.exit_code == 1
    assert "nothing to judge: no question of the question file has answers of alpha" in (
        result.output
    )


def test_three_turns_with_mt_bench_prompts_are_refused_before_any_call(
    tmp_path, scripted_judge, mt_bench
):
    answers = write_set(tmp_path / "bench", models=("alpha", "beta"), questions=1)
    questions = tmp_path / "bench" / "question.jsonl"
    questions.write_text(
        json.dumps(
            {"question_id": "long", "category": "writing", "turns": ["one?", "two?", "three?"]}
        )
        + "\n"
    )
    for name in ("alpha", "beta"):
        (answers / f"{name}.jsonl").write_text(
            json.dumps(
                {"question_id": "long", "model_id": name, "choices": [{"turns": ["1", "2", "3"]}]}
            )
            + "\n"
        )
    judge = scripted_judge(lambda b: "[[A]]")
    result = _run(answers, judge, "pairwise-all", "--prompts", mt_bench / "judge_prompts.jsonl")
    assert result.exit_code == 1
    assert (
        "Error: question 'long': prompt set 'judge_prompts' has no pairwise template for "
        "turn 3; a template judges a later turn when it shows the dialogue"
    ) in result.output
    assert "Traceback" not in result.output and judge.requests == []
    # Our prompts judge the third turn with the whole dialogue.
    assert _run(answers, judge, "pairwise-all").exit_code == 0
    assert sorted(len(user_text(b).split("--- user (turn")) - 1 for b in judge.requests) == [
        0,
        0,
        4,
        4,
        6,
        6,
    ]  # turn 1 shows no dialogue; turns 2 and 3 show both dialogues


@pytest.mark.parametrize("prompts", ["default", "arena-hard-style"])
def test_arena_hard_files_judged_against_their_baseline(
    tmp_path, scripted_judge, arena_hard, prompts
):
    """Arena-Hard's own question and answer files (answers as {"content": ...} turns),
    judged against gpt-4-0314 by a judge that ranks gpt-4-0314 > gpt-3.5 > llama-2,
    strongly across two places, except on the first question, where the order reverses;
    with our default prompts and with our Arena-Hard-style set (the judge answers first)."""
    keep = [
        json.loads(line)["uid"]
        for line in (arena_hard / "question.jsonl").read_text().splitlines()[:4]
    ]
    answers = tmp_path / "model_answer"
    answers.mkdir()
    for file in (arena_hard / "model_answer").glob("*.jsonl"):
        lines = [
            line
            for line in file.read_text().splitlines()
            if json.loads(line)["question_id"] in keep
        ]
        (answers / file.name).write_text("\n".join(lines) + "\n")
    read = read_answers(answers)
    owner = {
        texts[0]: (model, key)
        for model, by_question in read.items()
        for key, texts in by_question.items()
    }
    ranking = ["gpt-4-0314", "gpt-3.5-turbo-0125", "llama-2-70b-chat"]

    def judge_script(body):
        text = user_text(body)
        a = text.split("=== Reply of A ===\n")[1].split("\n=== End of reply of A ===")[0]
        b = text.split("=== Reply of B ===\n")[1].split("\n=== End of reply of B ===")[0]
        (model_a, question), (model_b, _) = owner[a], owner[b]
        gap = ranking.index(model_b) - ranking.index(model_a)
        gap = -gap if question == keep[0] else gap
        sign = ">>" if abs(gap) == 2 else ">"
        return f"[[A{sign}B]]" if gap > 0 else f"[[B{sign}A]]"

    judge = scripted_judge(judge_script)
    result = _run(
        answers,
        judge,
        "pairwise-baseline",
        "--baseline",
        "gpt-4-0314",
        "--questions",
        arena_hard / "question.jsonl",
        "--prompts",
        prompts,
    )
    assert result.exit_code == 0, result.output
    assert len(judge.requests) == 2 * 4 * 2  # two models × four questions × both orders
    out = tmp_path / "model_judgment" / f"scripted_{prompts}_pair.jsonl"
    records = read_lines(out)
    assert {r["baseline"] for r in records} == {"gpt-4-0314"}
    assert {r["prompts"] for r in records} == {prompts}
    assert {r["prompt"] for r in records} == {
        "compare" if prompts == "default" else "solve-then-compare"
    }
    shown = invoke("judge", "show", out, "--format", "json", "--bootstrap-rounds", "20")
    assert shown.exit_code == 0, shown.output
    score = json.loads(shown.stdout)["score"]
    rows = {row["model"]: row for row in score["rows"]}
    assert score["baseline"] == "gpt-4-0314" and rows["gpt-4-0314"]["score"] == 0.5
    # gpt-3.5: 3 of 4 questions lost (×2 orders), 1 won: 2 wins of 8 games.
    assert rows["gpt-3.5-turbo-0125"]["score"] == pytest.approx(2 / 8)
    # llama-2: 3 strong losses (×3 weight) and 1 strong win, in both orders.
    assert rows["llama-2-70b-chat"]["score"] == pytest.approx(6 / 24)
