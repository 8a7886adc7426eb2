"""Helpers for the judge tests: small question and answer sets on disk, scripts for the
scripted judge, and running `modelarena` commands in-process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from modelarena.cli import app

from .scripted import user_text

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MODELS = ("alpha", "beta", "gamma")
CATEGORIES = ("writing", "math", "coding", "roleplay")
_MARKER = re.compile(r"<(\w+)-says-(\w+)-turn-(\d)>")


def marker(model: str, question: str, turn: int) -> str:
    return f"<{model}-says-{question}-turn-{turn}>"


def write_set(root: Path, models: tuple[str, ...] = MODELS, questions: int = 4) -> Path:
    """root/question.jsonl (two turns each) and root/model_answer/<model>.jsonl whose
    answers carry a marker naming model, question and turn; returns the answer directory."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "question.jsonl").open("w") as handle:
        for index in range(questions):
            handle.write(
                json.dumps(
                    {
                        "question_id": f"q{index}",
                        "category": CATEGORIES[index % len(CATEGORIES)],
                        "turns": [f"Question {index}, part one?", f"Question {index}, part two?"],
                    }
                )
                + "\n"
            )
    answers = root / "model_answer"
    answers.mkdir(exist_ok=True)
    for model in models:
        with (answers / f"{model}.jsonl").open("w") as handle:
            for index in range(questions):
                padding = "word " * (3 + 2 * MODELS.index(model))
                turns = [f"{marker(model, f'q{index}', t)} {padding}" for t in (1, 2)]
                handle.write(
                    json.dumps(
                        {
                            "question_id": f"q{index}",
                            "model_id": model,
                            "choices": [{"index": 0, "turns": turns}],
                        }
                    )
                    + "\n"
                )
    return answers


def shown_models(body: dict[str, Any]) -> list[str]:
    """Models whose answers a judge request shows, in order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in _MARKER.finditer(user_text(body))))


def prefer_in_order(ranking: tuple[str, ...] = MODELS, strong: int = 2):
    """A pairwise script: the better-ranked model wins; by `strong` or more places, strongly."""

    def script(body: dict[str, Any]) -> str:
        a, b = shown_models(body)[:2]
        gap = ranking.index(b) - ranking.index(a)
        sign = ">>" if abs(gap) >= strong else ">"
        return f"Reasoning... [[A{sign}B]]" if gap > 0 else f"Reasoning... [[B{sign}A]]"

    return script


def invoke(*args: str) -> Any:
    """Run `modelarena ARGS` in this process; returns the click Result."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
