"""Prompt files: our shipped sets (in our own words), what a template's fields make it
judge, refused templates, and filling them in (MT-Bench's exact filling is in
test_mt_bench.py)."""

from __future__ import annotations

import json
import re

import pytest

from modelarena.judge.errors import JudgeError
from modelarena.judge.prompts import SHIPPED, fields, load_prompts, shipped_sets


def _file(tmp_path, *templates):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in templates))
    return path


def test_default_prompts_cover_every_kind_reference_and_turn():
    prompts = load_prompts()
    assert prompts.name == "default"
    for kind, stem in (("single", "grade"), ("pairwise", "compare")):
        assert prompts.pick(kind, False, 1).name == stem
        assert prompts.pick(kind, True, 1).name == f"{stem}-reference"
        for turn in (2, 3, 7):
            assert prompts.pick(kind, False, turn).name == f"{stem}-dialogue"
            assert prompts.pick(kind, True, turn).name == f"{stem}-dialogue-reference"


def test_the_arena_hard_style_set_is_pairwise_and_has_the_judge_answer_first():
    assert shipped_sets() == ["arena-hard-style", "default"]
    prompts = load_prompts("arena-hard-style")
    assert prompts.name == "arena-hard-style"
    stem = "solve-then-compare"
    assert prompts.pick("pairwise", False, 1).name == stem
    assert prompts.pick("pairwise", True, 1).name == f"{stem}-reference"
    for turn in (2, 3):
        assert prompts.pick("pairwise", False, turn).name == f"{stem}-dialogue"
        assert prompts.pick("pairwise", True, turn).name == f"{stem}-dialogue-reference"
    system = prompts.pick("pairwise", False, 1).system
    assert "write your own short answer" in system
    assert all(
        verdict in system for verdict in ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]")
    )
    with pytest.raises(JudgeError, match="has no single template for turn 1$"):
        prompts.pick("single", False, 1)


def test_an_unknown_prompt_set_names_the_shipped_ones(tmp_path):
    with pytest.raises(
        JudgeError,
        match="no such prompt file: arena-hard; the shipped "
        "prompt sets are arena-hard-style, default",
    ):
        load_prompts("arena-hard")


def _runs_of_words(text: str, length: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + length]) for i in range(len(words) - length + 1)}


def test_shipped_prompts_are_our_own_words(mt_bench):
    """No shipped template shares a run of six words with MT-Bench's judge prompts."""
    theirs = set()
    for line in (mt_bench / "judge_prompts.jsonl").read_text().splitlines():
        record = json.loads(line)
        theirs |= _runs_of_words(record["system_prompt"] + " " + record["prompt_template"], 6)
    for path in SHIPPED.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            ours = _runs_of_words(record["system_prompt"] + " " + record["prompt_template"], 6)
            assert not ours & theirs, (path.name, record["name"], sorted(ours & theirs)[:3])


def test_a_dialogue_template_shows_every_turn_up_to_the_judged_one():
    template = load_prompts().pick("pairwise", True, 3)
    values = fields(
        ("q1", "q2", "q3", "q4"),
        3,
        {"a": ("a1", "a2", "a3", "a4"), "b": ("b1", "b2", "b3", "b4")},
        ("r1", "r2", "r3", "r4"),
    )
    system, user = (m["content"] for m in template.messages(values))
    assert "turn 3" in system
    for text in ("q1", "q2", "q3", "a1", "a2", "a3", "b1", "b2", "b3", "r1", "r2", "r3"):
        assert text in user
    assert "q4" not in user and "a4" not in user and "r4" not in user
    assert user.index("a3") < user.index("b1")  # A's conversation comes first


def test_mt_bench_prompts_judge_turns_one_and_two_only(mt_bench):
    prompts = load_prompts(mt_bench / "judge_prompts.jsonl")
    assert prompts.name == "judge_prompts"
    assert prompts.pick("single", False, 2).name == "single-v1-multi-turn"
    assert prompts.pick("pairwise", True, 2).name == "pair-math-v1-multi-turn"
    with pytest.raises(JudgeError, match="no single template for turn 3"):
        prompts.pick("single", False, 3)


def test_a_single_template_file_judges_what_its_fields_allow(tmp_path):
    prompts = load_prompts(
        _file(
            tmp_path,
            {
                "name": "mine",
                "type": "pairwise",
                "system_prompt": "Judge.",
                "prompt_template": "<Q>{question}</Q><A>{answer_a}</A><B>{answer_b}</B>",
            },
        )
    )
    template = prompts.pick("pairwise", False, 1)
    values = fields(("hello",), 1, {"a": ("x",), "b": ("y",)})
    assert template.messages(values) == [
        {"role": "system", "content": "Judge."},
        {"role": "user", "content": "<Q>hello</Q><A>x</A><B>y</B>"},
    ]
    with pytest.raises(JudgeError, match="no pairwise reference-guided template for turn 1"):
        prompts.pick("pairwise", True, 1)
    with pytest.raises(JudgeError, match="no single template"):
        prompts.pick("single", False, 1)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            {"name": "x", "type": "single", "prompt_template": "{answer_a}"},
            "unknown field(s) answer_a in a single template",
        ),
        (
            {"name": "x", "type": "pairwise", "prompt_template": "{answer}"},
            "unknown field(s) answer in a pairwise template",
        ),
        (
            {"name": "x", "type": "single", "prompt_template": "{qestion}"},
            "unknown field(s) qestion",
        ),
        (
            {"name": "x", "type": "ranking", "prompt_template": "{question}"},
            "`type` must be 'single' or 'pairwise'",
        ),
        (
            {"name": "x", "type": "single", "prompt_template": "{question"},
            "not a valid str.format template",
        ),
        ({"type": "single", "prompt_template": "{question}"}, "`name` must be non-empty text"),
    ],
)
def test_bad_templates_are_refused_when_read(tmp_path, template, message):
    with pytest.raises(JudgeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_prompts(_file(tmp_path, template))
