"""Shared test fixtures: real servers as subprocesses, and the machine's PostgreSQL and
Redis when they are reachable (tests that need them skip with a message otherwise)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

POSTGRES_ADMIN_URL = os.environ.get(
    "MODELARENA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MODELARENA_TEST_REDIS", "redis://127.0.0.1:6379/0")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A `modelarena` subprocess (serve or worker) on a free port, with its log."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.kept = False  # True: runs for the whole session, not just its module
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelarena.cli", *args],
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str = "/health", timeout: float = 120.0) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._log_file.close()


@pytest.fixture(name="free_port")
def free_port_fixture():
    """A function returning a currently free TCP port on loopback."""
    return free_port


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One model cache for the session, so the Gemma GGUF is assembled once."""
    return Path(os.environ.get("MODELARENA_TEST_CACHE", tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def start_server(tmp_path_factory, cache_dir):
    """Start `modelarena serve` (or `worker`) with a config dict and extra env vars."""
    started: list[Server] = []

    def start(
        config: dict | None = None,
        env: dict[str, str] | None = None,
        command: str = "serve",
        args: list[str] | None = None,
        ready: bool = True,
    ) -> Server:
        home = tmp_path_factory.mktemp("server")
        port = free_port()
        argv = [command, "--port", str(port)]
        if config is not None:
            path = home / "config.yaml"
            path.write_text(yaml.safe_dump(config))
            argv += ["--config", str(path)]
        argv += args or []
        server_env = {
            "MODELARENA_DATA_DIR": str(home / "data"),
            "MODELARENA_CACHE_DIR": str(cache_dir),
            **(env or {}),
        }
        server = Server(argv, server_env, home / "server.log", port)
        started.append(server)
        return server.wait_ready() if ready else server

    start.started = started  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module", autouse=True)
def _servers_stop_with_their_module(start_server):
    """Servers started in a module stop when it ends: kept for the whole session, the
    servers with models loaded would hold gigabytes by its end. The session's default
    server is kept."""
    before = len(start_server.started)
    yield
    for server in start_server.started[before:]:
        if not server.kept:
            server.stop()


@pytest.fixture(scope="session")
def default_server(start_server) -> Server:
    """The platform on its embedded defaults (both bundled models, SQLite)."""
    server = start_server()
    server.kept = True
    return server


def _postgres_database() -> Iterator[str]:
    """A new PostgreSQL database, dropped afterwards; skips when there is no server."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = f"modelarena_test_{uuid.uuid4().hex[:10]}"
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        admin.dispose()
        pytest.skip(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}); start it or "
            "set MODELARENA_TEST_POSTGRES to a server URL to run these tests"
        )
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, dropped afterwards."""
    yield from _postgres_database()


@pytest.fixture
def own_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    yield from _postgres_database()


@pytest.fixture(scope="session")
def redis_url() -> str:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:
        pytest.skip(
            f"Redis is not reachable at {REDIS_URL} ({exc}); start it or set "
            "MODELARENA_TEST_REDIS to a server URL to run these tests"
        )
    return REDIS_URL
