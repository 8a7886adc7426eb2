"""Arena test fixtures: the scripted provider, an arena client that behaves like a browser
(its own cookie jar, same-origin header), and helpers to run a battle turn."""

from __future__ import annotations

import json

import httpx
import pytest

from modelarena.store.db import Database

from . import scripted_models


@pytest.fixture(scope="session")
def scripted():
    server, base_url = scripted_models.start()
    yield base_url
    server.shutdown()


class Visitor:
    """One browser: a cookie jar, and the Origin header a page would send."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, headers={"Origin": url}, timeout=120)
        self.payloads: list[str] = []  # every response body and header seen

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        self.payloads.append(json.dumps(dict(response.headers)))
        self.payloads.append(response.text)
        return response

    def accept_terms(self) -> Visitor:
        assert self.request("POST", "/api/terms").status_code == 200
        return self

    def start(self, **body) -> dict:
        response = self.request("POST", "/api/conversations", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def send(self, conversation: str, prompt: str, path: str = "messages", **body) -> list[dict]:
        """Send a prompt (or regenerate) and return the stream's events."""
        payload = None if path == "regenerate" else {"prompt": prompt, **body}
        with self.http.stream(
            "POST", f"/api/conversations/{conversation}/{path}", json=payload
        ) as response:
            text = response.read().decode()
            self.payloads.append(json.dumps(dict(response.headers)))
            self.payloads.append(text)
            if response.status_code != 200:
                raise AssertionError(f"{response.status_code}: {text}")
        return [json.loads(line[6:]) for line in text.split("\n\n") if line.startswith("data: ")]

    def vote(self, conversation: str, winner: str = "model_a") -> httpx.Response:
        return self.request(
            "POST", f"/api/conversations/{conversation}/vote", json={"winner": winner}
        )

    def close(self) -> None:
        self.http.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A new database for one test, on SQLite and on the machine's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'arena.db'}"
    return request.getfixturevalue("own_postgres_url")


@pytest.fixture
def db(db_url):
    """That database, migrated to the current schema."""
    database = Database(db_url)
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def visitor_factory():
    made: list[Visitor] = []

    def make(url: str) -> Visitor:
        made.append(Visitor(url))
        return made[-1]

    yield make
    for visitor in made:
        visitor.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one for each test module that asks."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from .browser import launch

    with sync_api.sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()
