"""Judgment files: one JSON line per judge call (a grade, or one order of a pairwise game),
with the judge, prompt, raw text and parsed verdict; what a file holds is done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelarena.judge.errors import JudgeError
from modelarena.judge.jsonl import iter_jsonl, safe_stem

SINGLE, PAIRWISE = "single", "pairwise"


def judgment_key(record: dict[str, Any]) -> tuple:
    """What one judge call judged: kind, judge, question, turn and model(s) in their order."""
    models = (
        (record["model"],) if record["kind"] == SINGLE else (record["model_a"], record["model_b"])
    )
    return (
        record["kind"],
        record["judge"],
        str(record["question_id"]),
        int(record["turn"]),
        *models,
    )


def default_path(answers: str | Path, judge: str, prompts: str, kind: str) -> Path:
    """`model_judgment/<judge>_<prompts>_<single|pair>.jsonl` beside the answer directory,
    as MT-Bench lays its data out."""
    name = f"{judge}_{prompts}_{'single' if kind == SINGLE else 'pair'}.jsonl"
    return Path(answers).resolve().parent / "model_judgment" / safe_stem(name)


def read_judgments(paths: list[Path] | list[str]) -> list[dict[str, Any]]:
    """The records of judgment files (directories: their `*.jsonl`); a later record of the
    same judge call replaces an earlier one."""
    records: dict[tuple, dict[str, Any]] = {}
    for path in map(Path, paths):
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        for file in files:
            for number, record in enumerate(iter_jsonl(file), 1):
                try:
                    key = judgment_key(record)
                except (KeyError, TypeError, ValueError):
                    raise JudgeError(f"{file}, record {number}: not a judgment record") from None
                records.pop(key, None)
                records[key] = record
    if not records:
        raise JudgeError(f"no judgments in {', '.join(map(str, paths))}")
    return list(records.values())


def done_keys(path: Path, prompts: str) -> set[tuple]:
    """Judge calls already in the file; refuses a file written with another prompt set,
    whose judgments would otherwise be mixed with this run's."""
    if not path.is_file():
        return set()
    keys = set()
    for record in iter_jsonl(path):
        if record.get("prompts") != prompts:
            raise JudgeError(
                f"{path} holds judgments made with prompt set {record.get('prompts')!r}, "
                f"not {prompts!r}; give another --out file"
            )
        keys.add(judgment_key(record))
    return keys
