"""Preference pairs to optimise on — a prompt, the answer preferred and the one not —
from the arena's votes, from a judge's pairwise verdicts, or from a file, with a count of
what each filter removed.

* Votes: chosen is the winner's answer, rejected the loser's, to the same prompt. Ties
  and both-bad votes say nothing about which is better and are skipped; so are
  conversations of more than one turn (after the first, each side's history holds its own
  answers, so the two answers no longer follow the same history) and conversations with
  an excluding flag (an identity leak, a refused prompt). Blind battles only by default: a
  voter who saw the names may have voted for the name.
* Judge verdicts (`modelarena judge run` in pairwise mode): a pair counts only when the
  judge preferred the same answer in both orders; its prompt and answers come from the
  question file and answer directory the judge read. First turns only, as above.
* JSONL: one `{"prompt", "chosen", "rejected"}` per line; the prompt a text or chat
  messages, each answer a text or messages ending with the assistant's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelarena.store.db import Database, shown_url
from modelarena.store.exports import voted
from modelarena.train.sources import Selection, SourceError, categories_of, file_records

TIES = {"tie": "a tie", "tie (bothbad)": "both bad"}
SIDE_OF_WINNER = {"model_a": "a", "model_b": "b"}


@dataclass(frozen=True)
class Preference:
    """Chat messages up to the answers (ending with the user's turn), and two answers."""

    prompt: tuple[dict[str, str], ...]
    chosen: str
    rejected: str
    origin: str  # "store:<conversation>", "<judgments>:<question>/<models>" or "<file>:<line>"


@dataclass(frozen=True)
class VoteFilter:
    """Which votes become pairs: conversations of `modes` (blind battles by default),
    flagged ones left out unless told, in all of `categories`, voted within [since, until]
    (Unix seconds)."""

    modes: tuple[str, ...] = ("battle",)
    exclude_flagged: bool = True
    categories: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None


def from_votes(db: Database, chosen: VoteFilter) -> Selection:
    """One pair per usable vote, winner's answer chosen."""
    selection = Selection(sources=[{"name": f"votes:{shown_url(db.url)}", "sha256": ""}])
    digest = hashlib.sha256()
    for conversation in voted(db, modes=["battle", "side_by_side"]):
        digest.update(f"{conversation.id}:{conversation.winner}".encode())
        turns = conversation.turns
        answers = {side: turns[0].sides[side] if turns else None for side in "ab"}
        side = SIDE_OF_WINNER.get(conversation.winner or "")
        reason = None
        if conversation.mode not in chosen.modes:
            reason = "names shown to the voter (side by side)"
            if conversation.mode == "battle":
                reason = "a blind battle (--mode side_by_side only)"
        elif chosen.exclude_flagged and conversation.flags:
            reason = f"flagged ({', '.join(sorted(set(conversation.flags)))})"
        elif side is None:
            reason = TIES.get(conversation.winner or "", "no winner")
        elif len(turns) != 1:
            reason = "more than one turn (the answers follow different histories)"
        elif conversation.vision:
            reason = "holds an image"
        elif any(a is None or a.error or not a.answer for a in answers.values()):
            reason = "an answer is missing"
        elif chosen.since is not None and (conversation.voted_at or 0) < chosen.since:
            reason = "voted before --since"
        elif chosen.until is not None and (conversation.voted_at or 0) > chosen.until:
            reason = "voted after --until"
        if reason:
            selection.removed[reason] += 1
            continue
        texts = {s: str(a.answer) for s, a in answers.items() if a is not None}
        if texts["a"].strip() == texts["b"].strip():
            selection.removed["identical answers"] += 1
            continue
        missing = set(chosen.categories) - categories_of([turns[0].prompt], tuple(texts.values()))
        if missing:
            selection.removed[f"not in category {sorted(missing)[0]}"] += 1
            continue
        loser = "b" if side == "a" else "a"
        selection.examples.append(
            Preference(
                ({"role": "user", "content": turns[0].prompt},),
                texts[str(side)],
                texts[loser],
                f"store:{conversation.id}",
            )
        )
    selection.sources[0]["sha256"] = digest.hexdigest()
    return selection


def from_judgments(judgments: Sequence[Path], questions: Path, answers: Path) -> Selection:
    """One pair per (judge, question, model pair) the judge decided alike in both orders."""
    from modelarena.judge.answers import read_answers
    from modelarena.judge.errors import JudgeError
    from modelarena.judge.judgments import read_judgments
    from modelarena.judge.outcomes import CONSISTENT, FAILED, INCOMPLETE, INCONSISTENT, pairs
    from modelarena.judge.questions import read_questions

    reasons = {
        INCONSISTENT: "the judge's verdict changed with the order",
        FAILED: "a verdict did not parse",
        INCOMPLETE: "one order not judged",
    }
    try:
        records = read_judgments(list(judgments))
        asked = {q.key: q for q in read_questions(questions)}
        given = read_answers(answers)
    except JudgeError as exc:
        raise SourceError(str(exc)) from None
    selection = Selection(sources=[_file_source(path) for path in judgments])
    for row in pairs(records):
        status, winner = row["status"], row["winner"]
        first, second = row["model_1"], row["model_2"]
        reason = reasons.get(status)
        if status == CONSISTENT and winner == "tie":
            reason = "a tie"
        elif reason is None and row["turn"] != 1:
            reason = "a later turn (the answers follow different histories)"
        question = asked.get(row["question_id"])
        texts = {m: given.get(m, {}).get(row["question_id"], ()) for m in (first, second)}
        if reason is None and (question is None or not all(texts.values())):
            reason = "its question or an answer is not in the files given"
        if reason:
            selection.removed[reason] += 1
            continue
        assert question is not None
        loser = second if winner == first else first
        selection.examples.append(
            Preference(
                ({"role": "user", "content": question.turns[0]},),
                texts[winner][0],
                texts[loser][0],
                f"judge:{row['judge']}:{row['question_id']}/{first}-vs-{second}",
            )
        )
    return selection


def from_file(path: Path) -> Selection:
    """Pairs from a JSONL file of `{"prompt", "chosen", "rejected"}` lines."""
    data, numbered = file_records(path, 'JSONL with one {"prompt", "chosen", "rejected"}')
    selection = Selection(sources=[{"name": str(path), "sha256": hashlib.sha256(data).hexdigest()}])
    for number, record in numbered:
        try:
            pair = _pair(record, f"{path.name}:{number}")
        except SourceError as exc:
            raise SourceError(f"{path}:{number}: {exc}") from None
        if pair.chosen.strip() == pair.rejected.strip():
            selection.removed["identical answers"] += 1
            continue
        selection.examples.append(pair)
    return selection


def _pair(record: object, origin: str) -> Preference:
    if not isinstance(record, dict) or not {"prompt", "chosen", "rejected"} <= record.keys():
        raise SourceError('expected an object with "prompt", "chosen" and "rejected"')
    prompt = record["prompt"]
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and all(_is_message(m) for m in prompt) and prompt:
        messages = [{"role": m["role"], "content": m["content"]} for m in prompt]
    else:
        raise SourceError('"prompt" must be a text or a list of {"role", "content"} messages')
    if messages[-1]["role"] != "user":
        raise SourceError("the prompt must end with the user's turn")
    return Preference(
        tuple(messages),
        _answer(record["chosen"], "chosen"),
        _answer(record["rejected"], "rejected"),
        origin,
    )


def _answer(value: object, name: str) -> str:
    if isinstance(value, list) and value and _is_message(value[-1]):
        value = value[-1]["content"] if value[-1]["role"] == "assistant" else None
    if not isinstance(value, str) or not value.strip():
        raise SourceError(f'"{name}" must be a non-empty text or messages ending with an answer')
    return value


def _is_message(value: object) -> bool:
    return (
        isinstance(value, dict)
        and value.get("role") in ("system", "user", "assistant")
        and isinstance(value.get("content"), str)
    )


def _file_source(path: Path) -> dict[str, str]:
    digest = hashlib.sha256()
    for file in sorted(path.glob("*.jsonl")) if path.is_dir() else [path]:
        digest.update(file.read_bytes())
    return {"name": str(path), "sha256": digest.hexdigest()}
