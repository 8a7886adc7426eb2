"""Schema migrations move stored data, on SQLite and PostgreSQL: a conversation stored
before its image support had a column of its own keeps it."""

from __future__ import annotations

import sqlalchemy

from modelarena.store import arena as store
from modelarena.store.db import Database


def test_vision_moves_out_of_sampling_into_its_column(db_url):
    db = Database(db_url)
    db.migrate("0002")
    with db.engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "insert into visitors (id, ip_hash, created_at) values ('v', '', :now)"
            ),
            {"now": "2026-01-01 00:00:00"},
        )
        for conversation, sampling in (
            ("with", '{"temperature": 0.5, "vision": true}'),
            ("without", '{"temperature": 0.5}'),
        ):
            connection.execute(
                sqlalchemy.text(
                    "insert into conversations (id, visitor_id, mode, model_a, model_b, sampling, "
                    "created_at) values (:id, 'v', 'battle', 'a', 'b', :sampling, :now)"
                ),
                {"id": conversation, "sampling": sampling, "now": "2026-01-01 00:00:00"},
            )
    db.migrate()
    with_images = store.get_conversation(db, "with")
    assert with_images.vision is True and with_images.sampling == {"temperature": 0.5}
    assert store.get_conversation(db, "without").vision is False
    db.close()
