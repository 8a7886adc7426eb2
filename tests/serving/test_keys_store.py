"""API keys in the store: hashed at rest, found, revoked — on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import text

from modelarena.store import repo
from modelarena.store.db import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'k.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database(url)
    db.migrate()
    yield db
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM api_keys"))
    db.close()


def test_key_is_shown_once_and_only_its_hash_is_stored(database):
    info, key = repo.create_api_key(database, "ci", rpm_limit=7)
    assert key.startswith(repo.KEY_PREFIX) and len(key) > 40
    with database.engine.connect() as connection:
        stored = connection.execute(text("SELECT key_hash, prefix FROM api_keys")).one()
    assert stored.key_hash == repo.hash_key(key) and key not in stored.key_hash
    found = repo.find_active_key(database, key)
    assert found is not None and found.id == info.id and found.rpm_limit == 7
    assert repo.find_active_key(database, key + "x") is None


def test_revoked_key_is_not_found(database):
    info, key = repo.create_api_key(database, "temp")
    assert repo.count_active_keys(database) == 1
    assert repo.revoke_api_key(database, info.id)
    assert not repo.revoke_api_key(database, info.id)
    assert repo.find_active_key(database, key) is None
    assert repo.count_active_keys(database) == 0


def test_migrating_twice_is_harmless(database):
    database.migrate()
    assert repo.list_api_keys(database) == []
