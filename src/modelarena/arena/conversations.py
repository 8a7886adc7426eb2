"""The rules of a conversation: whose it is, and what may happen to it next (another
turn, a vote), with the refusals that say why not."""

from __future__ import annotations

from modelarena.errors import APIError
from modelarena.store.arena import ConversationView


def refusal(status: int, message: str, code: str, param: str | None = None) -> APIError:
    return APIError(status, message, code=code, param=param)


def already_voted() -> APIError:
    return refusal(409, "This battle has been voted; start a new round.", "already_voted")


def owned(view: ConversationView | None, visitor_id: str) -> ConversationView:
    """`view` if it exists and is the visitor's own, else the refusal that says why."""
    if view is None:
        raise refusal(404, "No such conversation.", "conversation_not_found")
    if view.visitor_id != visitor_id:
        raise refusal(403, "This conversation belongs to another browser session.", "not_owner")
    return view


def why_not_votable(view: ConversationView, busy: bool) -> str | None:
    """Why the conversation cannot be voted now, or None when it can (`busy`: another
    action holds it)."""
    if view.mode == "chat":
        return "A direct chat takes thumbs up or down on answers, not a vote."
    if view.winner is not None:
        return "This battle has already been voted."
    if not view.turns:
        return "Send a prompt first."
    if busy:
        return "Wait until both answers are complete."
    if not view.turns[-1].ok(view.sides):
        return "Both answers must be complete and without errors."
    return None


def can_continue(view: ConversationView, max_turns: int) -> bool:
    """Whether another prompt may be sent: not voted, turns left, the last one answered."""
    last = view.turns[-1] if view.turns else None
    return (
        view.winner is None
        and len(view.turns) < max_turns
        and (last is None or last.ok(view.sides))
    )
