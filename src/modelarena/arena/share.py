"""A voted conversation as anyone with its link may see it: the prompts, both answers,
the models' names and the vote, and nothing about the visitor (no visitor id, address,
sampling or flags). A conversation without a vote is never shown, nor said to exist.

The link is the conversation's own id: 128 random bits (`secrets.token_hex(16)`), which
cannot be guessed or enumerated; only the owner's browser (and the operator's exports,
which hold the same conversation) know it."""

from __future__ import annotations

from typing import Any

from modelarena.arena.lineup import Lineup
from modelarena.arena.render import rendered_answers
from modelarena.errors import APIError
from modelarena.store.arena import ConversationView

NOT_SHARED = (
    "There is nothing to show at this link: the conversation does not exist, or it has "
    "not been voted yet."
)


def not_shared() -> APIError:
    return APIError(404, NOT_SHARED, code="share_not_found", type="not_found_error")


def shared_view(view: ConversationView | None, lineup: Lineup) -> dict[str, Any]:
    """The public view of a voted conversation, or the plain 404 for anything else."""
    if view is None or view.winner is None:
        raise not_shared()
    return {
        "id": view.id,
        "mode": view.mode,
        "date": view.created_at.date().isoformat(),
        "models": lineup.reveal(view.models),
        "winner": view.winner,
        "turns": [
            {
                "prompt": turn.prompt,
                "image": turn.image,
                "answers": rendered_answers(view, turn),
            }
            for turn in view.turns
        ],
    }
