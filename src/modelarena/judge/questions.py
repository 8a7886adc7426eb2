"""Question sets: MT-Bench files (`question_id`, `category`, `turns`) and Arena-Hard files
(`uid`, `prompt`, optional `category`), read into one `Question` shape and written back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelarena.judge.errors import JudgeError
from modelarena.judge.jsonl import parse_jsonl, write_jsonl

MT_BENCH = "mt-bench"
ARENA_HARD = "arena-hard"
DEFAULT_CATEGORY = "general"


@dataclass(frozen=True)
class Question:
    """One question: its id as the file holds it (int or str), category and user turns.

    `style` is the file format it came from, so answers are written in the matching format.
    """

    id: int | str
    category: str
    turns: tuple[str, ...]
    style: str = MT_BENCH

    @property
    def key(self) -> str:
        """The id as text: how answers, references and judgments are joined."""
        return str(self.id)


def parse_question(record: dict[str, Any], where: str) -> Question:
    """A question from one record of either format; `where` names it in errors."""
    if "turns" in record:
        ident, turns, style = record.get("question_id"), record["turns"], MT_BENCH
    elif "prompt" in record:
        ident = record.get("uid", record.get("question_id"))
        turns, style = [record["prompt"]], ARENA_HARD
    else:
        raise JudgeError(f"{where}: a question needs `turns` (MT-Bench) or `prompt` (Arena-Hard)")
    if ident is None:
        raise JudgeError(
            f"{where}: a question needs `question_id` (MT-Bench) or `uid` (Arena-Hard)"
        )
    if (
        not isinstance(turns, list)
        or not turns
        or not all(isinstance(turn, str) and turn for turn in turns)
    ):
        raise JudgeError(f"{where}: question {ident!r} must have one or more non-empty text turns")
    category = record.get("category") or DEFAULT_CATEGORY
    return Question(ident, str(category), tuple(turns), style)


def read_questions(path: str | Path) -> list[Question]:
    """All questions of a JSON-lines file, in file order; ids must be unique."""
    questions = parse_jsonl(path, parse_question, "question")
    seen: set[str] = set()
    for question in questions:
        if question.key in seen:
            raise JudgeError(f"{path}: question id {question.id!r} appears more than once")
        seen.add(question.key)
    return questions


def write_questions(path: str | Path, questions: list[Question]) -> None:
    """Write questions in MT-Bench format (any number of turns)."""
    write_jsonl(
        path,
        [{"question_id": q.id, "category": q.category, "turns": list(q.turns)} for q in questions],
    )
