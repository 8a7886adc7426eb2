"""The admin's views in the store, on SQLite and PostgreSQL: migration 0006 keeps the
thumbs stored before it (with no reason); the conversation browser's filters (model,
mode, vote, thumbs, flag, UTC days) and pages; and vote statistics per model and per UTC
day, counted from conversations stored on known days."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy

from modelarena.store import arena as store
from modelarena.store import browse
from modelarena.store.browse import Filters
from modelarena.store.db import Database
from modelarena.store.models import Conversation, Feedback, Flag, Turn, Visitor, Vote


def test_thumbs_stored_before_reasons_keep_their_rating(db_url):
    db = Database(db_url)
    db.migrate("0005")
    now = {"now": "2026-01-01 00:00:00"}
    with db.engine.begin() as connection:
        for statement in (
            "insert into visitors (id, ip_hash, created_at) values ('v', '', :now)",
            "insert into conversations (id, visitor_id, mode, model_a, sampling, vision, "
            "created_at) values ('c', 'v', 'chat', 'm', '{}', false, :now)",
            "insert into turns (conversation_id, position, prompt, regenerations, created_at, "
            "answer_a, finish_a) values ('c', 0, 'hi', 0, :now, 'hello', 'stop')",
            "insert into feedback (turn_id, visitor_id, rating, created_at) "
            "select id, 'v', -1, :now from turns",
        ):
            connection.execute(sqlalchemy.text(statement), now)
    db.migrate()
    given = browse.feedback_of(db, "c")
    assert (given[0].rating, given[0].reason, given[0].comment) == (-1, None, None)
    db.close()


def day(number: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, number, hour, tzinfo=UTC)


def add(
    db: Database,
    cid: str,
    mode: str,
    models: tuple[str, str | None],
    when: datetime,
    winner: str | None = None,
    thumbs: tuple[tuple[int, str | None, str | None], ...] = (),
    flag: bool | None = None,
) -> None:
    """A conversation stored on `when`: one turn per thumb (at least one), its vote, and
    a flag (excluding or not) when `flag` is given."""
    with db.session() as session:
        if session.get(Visitor, "v") is None:
            session.add(Visitor(id="v", ip_hash=""))
            session.flush()
        session.add(
            Conversation(
                id=cid,
                visitor_id="v",
                mode=mode,
                model_a=models[0],
                model_b=models[1],
                sampling={},
                created_at=when,
            )
        )
        session.flush()
        for position in range(max(1, len(thumbs))):
            turn = Turn(
                conversation_id=cid,
                position=position,
                prompt=f"{cid} prompt {position}",
                answer_a="a",
                answer_b="b" if models[1] else None,
                created_at=when,
            )
            session.add(turn)
            session.flush()
            if thumbs:
                rating, reason, comment = thumbs[position]
                session.add(
                    Feedback(
                        turn_id=turn.id,
                        visitor_id="v",
                        rating=rating,
                        reason=reason,
                        comment=comment,
                        created_at=when,
                    )
                )
        if winner:
            session.add(Vote(conversation_id=cid, visitor_id="v", winner=winner, created_at=when))
        if flag is not None:
            session.add(Flag(conversation_id=cid, kind="identity_leak", excluded=flag))


def fill(db: Database) -> None:
    add(db, "b1", "battle", ("north", "south"), day(1), "model_a")
    add(db, "b2", "battle", ("south", "north"), day(1, 23), "model_a", flag=True)
    add(db, "b3", "battle", ("north", "east"), day(2), "tie")
    add(db, "b4", "battle", ("east", "south"), day(3), "tie (bothbad)", flag=False)
    add(db, "b5", "battle", ("north", "south"), day(3))  # not voted
    add(db, "s1", "side_by_side", ("north", "south"), day(2), "model_b")
    add(
        db,
        "c1",
        "chat",
        ("north", None),
        day(2),
        thumbs=((-1, "inaccurate", "Paris is not in Spain."), (1, None, None)),
    )
    add(db, "c2", "chat", ("east", None), day(3), thumbs=((-1, "unsafe", None),))


def ids(db: Database, **filters) -> list[str]:
    rows, total = browse.browse(db, Filters(**filters), 0, 100)
    assert total == len(rows)
    return [row.id for row in rows]


def test_the_browser_filters_and_pages(db):
    fill(db)
    # Newest first (of one moment, the greater id first).
    assert ids(db) == ["c2", "b5", "b4", "s1", "c1", "b3", "b2", "b1"]
    assert ids(db, model="east") == ["c2", "b4", "b3"]
    assert ids(db, mode="chat") == ["c2", "c1"]
    assert ids(db, outcome="model_a") == ["b2", "b1"]
    assert ids(db, outcome="unvoted") == ["b5"]
    assert ids(db, outcome="thumbs_down") == ["c2", "c1"]
    assert ids(db, outcome="thumbs_up") == ["c1"]
    assert ids(db, flag="flagged") == ["b4", "b2"]
    assert ids(db, flag="excluded") == ["b2"]
    assert len(ids(db, flag="unflagged")) == 6
    # UTC days: the 1st ends at midnight (b2 at 23:00 is in it).
    assert ids(db, since=day(1, 0), until=day(2, 0)) == ["b2", "b1"]
    assert ids(db, model="north", mode="battle", since=day(2, 0)) == ["b5", "b3"]

    page, total = browse.browse(db, Filters(), offset=3, limit=3)
    assert total == 8 and [row.id for row in page] == ["s1", "c1", "b3"]

    c1 = browse.browse(db, Filters(mode="chat", model="north"), 0, 10)[0][0]
    assert (c1.turns, c1.thumbs_up, c1.thumbs_down, c1.reasons) == (2, 1, 1, ("inaccurate",))
    assert c1.first_prompt == "c1 prompt 0" and c1.winner is None
    b2 = browse.browse(db, Filters(outcome="model_a", flag="excluded"), 0, 10)[0][0]
    assert (b2.model_a, b2.model_b, b2.winner, b2.flags) == (
        "south",
        "north",
        "model_a",
        ("identity_leak",),
    )

    given = browse.feedback_of(db, "c1")
    assert (given[0].rating, given[0].reason, given[0].comment) == (
        -1,
        "inaccurate",
        "Paris is not in Spain.",
    )
    assert (given[1].rating, given[1].reason) == (1, None)


def test_vote_statistics_per_model_and_per_day(db):
    fill(db)
    models, days = browse.vote_stats(db, Filters(mode="battle"))
    counted = {
        m.model: (m.votes, m.wins, m.losses, m.ties, m.both_bad, m.thumbs_up, m.thumbs_down)
        for m in models
    }
    assert counted == {
        "north": (3, 1, 1, 1, 0, 1, 1),  # b1 won, b2 lost, b3 tie; c1's thumbs
        "south": (3, 1, 1, 0, 1, 0, 0),  # b1 lost, b2 won, b4 both bad
        "east": (2, 0, 0, 1, 1, 0, 1),  # b3 tie, b4 both bad; c2's thumbs down
    }
    reasons = {m.model: m.reasons for m in models}
    assert reasons == {"north": {"inaccurate": 1}, "south": {}, "east": {"unsafe": 1}}
    assert [(d.day, d.votes, d.outcomes, d.thumbs_up, d.thumbs_down) for d in days] == [
        ("2026-03-01", 2, {"model_a": 2}, 0, 0),
        ("2026-03-02", 1, {"tie": 1}, 1, 1),
        ("2026-03-03", 1, {"tie (bothbad)": 1}, 0, 1),
    ]

    # Any mode counts the side-by-side vote too; a model and a day range narrow it.
    every = {m.model: m.votes for m in browse.vote_stats(db, Filters())[0]}
    assert every == {"north": 4, "south": 4, "east": 2}
    north, north_days = browse.vote_stats(
        db, Filters(model="north", mode="battle", since=day(2, 0), until=day(3, 0))
    )
    assert [(m.model, m.votes, m.ties, m.thumbs_down) for m in north] == [("north", 1, 1, 1)]
    assert [(d.day, d.votes, d.thumbs_up) for d in north_days] == [("2026-03-02", 1, 1)]


def test_set_feedback_replaces_reason_and_comment(db):
    add(db, "c", "chat", ("m", None), day(1))
    turn = store.get_conversation(db, "c").turns[0].id
    store.set_feedback(db, turn, "v", -1, "other", "Too long.")
    assert browse.feedback_of(db, "c")[0].comment == "Too long."
    store.set_feedback(db, turn, "v", 1)
    given = browse.feedback_of(db, "c")[0]
    assert (given.rating, given.reason, given.comment) == (1, None, None)
