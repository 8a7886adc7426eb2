"""What the training tests share: the shared data's place, the bundled SmolLM2's name and
configuration, the command line run as a user runs it, and battle records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelarena.config import load_default_models

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mt_bench"
SMOLLM = "smollm2-135m-instruct"


def modelarena(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modelarena.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


def smollm():
    return next(m for m in load_default_models() if m.name == SMOLLM)


def battle(number: int, winner: str, **changes) -> dict:
    """A FastChat battle record of models alpha and beta on "question N"."""
    record = {
        "question_id": f"q{number}",
        "model_a": "alpha",
        "model_b": "beta",
        "winner": winner,
        "tstamp": 1_700_000_000 + number,
        "anony": True,
        "conversation_a": [{"role": "user", "content": f"question {number}"},
                           {"role": "assistant", "content": f"alpha answers {number}"}],
        "conversation_b": [{"role": "user", "content": f"question {number}"},
                           {"role": "assistant", "content": f"beta answers {number}"}],
    }  # fmt: skip
    return {**record, **changes}


def first_turns(chars: int) -> list[tuple[str, str]]:
    """MT-Bench's first questions with GPT-4's first answers cut to about `chars`
    characters at a word boundary."""
    questions = [json.loads(line) for line in (SHARED / "question.jsonl").open()]
    answers = {}
    for line in (SHARED / "model_answer" / "gpt-4.jsonl").open():
        record = json.loads(line)
        answers[record["question_id"]] = record["choices"][0]["turns"][0]
    return [(q["turns"][0], answers[q["question_id"]][:chars].rsplit(" ", 1)[0]) for q in questions]
