"""Arena rows for the judge's database tests, written with the store's own tables."""

from __future__ import annotations

from modelarena.store.db import Database
from modelarena.store.models import Conversation, Turn, Visitor, Vote


def add_battle(
    db: Database,
    conversation_id: str,
    model_a: str,
    model_b: str,
    turns: list[tuple[str, str, str]],
    winner: str | None,
) -> None:
    """A battle with (prompt, answer_a, answer_b) turns and, unless None, its vote."""
    visitor = f"visitor-{conversation_id}"
    with db.session() as session:
        session.add(Visitor(id=visitor, ip_hash="0" * 64))
        session.flush()
        session.add(
            Conversation(
                id=conversation_id,
                visitor_id=visitor,
                mode="battle",
                model_a=model_a,
                model_b=model_b,
                sampling={},
            )
        )
        session.flush()
        for position, (prompt, answer_a, answer_b) in enumerate(turns):
            session.add(
                Turn(
                    conversation_id=conversation_id,
                    position=position,
                    prompt=prompt,
                    answer_a=answer_a,
                    answer_b=answer_b,
                    finish_a="stop",
                    finish_b="stop",
                )
            )
        if winner is not None:
            session.flush()
            session.add(Vote(conversation_id=conversation_id, visitor_id=visitor, winner=winner))
