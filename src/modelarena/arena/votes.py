"""Votes and thumbs: a battle's vote (its ownership and votability checks, its insert and
the conversation's features for the ratings in one transaction, committed before the
reveal is answered), and a direct chat's thumbs up or down on an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

from modelarena.arena.battle_features import view_features
from modelarena.arena.claims import Claims
from modelarena.arena.conversations import owned, refusal, why_not_votable
from modelarena.arena.lineup import Lineup
from modelarena.store import arena as store
from modelarena.store.arena import ConversationView
from modelarena.store.db import Database
from modelarena.vocabulary import WINNERS

# Why an answer got a thumbs down, as the chat page offers it (its words are in arena.js).
Reason = Literal["inaccurate", "unhelpful", "ignored_instructions", "unsafe", "other"]
REASONS: tuple[Reason, ...] = get_args(Reason)
MAX_COMMENT = 1000  # characters


class Votes:
    def __init__(
        self, db: Database, lineup: Lineup, claims: Claims, on_vote: Callable[[], None]
    ) -> None:
        self.db = db
        self.lineup = lineup
        self.claims = claims
        self.on_vote = on_vote  # told of every stored vote (the live leaderboard)

    def vote(self, visitor_id: str, conversation_id: str, winner: str) -> dict[str, Any]:
        if winner not in WINNERS:
            raise refusal(
                400, f"winner must be one of {', '.join(WINNERS)}", "invalid_winner", "winner"
            )
        seen: list[ConversationView] = []

        def check(found: ConversationView | None) -> None:
            view = owned(found, visitor_id)
            reason = why_not_votable(view, busy=False)  # the vote holds the claim itself
            if reason is not None:
                raise refusal(409, reason, "not_votable")
            seen.append(view)

        # Claimed while the vote is stored, so no send or regenerate can start meanwhile;
        # the checks, the insert and the features stored with it share one session.
        with self.claims.held(conversation_id):
            if not store.add_vote(
                self.db, conversation_id, visitor_id, winner, check, view_features
            ):
                raise refusal(409, "This battle has already been voted.", "not_votable")
        self.on_vote()
        return {
            "id": conversation_id,
            "winner": winner,
            "models": self.lineup.reveal(seen[0].models),
        }

    def feedback(
        self,
        visitor_id: str,
        conversation_id: str,
        turn: int,
        rating: int,
        reason: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Store the thumbs on a chat answer; a thumbs down may say why (`reason`) and
        carry a `comment`, a thumbs up neither. A new rating replaces all three."""
        comment = _checked_comment(comment)
        if reason is not None and reason not in REASONS:
            raise refusal(
                400, f"reason must be one of {', '.join(REASONS)}", "invalid_reason", "reason"
            )
        if rating == 1 and (reason or comment):
            raise refusal(
                400, "A reason or comment goes with a thumbs down.", "invalid_reason", "reason"
            )
        view = owned(store.get_conversation(self.db, conversation_id), visitor_id)
        if view.mode != "chat":
            raise refusal(
                400, "Thumbs are for direct chats; vote on a battle instead.", "not_a_chat"
            )
        if rating not in (1, -1):
            raise refusal(400, "rating must be 1 (up) or -1 (down)", "invalid_rating", "rating")
        if not 0 <= turn < len(view.turns) or not view.turns[turn].ok(view.sides):
            raise refusal(400, "no complete answer at that turn", "invalid_turn", "turn")
        store.set_feedback(self.db, view.turns[turn].id, visitor_id, rating, reason, comment)


def _checked_comment(comment: str | None) -> str | None:
    """The comment without surrounding blanks (None when nothing is left), or the refusal
    that says what is wrong with it."""
    comment = (comment or "").strip() or None
    if comment is None:
        return None
    if len(comment) > MAX_COMMENT:
        raise refusal(
            400,
            f"The comment is too long: at most {MAX_COMMENT} characters.",
            "comment_too_long",
            "comment",
        )
    if "\x00" in comment:
        raise refusal(
            400,
            "The comment contains a NUL character (U+0000); remove it.",
            "invalid_comment",
            "comment",
        )
    return comment
