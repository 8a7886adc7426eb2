"""What a visitor sees of their own past: the recent conversations (a short title from
the first prompt, where to resume it; never a model's name, so an unvoted battle stays
blind) and the one-line tally of their blind votes."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from modelarena.arena.lineup import Lineup
from modelarena.store.history import RecentConversation, VisitorVote
from modelarena.vocabulary import WINNERS, WINNING_SIDE

TITLE_MAX = 60
PAGE_OF_MODE = {"battle": "/", "side_by_side": "/side-by-side", "chat": "/chat"}


def title(prompt: str) -> str:
    """The prompt on one line, cut at a word boundary near TITLE_MAX characters."""
    text = re.sub(r"\s+", " ", prompt).strip()
    if len(text) <= TITLE_MAX:
        return text
    cut = text[: TITLE_MAX - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > TITLE_MAX // 2 else cut).rstrip() + "…"


def recent_item(found: RecentConversation) -> dict[str, Any]:
    return {
        "id": found.id,
        "mode": found.mode,
        "title": title(found.first_prompt),
        "created_at": found.created_at.isoformat(),
        "turns": found.turns,
        "voted": found.voted,
        "url": f"{PAGE_OF_MODE[found.mode]}?conversation={found.id}",
    }


def votes_summary(votes: list[VisitorVote], lineup: Lineup) -> dict[str, Any]:
    """How many blind battles the visitor voted, by choice, and how often each model they
    met won their vote (only voted battles: their names are revealed)."""
    choices = Counter(v.winner for v in votes)
    battles: Counter[str] = Counter()
    wins: Counter[str] = Counter()
    for v in votes:
        battles.update((v.model_a, v.model_b))
        side = WINNING_SIDE[v.winner]
        if side is not None:
            wins[v.model_a if side == "a" else v.model_b] += 1
    shown = {n: lineup.metadata_or_name(n).get("display_name") or n for n in battles}
    order = sorted(battles, key=lambda n: (-wins[n], -battles[n], shown[n]))
    models = [
        {"name": n, "display_name": shown[n], "wins": wins[n], "battles": battles[n]} for n in order
    ]
    return {
        "votes": len(votes),
        "choices": {winner: choices[winner] for winner in WINNERS},
        "models": models,
    }
