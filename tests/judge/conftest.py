"""Fixtures for the judge tests: the scripted judge server, MT-Bench data from
../shared/data (skipped when absent), and small answer sets written to disk."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .helpers import SHARED_DATA
from .scripted import Script, ScriptedJudge


@pytest.fixture
def scripted_judge(free_port):
    """Start a scripted judge: `scripted_judge(script)` -> a running ScriptedJudge."""
    started: list[ScriptedJudge] = []

    def start(script: Script) -> ScriptedJudge:
        server = ScriptedJudge(script, free_port()).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def mt_bench() -> Path:
    path = SHARED_DATA / "mt_bench"
    if not (path / "question.jsonl").is_file():
        pytest.skip(
            f"MT-Bench data not found at {path}; these tests read the real files from "
            "../shared/data/mt_bench beside the project"
        )
    return path


@pytest.fixture(scope="session")
def arena_hard() -> Path:
    path = SHARED_DATA / "arena_hard_v0.1"
    if not (path / "question.jsonl").is_file():
        pytest.skip(
            f"Arena-Hard data not found at {path}; these tests read the real files "
            "from ../shared/data/arena_hard_v0.1 beside the project"
        )
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def arena_url(request, tmp_path):
    """An empty arena database URL: SQLite in tmp_path, or a new PostgreSQL database of its
    own on the test server (dropped afterwards), so tests never see each other's rows."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'arena.db'}"
        return
    sqlalchemy = pytest.importorskip("sqlalchemy")
    server = request.getfixturevalue("postgres_url")
    name = f"judge_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield server.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
