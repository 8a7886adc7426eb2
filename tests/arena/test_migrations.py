"""Schema migrations move stored data, on SQLite and PostgreSQL: a conversation stored
before its image support had a column of its own keeps it; models stored before the
registry become its configured, active models with their overrides; battles voted before
their features were stored count on the leaderboard, with features computed once."""

from __future__ import annotations

import sqlalchemy

from modelarena.arena.battle_features import view_features
from modelarena.arena.battle_table import BattleTable
from modelarena.store import arena as store
from modelarena.store import registry
from modelarena.store.battles import FEATURES, Features
from modelarena.store.db import Database
from modelarena.store.models import Vote


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


def test_models_stored_before_the_registry_become_active_config_models(db_url):
    db = Database(db_url)
    db.migrate("0003")
    with db.engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "insert into models (name, vision, enabled, weight, updated_at) "
                "values ('old-model', false, false, 2.0, :now)"
            ),
            {"now": "2026-01-01 00:00:00"},
        )
    db.migrate()
    entry = registry.registered_model(db, "old-model")
    assert (entry.source, entry.state, entry.revision) == ("config", "active", 1)
    assert (entry.enabled, entry.weight) == (False, 2.0)  # the admin's overrides stay
    assert entry.added_at is not None and registry.revision(db) == 0
    # Seeding it from a configuration file now records its definition once.
    registry.seed_config(db, [{"name": "old-model", "engine": "openai", "base_url": "http://x"}])
    assert registry.registered_model(db, "old-model").definition["base_url"] == "http://x"
    assert [c.action for c in registry.changes(db, "old-model")] == ["config"]
    db.close()


def test_battles_voted_before_features_were_stored_get_them_on_first_load(db_url):
    db = Database(db_url)
    db.migrate("0004")
    now = {"now": "2026-01-01 00:00:00"}
    statements = [
        "insert into visitors (id, ip_hash, created_at) values ('v', '', :now)",
        "insert into conversations (id, visitor_id, mode, model_a, model_b, sampling, vision, "
        "created_at) values ('old', 'v', 'battle', 'a', 'b', '{}', false, :now)",
        "insert into turns (conversation_id, position, prompt, regenerations, created_at, "
        "answer_a, answer_b, finish_a, finish_b) values ('old', 0, 'Solve x + 1 = 3 in "
        "Python', 0, :now, '```python\nx = 2\n```', '**x = 2**', 'stop', 'stop')",
        "insert into votes (conversation_id, visitor_id, winner, created_at) "
        "values ('old', 'v', 'model_b', :now)",
    ]
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(sqlalchemy.text(statement), now)
    db.migrate()
    rows = BattleTable(db).load().to_pylist()
    assert [(r["question_id"], r["winner"], r["code"], r["math"]) for r in rows] == [
        ("old", "model_b", True, True)
    ]
    with db.session() as session:
        stored = session.scalar(sqlalchemy.select(Vote).where(Vote.conversation_id == "old"))
        written = Features(*(getattr(stored, name) for name in FEATURES))
    assert written == view_features(store.get_conversation(db, "old"))
    db.close()
