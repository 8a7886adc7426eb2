"""Judge prompt templates: our shipped sets (`prompts/*.jsonl`) or any file in MT-Bench's
`judge_prompts.jsonl` format, which template judges which turn, and filling them in.

`system_prompt` and `prompt_template` are `str.format` templates over the fields of
`fields()`; a template's fields decide what it judges (reference-guided, multi-turn).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelarena.judge.errors import JudgeError
from modelarena.judge.jsonl import parse_jsonl

SHIPPED = Path(__file__).with_name("prompts")
DEFAULT_SET = "default"
KINDS = ("single", "pairwise")
_COMMON = {"question", "turn", "ref_answer", "reference_dialogue"}
_FIELDS = {
    "single": _COMMON | {"answer", "dialogue"},
    "pairwise": _COMMON | {"answer_a", "answer_b", "dialogue_a", "dialogue_b"},
}
_NUMBERED = {
    "single": re.compile(r"(question|answer|ref_answer)_([1-9]\d*)"),
    "pairwise": re.compile(r"(question|answer_a|answer_b|ref_answer)_([1-9]\d*)"),
}
_WHOLE_DIALOGUE = {"dialogue", "dialogue_a", "dialogue_b", "reference_dialogue"}


@dataclass(frozen=True)
class PromptTemplate:
    """One judge prompt. `shown_turns` is the highest numbered turn its fields show (0 when
    it uses none): such a template judges exactly that turn."""

    name: str
    kind: str
    system: str
    template: str
    reference: bool
    multi_turn: bool
    shown_turns: int

    def judges(self, turn: int) -> bool:
        return self.shown_turns in (0, turn) and self.multi_turn == (turn > 1)

    def messages(self, values: dict[str, Any]) -> list[dict[str, str]]:
        """The chat request: the system prompt (when not empty), then the filled template."""
        system = self.system.format(**values)
        user = {"role": "user", "content": self.template.format(**values)}
        return [{"role": "system", "content": system}, user] if system else [user]


@dataclass(frozen=True)
class PromptSet:
    """The templates of one file; `name` is recorded with every judgment."""

    name: str
    templates: tuple[PromptTemplate, ...]

    def pick(self, kind: str, reference: bool, turn: int) -> PromptTemplate:
        for template in self.templates:
            if template.kind == kind and template.reference == reference and template.judges(turn):
                return template
        what = f"{kind}{' reference-guided' if reference else ''} template for turn {turn}"
        hint = (
            "; a template judges a later turn when it shows the dialogue up to it "
            "(MT-Bench's judge turns 1 and 2; the shipped sets judge any turn)"
            if turn > 1
            else ""
        )
        raise JudgeError(f"prompt set {self.name!r} has no {what}{hint}")


def shipped_sets() -> list[str]:
    """Names of the prompt sets that come with modelarena (`default`, `arena-hard-style`)."""
    return sorted(path.stem for path in SHIPPED.glob("*.jsonl"))


def load_prompts(source: str | Path | None = None) -> PromptSet:
    """Templates from a `judge_prompts.jsonl`-style file, or a shipped set by name (a file
    of that name wins); our defaults when `source` is None."""
    path = Path(source) if source is not None else SHIPPED / f"{DEFAULT_SET}.jsonl"
    if not path.is_file():
        if str(source) not in shipped_sets():
            raise JudgeError(
                f"no such prompt file: {path}; the shipped prompt sets are "
                f"{', '.join(shipped_sets())}"
            )
        path = SHIPPED / f"{source}.jsonl"
    return PromptSet(path.stem, tuple(parse_jsonl(path, _template, "prompt template")))


def _template(record: dict[str, Any], where: str) -> PromptTemplate:
    kind = record.get("type")
    if kind not in KINDS:
        raise JudgeError(f"{where}: `type` must be 'single' or 'pairwise', not {kind!r}")
    for key in ("name", "prompt_template"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise JudgeError(f"{where}: `{key}` must be non-empty text")
    system = record.get("system_prompt") or ""
    names = _field_names(system, where) | _field_names(record["prompt_template"], where)
    numbered = [_NUMBERED[kind].fullmatch(n) for n in names]
    unknown = sorted(
        n for n, m in zip(names, numbered, strict=True) if n not in _FIELDS[kind] and m is None
    )
    if unknown:
        raise JudgeError(
            f"{where}: unknown field(s) {', '.join(unknown)} in a {kind} template; known: "
            f"{', '.join(sorted(_FIELDS[kind]))} and numbered turns like question_2"
        )
    shown = max((int(m.group(2)) for m in numbered if m), default=0)
    return PromptTemplate(
        name=record["name"],
        kind=kind,
        system=system,
        template=record["prompt_template"],
        reference=any(n.startswith(("ref_", "reference_")) for n in names),
        multi_turn=bool(names & _WHOLE_DIALOGUE) or shown >= 2,
        shown_turns=shown,
    )


def _field_names(text: str, where: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field}
    except ValueError as exc:
        raise JudgeError(f"{where}: not a valid str.format template ({exc})") from None


def fields(
    turns: tuple[str, ...],
    turn: int,
    answers: dict[str, tuple[str, ...]],
    reference: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Every field a template may use to judge `turn` (1-based) of a question.

    `answers` maps a side to its answer turns: "" for single grading, "a" and "b" for
    pairwise. Numbered fields (question_1, answer_a_2, ref_answer_1 …) follow MT-Bench.
    """
    values: dict[str, Any] = {"turn": turn, "question": turns[turn - 1]}
    for index in range(turn):
        values[f"question_{index + 1}"] = turns[index]
    for side, texts in answers.items():
        name = f"answer_{side}" if side else "answer"
        values[name] = texts[turn - 1]
        values[name.replace("answer", "dialogue")] = dialogue(turns, texts, turn, "assistant")
        for index in range(turn):
            values[f"{name}_{index + 1}"] = texts[index]
    if reference is not None:
        values["ref_answer"] = reference[turn - 1]
        values["reference_dialogue"] = dialogue(turns, reference, turn, "reference answer")
        for index in range(min(turn, len(reference))):
            values[f"ref_answer_{index + 1}"] = reference[index]
    return values


def dialogue(turns: tuple[str, ...], replies: tuple[str, ...], upto: int, speaker: str) -> str:
    """The conversation up to turn `upto`, every message under a labelled header."""
    parts = []
    for index in range(upto):
        parts.append(f"--- user (turn {index + 1}) ---\n{turns[index]}")
        parts.append(f"--- {speaker} (turn {index + 1}) ---\n{replies[index]}")
    return "\n\n".join(parts)
