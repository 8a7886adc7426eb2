"""A voted conversation's features, stored with its vote so the live leaderboard never
reads the text again: the rating engine's built-in categories, the prompt's language and
each side's answer-style counts (what its style control reads), all by the engine's own
rules."""

from __future__ import annotations

from collections.abc import Sequence

from modelarena.rating.categories import detect_language
from modelarena.rating.conversations import texts
from modelarena.rating.data import category_columns
from modelarena.rating.style import conversation_metadata, counts_from_metadata
from modelarena.store.arena import ConversationView
from modelarena.store.battles import Features

# One turn: the prompt and each side's answer (None: no answer).
Turn = tuple[str, str | None, str | None]
# The stored names of the engine's style features (style.STYLE_FEATURES), in its order.
COUNTS = ("tokens", "headers", "lists", "bold")


def view_features(view: ConversationView) -> Features:
    """The features of a conversation as the arena holds it (what a vote stores)."""
    return features([[(t.prompt, t.answers["a"], t.answers["b"]) for t in view.turns]])[0]


def messages(turns: Sequence[Turn], side: str) -> list[dict[str, str]]:
    """One side of a conversation as FastChat messages (a missing answer reads as empty)."""
    index = 1 if side == "a" else 2
    found = []
    for turn in turns:
        found.append({"role": "user", "content": turn[0]})
        found.append({"role": "assistant", "content": turn[index] or ""})
    return found


def features(battles: Sequence[Sequence[Turn]]) -> list[Features]:
    """The features of each conversation, given as its turns."""
    if not battles:
        return []
    records = [
        {
            "turn": len(turns),
            "conversation_a": messages(turns, "a"),
            "conversation_b": messages(turns, "b"),
        }
        for turns in battles
    ]
    flags = category_columns(records)
    metadata = [conversation_metadata(r["conversation_a"], r["conversation_b"]) for r in records]
    counts = counts_from_metadata(metadata).astype(int).tolist()
    found = []
    for number, record in enumerate(records):
        per_side = {
            f"{count}_{side}": counts[number][side_index][index]
            for side_index, side in enumerate("ab")
            for index, count in enumerate(COUNTS)
        }
        found.append(
            Features(
                turns=len(battles[number]),
                user_tokens=metadata[number]["sum_user_tokens"],
                long=flags["long"][number],
                multi_turn=flags["multi-turn"][number],
                code=flags["code"][number],
                math=flags["math"][number],
                language=detect_language("\n".join(texts(record["conversation_a"], "user"))),
                **per_side,
            )
        )
    return found
