"""The model registry in SQLite and the machine's PostgreSQL: config seeding, runtime
adds, lifecycle dates, the audit trail (no secret in it), and the conflicts that leave
nothing half-written."""

from __future__ import annotations

import pytest

from modelarena.store import registry

UPSTREAM = {"name": "up-1", "engine": "openai", "base_url": "http://127.0.0.1:9/v1"}


def test_seeding_keeps_state_and_records_changed_definitions(db):
    registry.seed_config(db, [{"name": "local", "engine": "llamacpp", "path": "/m.gguf"}])
    first = registry.revision(db)
    registry.seed_config(db, [{"name": "local", "engine": "llamacpp", "path": "/m.gguf"}])
    assert registry.revision(db) == first  # nothing changed, nothing written
    registry.set_state(db, "local", "paused", "cli:test")
    registry.seed_config(db, [{"name": "local", "engine": "llamacpp", "path": "/other.gguf"}])
    entry = registry.registered_model(db, "local")
    assert entry.state == "paused" and entry.source == "config"
    assert entry.definition["path"] == "/other.gguf" and entry.revision == 3
    actions = [(c.action, c.actor) for c in registry.changes(db, "local")]
    assert actions == [("config", "config"), ("pause", "cli:test"), ("seed", "config")]


def test_runtime_model_add_update_state_and_audit(db):
    added = registry.add_model(db, UPSTREAM, "encrypted-token", "admin:abcd1234")
    assert (added.source, added.state, added.revision) == ("runtime", "active", 1)
    with pytest.raises(registry.RegistryConflict) as taken:
        registry.add_model(db, UPSTREAM, None, "cli:x")
    assert taken.value.code == "model_exists"
    registry.update_model(db, "up-1", {**UPSTREAM, "organization": "Acme"}, "cli:x")
    paused = registry.set_state(db, "up-1", "paused", "cli:x")
    retired = registry.set_state(db, "up-1", "retired", "cli:x")
    assert paused.paused_at is not None and retired.retired_at is not None
    assert retired.revision == 4
    history = registry.changes(db, "up-1")
    assert [c.action for c in history] == ["retire", "pause", "update", "add"]
    update = history[2]
    assert update.before["definition"].get("organization") is None
    assert update.after["definition"]["organization"] == "Acme"
    assert update.after["secret"] is True  # only whether one is set
    assert all("encrypted-token" not in repr((c.before, c.after)) for c in history)


def test_conflicts_write_nothing(db):
    registry.seed_config(db, [{"name": "cfg", "engine": "llamacpp", "path": "/m.gguf"}])
    before = registry.revision(db)
    with pytest.raises(registry.RegistryConflict) as owned:
        registry.update_model(db, "cfg", {"name": "cfg", "engine": "llamacpp", "path": "/x"}, "a")
    assert owned.value.code == "config_model"
    with pytest.raises(registry.RegistryConflict) as missing:
        registry.set_state(db, "nobody", "paused", "a")
    assert missing.value.code == "model_not_found"
    with pytest.raises(registry.RegistryConflict):
        registry.add_model(
            db, {"name": "cfg", "engine": "openai", "base_url": "http://x"}, None, "a"
        )
    assert registry.revision(db) == before
    registry.add_model(db, UPSTREAM, None, "a")
    with pytest.raises(registry.RegistryConflict) as clash:
        registry.seed_config(db, [{**UPSTREAM}])
    assert clash.value.code == "model_exists"
