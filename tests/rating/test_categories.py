"""Built-in categories on real prompts (MT-Bench, read from ../shared/data) and on examples."""

from __future__ import annotations

import json

from modelarena.rating.categories import detect_language, is_code, is_long, is_math


def _questions(shared_data) -> list[dict]:
    path = shared_data / "mt_bench" / "question.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_code_and_math_rules_on_mt_bench(shared_data):
    by_category: dict[str, list[str]] = {}
    for question in _questions(shared_data):
        by_category.setdefault(question["category"], []).append(question["turns"][0])
    no_answers = ("", "")
    assert sum(is_code(p, no_answers) for p in by_category["coding"]) >= 9
    assert sum(is_math(p) for p in by_category["math"]) >= 8
    prose = by_category["writing"] + by_category["roleplay"] + by_category["humanities"]
    assert sum(is_code(p, no_answers) for p in prose) == 0
    assert sum(is_math(p) for p in prose) <= 4


def test_code_is_also_recognised_from_both_answers():
    fenced = "Here:\n```\nx = 1\n```"
    assert is_code("Can you help me?", (fenced, fenced))
    assert not is_code("Can you help me?", (fenced, "No code here."))


def test_languages():
    assert detect_language("What is the capital of France?") == "English"
    assert detect_language("¿Cuál es la capital de Francia? Quiero saber la respuesta") == "Spanish"
    assert detect_language("Quelle est la capitale de la France ? Je ne sais pas") == "French"
    assert detect_language("Was ist die Hauptstadt von Frankreich? Ich weiß es nicht") == "German"
    assert detect_language("法国的首都是哪里？") == "Chinese"
    assert detect_language("フランスの首都はどこですか") == "Japanese"
    assert detect_language("프랑스의 수도는 어디입니까?") == "Korean"
    assert detect_language("Какая столица Франции?") == "Russian"
    assert detect_language("12345 !!!") == "unknown"


def test_long_prompts():
    assert is_long(500) and not is_long(499)
