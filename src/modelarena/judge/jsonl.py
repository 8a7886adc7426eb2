"""JSON-lines files: read records with line numbers in errors, append records durably,
and file names made from model and judge names."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from modelarena.judge.errors import JudgeError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
T = TypeVar("T")


def parse_jsonl(path: str | Path, parse: Callable[[dict[str, Any], str], T], what: str) -> list[T]:
    """`parse(record, where)` of every record, `where` naming it (`FILE, question 3`) for
    errors; a file without records is an error."""
    items = [
        parse(record, f"{path}, {what} {number}")
        for number, record in enumerate(iter_jsonl(path), 1)
    ]
    if not items:
        raise JudgeError(f"{path} holds no {what}s")
    return items


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every record of a JSON-lines file, one by one (blank lines skipped); a line that is
    not a JSON object is an error naming its line number."""
    path = Path(path)
    if not path.is_file():
        raise JudgeError(f"no such file: {path}")
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JudgeError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
            except UnicodeDecodeError:
                raise JudgeError(f"{path}, line {number}: not UTF-8 text") from None
            if not isinstance(record, dict):
                raise JudgeError(f"{path}, line {number}: expected a JSON object")
            yield record


class Appender:
    """Appends one JSON record per line and flushes it, so a crash loses nothing written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Write `records` as a new JSON-lines file (replacing any file there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def safe_stem(name: str) -> str:
    """`name` usable as a file name: characters other than letters, digits, `.`, `_` and
    `-` (`/` in `org/model`, spaces ...) become `_`."""
    return _UNSAFE.sub("_", name)
