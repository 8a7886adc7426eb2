"""`judge run`: plan the judge calls a mode needs (single grades, or pairwise games in both
orders against a baseline or between all models), make the ones not done yet, store each."""

from __future__ import annotations

import itertools
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelarena.judge.answers import Answers
from modelarena.judge.client import ChatClient
from modelarena.judge.errors import JudgeError
from modelarena.judge.jsonl import Appender
from modelarena.judge.judgments import PAIRWISE, SINGLE, done_keys, judgment_key
from modelarena.judge.prompts import PromptSet, PromptTemplate, fields
from modelarena.judge.questions import Question
from modelarena.judge.tasks import run_each
from modelarena.judge.verdicts import parse_preference, parse_score
from modelarena.rating.style import conversation_metadata

MODES = ("single", "pairwise-baseline", "pairwise-all")
# MT-Bench's categories that are graded against reference answers when references are given.
REFERENCE_CATEGORIES = ("math", "reasoning", "coding")


@dataclass(frozen=True)
class Job:
    """One judge call: a grade of `models[0]`, or a game with models[0] shown as A."""

    kind: str
    question: Question
    turn: int
    models: tuple[str, ...]
    answers: tuple[tuple[str, ...], ...]
    template: PromptTemplate
    reference: tuple[str, ...] | None
    baseline: str | None = None

    def record(self, judge: str, prompts: str) -> dict[str, Any]:
        """The judgment record without its outcome."""
        models = (
            {"model": self.models[0]}
            if self.kind == SINGLE
            else {"model_a": self.models[0], "model_b": self.models[1]}
        )
        return {
            "kind": self.kind,
            "question_id": self.question.id,
            "category": self.question.category,
            "turn": self.turn,
            **models,
            "judge": judge,
            "prompts": prompts,
            "prompt": self.template.name,
            **({"baseline": self.baseline} if self.baseline else {}),
        }

    def messages(self) -> list[dict[str, str]]:
        sides = ("",) if self.kind == SINGLE else ("a", "b")
        values = fields(
            self.question.turns,
            self.turn,
            dict(zip(sides, self.answers, strict=True)),
            self.reference,
        )
        return self.template.messages(values)


def plan(
    mode: str,
    questions: list[Question],
    answers: Answers,
    prompts: PromptSet,
    *,
    references: dict[str, tuple[str, ...]] | None = None,
    reference_categories: Collection[str] = REFERENCE_CATEGORIES,
    baseline: str | None = None,
    models: Collection[str] | None = None,
) -> list[Job]:
    """Every judge call of a mode, turn by turn, for the answers that exist."""
    groups = _groups(mode, answers, models, baseline)
    kind = SINGLE if mode == "single" else PAIRWISE
    recorded_baseline = baseline if mode == "pairwise-baseline" else None
    jobs = []
    for question in questions:
        reference = (references or {}).get(question.key)
        if question.category not in reference_categories:
            reference = None
        for group in groups:
            jobs += _question_jobs(
                kind, question, group, answers, prompts, reference, recorded_baseline
            )
    if not jobs:
        raise JudgeError(
            "nothing to judge: no question of the question file has answers of "
            f"{' and '.join('/'.join(g) for g in groups) or 'two models'}; do --questions "
            "and --answers belong together?"
        )
    return jobs


def _groups(
    mode: str, answers: Answers, models: Collection[str] | None, baseline: str | None
) -> list[tuple[str, ...]]:
    """The models judged together: each one alone, each against the baseline, or each pair."""
    if mode not in MODES:
        raise JudgeError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    available = sorted(answers)
    chosen = sorted(set(models)) if models else available
    missing = [m for m in [*chosen, *([baseline] if baseline else [])] if m not in answers]
    if missing:
        raise JudgeError(
            f"no answers of {', '.join(missing)}; answers exist for {', '.join(available)}"
        )
    if mode == "single":
        return [(m,) for m in chosen]
    if mode == "pairwise-baseline":
        if baseline is None:
            raise JudgeError("--mode pairwise-baseline needs --baseline MODEL")
        return [(baseline, m) for m in chosen if m != baseline]
    return list(itertools.combinations(chosen, 2))


def _question_jobs(
    kind: str,
    question: Question,
    group: tuple[str, ...],
    answers: Answers,
    prompts: PromptSet,
    reference: tuple[str, ...] | None,
    baseline: str | None,
) -> list[Job]:
    """The calls for one question and group: every turn all of them answered, a pair in
    both orders; none when a model has no answer to the question."""
    found = [answers[m].get(question.key) for m in group]
    texts = [t for t in found if t is not None]
    if len(texts) < len(found):
        return []
    jobs = []
    for turn in range(1, min(len(question.turns), *(len(t) for t in texts)) + 1):
        ref = reference if reference is not None and len(reference) >= turn else None
        try:
            template = prompts.pick(kind, ref is not None, turn)
        except JudgeError as exc:
            raise JudgeError(f"question {question.id!r}: {exc}") from None
        for order in [group] if kind == SINGLE else [group, group[::-1]]:
            jobs.append(
                Job(
                    kind,
                    question,
                    turn,
                    order,
                    tuple(answers[m][question.key] for m in order),
                    template,
                    ref,
                    baseline,
                )
            )
    return jobs


@dataclass
class JudgeRun:
    """What a run did: calls skipped as done, judgments written (parse failures among
    them), and calls that failed, by their first error."""

    path: Path
    planned: int = 0
    skipped: int = 0
    written: int = 0
    parse_failures: int = 0
    errors: dict[tuple, str] = field(default_factory=dict)


async def judge(
    jobs: list[Job],
    client: ChatClient,
    judge_model: str,
    prompts_name: str,
    out: str | Path,
    *,
    max_tokens: int = 2048,
    temperature: float = 0.0,
) -> JudgeRun:
    """Make the judge calls `out` does not hold yet; append each judgment as it comes."""
    out = Path(out)
    done = done_keys(out, prompts_name)
    records = [(job, job.record(judge_model, prompts_name)) for job in jobs]
    pending = {judgment_key(record): (job, record) for job, record in records}
    pending = {key: call for key, call in pending.items() if key not in done}
    run = JudgeRun(out, planned=len(jobs), skipped=len(jobs) - len(pending))
    if not pending:
        return run

    async def one(_key: tuple, call: tuple[Job, dict[str, Any]]) -> None:
        job, record = call
        raw = await client.chat(
            judge_model, job.messages(), temperature=temperature, max_tokens=max_tokens
        )
        if job.kind == SINGLE:
            verdict = parse_score(raw)
            record["score"] = verdict.value
        else:
            verdict = parse_preference(raw)
            record["verdict"] = verdict.value
            record["conv_metadata"] = _style_metadata(job)
        record.update(error=verdict.error, raw=raw, tstamp=time.time())
        sink.write(record)
        run.written += 1
        run.parse_failures += verdict.error is not None

    with Appender(out) as sink:
        run.errors = await run_each(pending, one, f"judging with {judge_model}")
    return run


def _style_metadata(job: Job) -> dict[str, Any]:
    """conv_metadata of a game (answer lengths and markdown counts up to the judged turn),
    kept for style control."""
    conversations = [
        [
            message
            for prompt, reply in zip(job.question.turns[: job.turn], texts, strict=False)
            for message in (
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": reply},
            )
        ]
        for texts in job.answers
    ]
    return conversation_metadata(*conversations)
