"""`modelarena label`: a judge model tags the arena's stored prompts with categories (the
seven hard-prompt criteria, math, coding, creative writing, instruction following), and a
prompt meeting at least six criteria is a `hard_prompt`, as Arena-Hard defines it.

Only parsed labels are stored; a labeller that never answers in the asked form is stopped
after GIVE_UP_AFTER answers rather than asked about every prompt on every run."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from modelarena.judge.client import ChatClient
from modelarena.judge.errors import JudgeError
from modelarena.judge.tasks import run_each
from modelarena.vocabulary import HARD_PROMPT, LABELLED_TOPICS

CRITERIA = {
    "specificity": "it asks for one specific, well-defined result rather than anything goes",
    "domain_knowledge": "answering well takes knowledge of a particular field",
    "complexity": "it has several parts, steps or interacting constraints to handle",
    "problem_solving": "the answer has to be worked out, not just recalled",
    "creativity": "a good answer needs original or inventive ideas",
    "technical_accuracy": "the answer must be technically precise to be of use",
    "real_world": "it comes from a realistic, practical situation",
}
TOPICS = {
    "math": "it involves mathematical calculation or reasoning",
    "coding": "it involves writing, reading, explaining or fixing code",
    "creative_writing": "it asks for fiction, poetry, lyrics, a script or similar writing",
    "instruction_following": "it sets explicit requirements on the answer's form or content "
    "(length, format, words to use or avoid ...)",
}
assert tuple(TOPICS) == LABELLED_TOPICS  # the names the leaderboard knows
CATEGORIES = (*CRITERIA, *TOPICS)
HARD_PROMPT_MIN_CRITERIA = 6
# Unparseable answers, with no label made yet, after which a run stops.
GIVE_UP_AFTER = 10
_SYSTEM = (
    "You sort user prompts sent to a chatbot into categories. For each category below, "
    "decide whether the prompt belongs to it (true) or not (false):\n"
    + "\n".join(f"- {name}: {meaning}" for name, meaning in {**CRITERIA, **TOPICS}.items())
    + "\n\nReply with one JSON object holding every category name with true or false, and "
    'nothing else, for example: {"' + '": false, "'.join(CATEGORIES[:2]) + '": false, ...}'
)
_OBJECT = re.compile(r"\{[^{}]*\}")
_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def messages(prompt: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"Prompt to categorise:\n<<<\n{prompt}\n>>>"},
    ]


def parse_labels(text: str) -> dict[str, bool] | None:
    """The categories of the last JSON object in the text that gives all of them, plus the
    derived `hard_prompt`; None when there is no such object."""
    for candidate in reversed(_OBJECT.findall(text)):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        found = {name: _truth(data.get(name)) for name in CATEGORIES}
        values = {name: value for name, value in found.items() if value is not None}
        if len(values) == len(found):
            met = sum(values[name] for name in CRITERIA)
            return {**values, HARD_PROMPT: met >= HARD_PROMPT_MIN_CRITERIA}
    return None


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str):
        return _WORDS.get(str(value).strip().lower())
    return None


@dataclass
class LabelRun:
    """Prompts labelled, and those not: unparseable answers (with their raw text) and
    failed calls. Neither is stored, so a later run asks again."""

    labelled: int = 0
    unparseable: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


async def label_prompts(
    db: Any,
    client: ChatClient,
    judge_model: str,
    *,
    limit: int | None = None,
    max_tokens: int = 512,
) -> LabelRun:
    """Label the prompts `judge_model` has not labelled yet, oldest first, until `limit`
    are labelled or have failed calls: an unparseable answer's place goes to the next
    prompt, so prompts the labeller cannot label do not hold back the others."""
    from modelarena.store import repo

    run = LabelRun()

    async def one(conversation_id: str, prompt: str) -> None:
        raw = await client.chat(
            judge_model, messages(prompt), temperature=0.0, max_tokens=max_tokens
        )
        labels = parse_labels(raw)
        if labels is not None:
            repo.save_prompt_label(db, conversation_id, judge_model, labels, raw)
            run.labelled += 1
            return
        run.unparseable[conversation_id] = raw
        if not run.labelled and len(run.unparseable) >= GIVE_UP_AFTER:
            first = next(iter(run.unparseable.values()))
            raise JudgeError(
                f"{judge_model} gave no usable labels in {len(run.unparseable)} answers "
                f"(the first: {first[:200]!r}); it does not answer with the asked JSON "
                "object, so the run stops: try a stronger labelling model"
            )

    while True:
        tried = run.unparseable.keys() | run.errors.keys()
        room = limit - run.labelled - len(run.errors) if limit else None
        fetch = None if room is None else room + len(tried)  # the tried are still unlabelled
        batch = {
            cid: prompt
            for cid, prompt in repo.unlabeled_prompts(db, judge_model, fetch)
            if cid not in tried
        }
        if not batch:
            return run
        run.errors |= await run_each(batch, one, f"labelling with {judge_model}")
