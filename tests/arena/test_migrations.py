"""Schema migrations move stored data, on SQLite and PostgreSQL: a conversation stored
before its image support had a column of its own keeps it; models stored before the
registry become its configured, active models with their overrides."""

from __future__ import annotations

import sqlalchemy

from modelarena.store import arena as store
from modelarena.store import registry
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
