"""`judge answers`: answer every turn of every question through an OpenAI-compatible
endpoint, keeping the dialogue, with a temperature per category; skips finished answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from modelarena.judge.answers import answer_path, answer_record, read_answer_file
from modelarena.judge.client import ChatClient
from modelarena.judge.errors import JudgeError
from modelarena.judge.jsonl import Appender
from modelarena.judge.questions import Question
from modelarena.judge.tasks import run_each

# MT-Bench's sampling temperatures by category; every other category answers greedily.
MT_BENCH_TEMPERATURES = {"writing": 0.7, "roleplay": 0.7, "stem": 0.1, "humanities": 0.1}


@dataclass(frozen=True)
class Temperatures:
    """A temperature per question category, and one for the categories not listed."""

    by_category: Mapping[str, float] = field(default_factory=lambda: dict(MT_BENCH_TEMPERATURES))
    default: float = 0.0

    def of(self, category: str) -> float:
        return self.by_category.get(category, self.default)


def load_temperatures(path: str | Path) -> Temperatures:
    """A YAML or JSON mapping of category to temperature; the key `default` sets the rest."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise JudgeError(f"cannot read temperatures from {path}: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, int | float) and 0 <= v <= 2 for v in data.values()
    ):
        raise JudgeError(f"{path} must map category names to temperatures between 0 and 2")
    values = {str(k): float(v) for k, v in data.items()}
    return Temperatures(values, values.pop("default", 0.0))


@dataclass
class AnswerRun:
    """What a run did: answers already there, answers written, and failures by question."""

    model: str
    path: Path
    skipped: int = 0
    written: int = 0
    failures: dict[str, str] = field(default_factory=dict)


async def generate_answers(
    questions: list[Question],
    model: str,
    out_dir: str | Path,
    client: ChatClient,
    temperatures: Temperatures = Temperatures(),
    max_tokens: int = 1024,
    system_prompt: str | None = None,
) -> AnswerRun:
    """Answer the questions `model` has no complete answer to yet, appending each answer
    to `out_dir/<model>.jsonl` as soon as its last turn is in."""
    path = answer_path(out_dir, model)
    done = read_answer_file(path).get(model, {}) if path.is_file() else {}
    pending = {q.key: q for q in questions if len(done.get(q.key, ())) < len(q.turns)}
    run = AnswerRun(model, path, skipped=len(questions) - len(pending))
    if not pending:
        return run

    async def answer(_key: str, question: Question) -> None:
        temperature = temperatures.of(question.category)
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        turns: list[str] = []
        for prompt in question.turns:
            messages.append({"role": "user", "content": prompt})
            text = await client.chat(
                model, messages, temperature=temperature, max_tokens=max_tokens
            )
            messages.append({"role": "assistant", "content": text})
            turns.append(text)
        generation = {"temperature": temperature, "max_tokens": max_tokens}
        sink.write(answer_record(question, model, turns, generation))
        run.written += 1

    with Appender(path) as sink:
        run.failures = await run_each(pending, answer, f"answers of {model}")
    return run


def describe(run: AnswerRun) -> str:
    """One line for the console."""
    line = f"{run.model}: {run.written} answered, {run.skipped} already done -> {run.path}"
    if run.failures:
        first = next(iter(run.failures.items()))
        line += f"; {len(run.failures)} failed (first: question {first[0]}: {first[1]})"
    return line
