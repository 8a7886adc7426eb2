"""`judge from-battles`: what the voters saw, as a question file and one answer file per
model, so a judge can grade the very conversations humans voted on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelarena.judge.answers import answer_path, answer_record
from modelarena.judge.errors import JudgeError
from modelarena.judge.jsonl import write_jsonl
from modelarena.judge.questions import DEFAULT_CATEGORY, Question, write_questions


@dataclass
class Extracted:
    """Questions and answers out of battle records, and what could not be used."""

    questions: dict[str, Question] = field(default_factory=dict)
    answers: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    without_conversation: int = 0
    conflicts: list[str] = field(default_factory=list)


def extract(records: list[dict[str, Any]]) -> Extracted:
    """Each battle's user turns become its question (`question_id`, category from
    `category`) and each side's replies that model's answer. Records of one question may
    show more or fewer turns; the longest wins, and texts that disagree are conflicts."""
    from modelarena.rating.conversations import texts

    found = Extracted()
    for record in records:
        conversations = [record.get("conversation_a"), record.get("conversation_b")]
        if record.get("question_id") is None or any(not c for c in conversations):
            found.without_conversation += 1
            continue
        ident, key = record["question_id"], str(record["question_id"])
        prompts = [tuple(texts(c, "user")) for c in conversations]
        if prompts[0] != prompts[1] or not prompts[0]:
            found.conflicts.append(f"question {key}: the two sides show different prompts")
            continue
        category = record.get("category") if isinstance(record.get("category"), str) else None
        known = found.questions.get(key)
        turns = _longest(known.turns if known else (), prompts[0], f"question {key}", found)
        found.questions[key] = Question(ident, category or DEFAULT_CATEGORY, turns)
        for side, conversation in zip("ab", conversations, strict=True):
            model = record[f"model_{side}"]
            replies = tuple(texts(conversation, "assistant"))
            by_question = found.answers.setdefault(model, {})
            by_question[key] = _longest(
                by_question.get(key, ()), replies, f"question {key}, {model}", found
            )
    if not found.questions:
        raise JudgeError(
            "no battle record holds question_id, conversation_a and "
            "conversation_b; the judge needs the conversations voters saw"
        )
    return found


def _longest(
    old: tuple[str, ...], new: tuple[str, ...], what: str, found: Extracted
) -> tuple[str, ...]:
    short, long = sorted((old, new), key=len)
    if long[: len(short)] != short:
        found.conflicts.append(f"{what}: records disagree on the text; the first is kept")
        return old
    return long


def write(found: Extracted, out_dir: str | Path) -> tuple[Path, Path]:
    """`out_dir/question.jsonl` and `out_dir/model_answer/<model>.jsonl`."""
    out_dir = Path(out_dir)
    questions = list(found.questions.values())
    write_questions(out_dir / "question.jsonl", questions)
    by_key = {q.key: q for q in questions}
    answers_dir = out_dir / "model_answer"
    for model, by_question in found.answers.items():
        write_jsonl(
            answer_path(answers_dir, model),
            [
                answer_record(by_key[key], model, list(turns), {"source": "battles"})
                for key, turns in by_question.items()
            ],
        )
    return out_dir / "question.jsonl", answers_dir
