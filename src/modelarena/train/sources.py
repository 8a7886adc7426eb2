"""Conversations to fine-tune on, from the arena's store or from files, with a count of
what each filter removed.

An example is one conversation as chat messages, ending with the assistant answer it
teaches. Sources: the store (every mode by default; one example per side that answered,
with filters), FastChat/ShareGPT JSON (`[{"conversations": [{"from", "value"}]}]`) and
OpenAI `messages` JSONL (one `{"messages": [...]}` per line).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelarena.rating.categories import detect_language, is_code, is_long, is_math
from modelarena.rating.conversations import count_tokens
from modelarena.store.db import Database, shown_url
from modelarena.store.exports import StoredConversation, conversations
from modelarena.vocabulary import BUILTIN_CATEGORIES, WINNING_SIDE

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "chatgpt": "assistant", "bard": "assistant"}  # fmt: skip


class SourceError(ValueError):
    """A source that cannot be read as conversations; the message says where and why."""


@dataclass(frozen=True)
class Example:
    """Chat messages (role, content) ending with the assistant answer to learn."""

    messages: tuple[dict[str, str], ...]
    origin: str  # where it came from: "store:<conversation>/<side>" or "<file>:<line>"


@dataclass
class Selection:
    """The examples (or preference pairs) a source gave, and how many candidates each
    filter removed."""

    examples: list[Any] = field(default_factory=list)
    removed: Counter = field(default_factory=Counter)
    sources: list[dict[str, str]] = field(default_factory=list)  # name and sha256 of each

    def extend(self, other: Selection) -> None:
        self.examples += other.examples
        self.removed.update(other.removed)
        self.sources += other.sources


@dataclass(frozen=True)
class StoreFilter:
    """Which stored conversations teach: `modes`; answers only by `models` (all when
    empty); only voted winners' sides; only chat answers with a thumb up; conversations
    an excluding flag names left out; in all of `categories`; created within [since,
    until] (Unix seconds)."""

    modes: tuple[str, ...] = ("battle", "side_by_side", "chat")
    models: tuple[str, ...] = ()
    winners_only: bool = False
    thumbs_up_only: bool = False
    exclude_flagged: bool = True
    categories: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None


def check_categories(names: Sequence[str]) -> None:
    """Refuses a category name that `categories_of` never gives."""
    for name in names:
        if name not in BUILTIN_CATEGORIES and not name.startswith("language="):
            raise SourceError(
                f"unknown category {name!r}: use {', '.join(BUILTIN_CATEGORIES)} or "
                "language=NAME (e.g. language=english)"
            )


def categories_of(prompts: Sequence[str], answers: tuple[str, ...]) -> set[str]:
    """The rating engine's built-in categories of a conversation with these user turns
    and answers (docs/rating.md), and `language=<name>` in lower case."""
    first = prompts[0] if prompts else ""
    found = {f"language={detect_language(first).lower()}"}
    if len(prompts) > 1:
        found.add("multi-turn")
    if is_long(sum(count_tokens(p) for p in prompts)):
        found.add("long")
    if is_math(first):
        found.add("math")
    if is_code(first, answers):
        found.add("code")
    return found


def from_store(db: Database, chosen: StoreFilter) -> Selection:
    """One example per answering side of each stored conversation that passes."""
    selection = Selection(sources=[{"name": f"store:{shown_url(db.url)}", "sha256": ""}])
    stored = conversations(db)
    digest = hashlib.sha256()
    for conversation in stored:
        digest.update(conversation.id.encode())
        reason = _conversation_refused(conversation, chosen)
        if reason:
            selection.removed[reason] += 1
            continue
        for side in _sides(conversation, chosen, selection.removed):
            messages = _side_messages(conversation, side, chosen, selection.removed)
            if messages:
                selection.examples.append(
                    Example(tuple(messages), f"store:{conversation.id}/{side}")
                )
    selection.sources[0]["sha256"] = digest.hexdigest()
    return selection


def _conversation_refused(conversation: StoredConversation, chosen: StoreFilter) -> str | None:
    if conversation.mode not in chosen.modes:
        return f"mode {conversation.mode}"
    if chosen.exclude_flagged and conversation.flags:
        return "flagged"
    if chosen.since is not None and conversation.created_at < chosen.since:
        return "before --since"
    if chosen.until is not None and conversation.created_at > chosen.until:
        return "after --until"
    if conversation.vision:
        return "holds an image"
    if chosen.categories:
        prompts = [turn.prompt for turn in conversation.turns]
        answers = tuple(
            "\n".join(turn.sides[side].answer or "" for turn in conversation.turns)
            for side in (("a",) if conversation.mode == "chat" else ("a", "b"))
        )
        missing = set(chosen.categories) - categories_of(prompts, answers)
        if missing:
            return f"not in category {sorted(missing)[0]}"
    return None


def _sides(conversation: StoredConversation, chosen: StoreFilter, removed: Counter) -> list[str]:
    sides = ["a"] if conversation.mode == "chat" else ["a", "b"]
    if chosen.winners_only and conversation.mode != "chat":
        winner = WINNING_SIDE.get(conversation.winner or "")
        if winner is None:
            removed["not a voted winner"] += 2
            return []
        removed["not a voted winner"] += 1
        sides = [winner]
    models = {"a": conversation.model_a, "b": conversation.model_b}
    if chosen.models:
        kept = [side for side in sides if models[side] in chosen.models]
        removed["answered by another model"] += len(sides) - len(kept)
        sides = kept
    return sides


def _side_messages(
    conversation: StoredConversation, side: str, chosen: StoreFilter, removed: Counter
) -> list[dict[str, str]]:
    """The side's conversation up to its last usable answer (errors end it)."""
    messages: list[dict[str, str]] = []
    usable: list[dict[str, str]] = []
    for turn in conversation.turns:
        answer = turn.sides[side]
        if answer.error or not answer.answer:
            break
        messages += [
            {"role": "user", "content": turn.prompt},
            {"role": "assistant", "content": answer.answer},
        ]
        if not chosen.thumbs_up_only or (turn.rating or 0) > 0:
            usable = list(messages)
    if not usable:
        removed["no thumb up" if chosen.thumbs_up_only and messages else "no answer"] += 1
    return usable


def file_records(path: Path, expected: str) -> tuple[bytes, Iterable[tuple[int, object]]]:
    """A file's bytes and its numbered records: a JSON list or JSON lines. `expected`
    names the formats the caller reads, for the error on anything else."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    text = data.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}: not valid JSON ({exc})") from None
        return data, enumerate(records, 1)
    if stripped.startswith("{"):
        return data, _jsonl(path, text)
    raise SourceError(f"{path}: unknown format; expected {expected}")


def from_file(path: Path) -> Selection:
    """Examples from a ShareGPT JSON file or an OpenAI `messages` JSONL file."""
    data, numbered = file_records(
        path,
        'ShareGPT JSON (a list of {"conversations": [...]}) or JSONL with one '
        '{"messages": [...]} per line',
    )
    selection = Selection(sources=[{"name": str(path), "sha256": hashlib.sha256(data).hexdigest()}])
    for number, record in numbered:
        try:
            messages = _messages(record)
        except SourceError as exc:
            raise SourceError(f"{path}:{number}: {exc}") from None
        if messages is None:
            selection.removed["does not end with an assistant answer"] += 1
            continue
        selection.examples.append(Example(tuple(messages), f"{path.name}:{number}"))
    return selection


def _jsonl(path: Path, text: str) -> Iterable[tuple[int, object]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}:{number}: not valid JSON ({exc})") from None


def _messages(record: object) -> list[dict[str, str]] | None:
    """OpenAI messages or ShareGPT turns as messages; None when no answer ends them."""
    if isinstance(record, dict) and isinstance(record.get("messages"), list):
        turns = [
            (m.get("role"), m.get("content")) for m in record["messages"] if isinstance(m, dict)
        ]
    elif isinstance(record, dict) and isinstance(record.get("conversations"), list):
        turns = [
            (SHAREGPT_ROLES.get(str(m.get("from", "")).lower()), m.get("value"))
            for m in record["conversations"]
            if isinstance(m, dict)
        ]
    else:
        raise SourceError('expected an object with "messages" or "conversations"')
    messages = []
    for role, content in turns:
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise SourceError(f"a message with role {role!r} and content {content!r:.40}")
        messages.append({"role": role, "content": content})
    while messages and messages[-1]["role"] != "assistant":
        messages.pop()
    return messages or None


def describe(removed: Counter) -> Sequence[str]:
    """Lines for a report: each filter and how many it removed, largest first."""
    return [f"{reason}: {count}" for reason, count in removed.most_common()]
