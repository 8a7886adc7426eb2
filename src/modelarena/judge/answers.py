"""Model answers in the MT-Bench / Arena-Hard `model_answer` format: one JSON line per
question with `question_id`, `model_id` and `choices[0].turns` (texts, or Arena-Hard's
`{"content": ...}` objects); a directory holds one file per model."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from modelarena.judge.errors import JudgeError
from modelarena.judge.jsonl import iter_jsonl, safe_stem
from modelarena.judge.questions import ARENA_HARD, Question

# model -> question key -> the answer's turns
Answers = dict[str, dict[str, tuple[str, ...]]]


def answer_path(directory: str | Path, model: str) -> Path:
    """Where a model's answers live in an answer directory (`/` and the like become `_`)."""
    return Path(directory) / f"{safe_stem(model)}.jsonl"


def answer_record(
    question: Question, model: str, turns: list[str], generation: dict[str, Any]
) -> dict[str, Any]:
    """One answer line, in the format of the question's own benchmark."""
    written: list[Any] = (
        [{"content": text} for text in turns] if question.style == ARENA_HARD else list(turns)
    )
    return {
        "question_id": question.id,
        "answer_id": uuid.uuid4().hex,
        "model_id": model,
        "choices": [{"index": 0, "turns": written}],
        "tstamp": time.time(),
        "generation": generation,
    }


def read_answer_file(path: str | Path) -> Answers:
    """Answers in one file, by model and question; a later line for the same question wins."""
    answers: Answers = {}
    for number, record in enumerate(iter_jsonl(path), 1):
        where = f"{path}, answer {number}"
        model, ident = record.get("model_id"), record.get("question_id")
        if model is None or ident is None:
            raise JudgeError(f"{where}: an answer needs `model_id` and `question_id`")
        answers.setdefault(str(model), {})[str(ident)] = _turns(record, where)
    return answers


def read_answers(path: str | Path) -> Answers:
    """Answers of every model in a directory of `*.jsonl` files, or in one file.

    In a directory each file is one model, named by the file (as MT-Bench and Arena-Hard
    name them; the `model_id` inside may differ), unless the file is the one
    `answer_path` gives for its `model_id`: then the model keeps that exact name.
    """
    path = Path(path)
    if path.is_file():
        return read_answer_file(path)
    if not path.is_dir():
        raise JudgeError(f"no such answer file or directory: {path}")
    answers: Answers = {}
    for file in sorted(path.glob("*.jsonl")):
        by_model = read_answer_file(file)
        ids = list(by_model)
        name = ids[0] if len(ids) == 1 and answer_path(path, ids[0]) == file else file.stem
        for by_question in by_model.values():
            answers.setdefault(name, {}).update(by_question)
    if not answers:
        raise JudgeError(f"{path} holds no answer files (*.jsonl)")
    return answers


def read_references(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Reference answers (a model_answer file of one reference model) by question."""
    answers = read_answer_file(path)
    if len(answers) != 1:
        raise JudgeError(
            f"{path}: a reference file holds one model's answers; it holds "
            f"{len(answers)} ({', '.join(sorted(answers)) or 'none'})"
        )
    return next(iter(answers.values()))


def _turns(record: dict[str, Any], where: str) -> tuple[str, ...]:
    try:
        turns = record["choices"][0]["turns"]
    except (KeyError, IndexError, TypeError):
        raise JudgeError(f"{where}: an answer needs `choices[0].turns`") from None
    texts = []
    for turn in turns:
        text = turn.get("content") if isinstance(turn, dict) else turn
        if text is not None and not isinstance(text, str):
            raise JudgeError(f'{where}: each answer turn must be text or {{"content": text}}')
        texts.append(text or "")
    return tuple(texts)
