"""The leaderboard page in a real browser (Debian's Chromium through Playwright) against a
real server whose database holds simulated votes: style control on and off (with its
coefficients), preliminary ratings, ranks by upper bound, filters kept in the address and
in the downloads, keyboard sorting with aria-sort, heatmaps that follow the theme, the
model × category table, models in groups that never met, and the empty states.

Screenshots at desktop and phone width, light and dark, go to test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import math
import random
import re
import time

import httpx
import pytest

from modelarena.arena.export import import_battles
from modelarena.rating import Filters, RatingConfig, rate, select_battles
from modelarena.store import arena as store
from modelarena.store.db import Database

from .scripted_models import model

playwright_api = pytest.importorskip("playwright.sync_api")
from .browser import DESKTOP, PHONE, needs_chromium, shot, shots  # noqa: E402

expect = playwright_api.expect
pytestmark = needs_chromium
# True strength (Elo scale) and the typical length of each model's answers, in words.
MODELS = {
    "atlas-7b": (1060, 80),
    "beacon-70b": (1100, 90),
    "cobalt-1b": (980, 80),
    "dune-500m": (960, 240),  # long answers, which voters like
}
METADATA = {
    "atlas-7b": {
        "organization": "Atlas",
        "license": "Apache-2.0",
        "parameters": 7_000_000_000,
        "url": "https://example.org/atlas",
    },  # fmt: skip
    "beacon-70b": {
        "organization": "Beacon",
        "license": "Proprietary",
        "parameters": 70_000_000_000,
    },
    "cobalt-1b": {"organization": "Cobalt", "license": "MIT", "parameters": 1_200_000_000},
    "dune-500m": {"organization": "Dune", "parameters": 500_000_000},
}
LENGTH_EFFECT = 1.5  # log-odds per unit of (a − b) / (a + b) length difference


def answer(name: str, rng: random.Random) -> str:
    """An answer of about the model's length (varying widely), in markdown half the time."""
    words = max(5, int(MODELS[name][1] * rng.uniform(0.3, 1.7)))
    body = " ".join(f"word{rng.randrange(50)}" for _ in range(words))
    return f"## Answer\n\n- **{body}**\n- more\n" if rng.random() < 0.5 else body


def simulated(n: int, seed: int, models: dict = MODELS, prefix: str = "sim") -> list[dict]:
    """FastChat battle records whose winners follow Bradley–Terry plus a liking for length;
    the last model battles less (fewer votes: a preliminary rating)."""
    rng = random.Random(seed)
    names = list(models)
    weights = [1.0] * (len(names) - 1) + [0.35]
    prompts = ["Tell me about rivers.", "Write a Python function that adds two numbers.",
               "What is 17 * 23? Show the arithmetic."]  # fmt: skip
    records = []
    for k in range(n):
        a, b = rng.choices(names, weights, k=2)
        while b == a:
            b = rng.choices(names, weights)[0]
        text_a, text_b = answer(a, rng), answer(b, rng)
        la, lb = len(text_a.split()), len(text_b.split())
        logit = math.log(10) / 400 * (models[a][0] - models[b][0])
        logit += LENGTH_EFFECT * (la - lb) / (la + lb)
        u = rng.random()
        p_a = 1 / (1 + math.exp(-logit))
        winner = "tie" if abs(u - p_a) < 0.05 else ("model_a" if u < p_a else "model_b")
        prompt = prompts[k % len(prompts)]
        records.append(
            {
                "question_id": f"{prefix}-{k}",
                "model_a": a,
                "model_b": b,
                "winner": winner,
                "tstamp": 1_700_000_000 + k,
                "conversation_a": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": text_a},
                ],  # fmt: skip
                "conversation_b": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": text_b},
                ],  # fmt: skip
            }
        )
    return records


def serve(start_server, scripted, tmp_path_factory, records, models):
    """A server over a database holding `records`, `models` configured with METADATA."""
    home = tmp_path_factory.mktemp("board")
    url = f"sqlite:///{home / 'arena.db'}"
    db = Database(url)
    db.migrate()
    import_battles(db, records)
    store.upsert_scores(db, [("atlas-7b", "MT-Bench", 7.4), ("beacon-70b", "MT-Bench", 8.1),
                             ("cobalt-1b", "MT-Bench", 5.2)], "test")  # fmt: skip
    db.close()
    config = {
        "include_default_models": False,
        "db_url": url,
        "arena": {"leaderboard_min_gap_s": 0},
        "models": [model(name, scripted, "plain", **METADATA.get(name, {})) for name in models],
    }
    return start_server(config)


def wait_rated(url: str, votes: int) -> dict:
    with httpx.Client(base_url=url) as client:
        for _ in range(600):
            board = client.get("/api/leaderboard").json()
            if board["votes"] == votes and board["rows"]:
                return board
            time.sleep(0.2)
    raise AssertionError(f"the leaderboard never rated {votes} votes: {board}")


def charts_drawn(page) -> None:
    """Waits for the charts, which load Plotly once they come near the window."""
    page.locator("#charts").scroll_into_view_if_needed()
    page.wait_for_selector("#chart-pairs .main-svg")


@pytest.fixture(scope="module")
def records():
    return simulated(900, seed=7)


@pytest.fixture(scope="module")
def server(start_server, scripted, tmp_path_factory, records):
    server = serve(start_server, scripted, tmp_path_factory, records, MODELS)
    wait_rated(server.url, len(records))
    return server


def fit(records, style: bool):
    selection = select_battles(records, Filters(anonymous_only=False), style_control=style)
    return {
        r["model"]: r for r in rate(selection.battles, RatingConfig(style_control=style)).records()
    }


def test_style_control_preliminary_ranks_and_coefficients(browser, server, records):
    board = httpx.get(server.url + "/api/leaderboard").json()
    assert board["style_control"] is True and board["models"] == 4
    styled, raw = fit(records, True), fit(records, False)
    # The page's ratings are the engine's on the same votes.
    for row in board["rows"]:
        assert row["rating"] == pytest.approx(styled[row["model"]]["rating"], abs=1e-6)
    length = next(c for c in board["coefficients"] if c["name"] == "length")
    assert length["lower"] > 0  # voters liked longer answers, and the fit found it
    # Style control takes away what length bought the long-winded model.
    assert styled["dune-500m"]["rating"] < raw["dune-500m"]["rating"] - 20
    rows = {r["model"]: r for r in board["rows"]}
    assert rows["dune-500m"]["preliminary"] and rows["dune-500m"]["num_battles"] < 300
    assert not rows["beacon-70b"]["preliminary"]

    page = browser.new_context(viewport=DESKTOP).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/leaderboard")
    expect(page.locator("#summary")).to_contain_text("900 votes, 4 models rated. Last updated")
    switch = page.get_by_role("switch", name="Style control: on")
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#style-help")).to_contain_text(re.compile(r"Length \+\d\.\d\d \(\+"))
    expect(page.locator("#rank-help")).to_contain_text("whole 95% interval lies above")
    expect(page.locator("#preliminary-help")).to_contain_text("fewer than 300 votes")
    dune = page.locator("#board tbody tr", has_text="dune-500m")
    expect(dune.locator(".tag")).to_have_text("preliminary")
    expect(page.get_by_role("link", name="atlas-7b")).to_have_attribute(
        "href", "https://example.org/atlas"
    )
    charts_drawn(page)
    shots(page, "leaderboard-style", full_page=True)

    switch.click()  # raw ratings: the address says so, and the numbers are the raw fit's
    expect(page.get_by_role("switch", name="Style control: off")).to_be_visible()
    expect(page).to_have_url(re.compile(r"style=false"))
    rating = page.locator("#board tbody tr", has_text="dune-500m").locator("td").nth(1)
    expect(rating).to_have_text(f"{raw['dune-500m']['rating']:.0f}")
    expect(page.locator("#style-help")).to_contain_text("Raw ratings")
    shot(page, "leaderboard-raw-desktop-light")
    assert not errors


def test_filters_live_in_the_address_and_the_downloads(browser, server):
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(server.url + "/leaderboard")
    expect(page.locator("#board tbody tr")).to_have_count(4)
    page.locator("#more-filters summary").click()
    page.get_by_label("Licence type").select_option("open")
    expect(page.locator("#board tbody tr")).to_have_count(2)  # Apache-2.0 and MIT
    page.get_by_label("Size").select_option("1-10B")
    expect(page.locator("#board tbody tr")).to_have_count(2)  # 7B and 1.2B
    page.get_by_label("Benchmark").select_option("MT-Bench")
    page.get_by_label("at least").fill("7")
    expect(page.locator("#board tbody tr")).to_have_count(1)
    expect(page.locator("#board tbody")).to_contain_text("atlas-7b")
    expect(page).to_have_url(
        re.compile(r"license_type=open.*size=1-10B.*score=MT-Bench.*score_min=7")
    )
    expect(page.locator("#filter-count")).to_have_text("(4 on)")
    # The downloads hold what the table shows.
    csv_url = page.locator("#csv").get_attribute("href")
    rows = list(csv.DictReader(io.StringIO(httpx.get(server.url + csv_url).text)))
    assert [r["model"] for r in rows] == ["atlas-7b"] and rows[0]["MT-Bench"] == "7.4"
    json_url = page.locator("#json").get_attribute("href")
    assert [r["model"] for r in httpx.get(server.url + json_url).json()["rows"]] == ["atlas-7b"]
    # A shared link opens the same view.
    shared = browser.new_context(viewport=PHONE).new_page()
    shared.goto(page.url)
    expect(shared.locator("#board tbody tr")).to_have_count(1)
    expect(shared.get_by_label("Licence type")).to_have_value("open")
    shot(shared, "leaderboard-filtered-phone-light", full_page=False)
    # Nothing matches: plain words and a way back.
    page.get_by_label("at least").fill("9")
    expect(page.locator("#board-message")).to_have_text(
        "No model matches these filters. Clear the filters to see every model."
    )
    expect(page.locator("#table-wrap")).to_be_hidden()
    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#board tbody tr")).to_have_count(4)
    # Bad filters are refused by the API in plain words, naming the parameter.
    bad = httpx.get(server.url + "/api/leaderboard?size=huge")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "size"
    bad = httpx.get(server.url + "/api/leaderboard?score_min=3")
    assert bad.status_code == 400 and "score_min needs score" in bad.json()["error"]["message"]
    bad = httpx.get(server.url + "/api/leaderboard?score=Nope")
    assert bad.status_code == 404 and bad.json()["error"]["param"] == "score"


def test_keyboard_sorting_with_aria_sort(browser, server):
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(server.url + "/leaderboard")
    expect(page.locator("#board tbody tr")).to_have_count(4)
    rank = page.locator("#board th", has_text="Rank")
    expect(rank).to_have_attribute("aria-sort", "ascending")
    votes = page.get_by_role("button", name="Votes")
    votes.focus()
    page.keyboard.press("Enter")  # votes sort most first
    header = page.locator("#board th", has_text="Votes")
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(rank).to_have_attribute("aria-sort", "none")
    counts = [
        int(t.replace(",", ""))
        for t in page.locator("#board tbody td:nth-child(5)").all_inner_texts()
    ]
    assert counts == sorted(counts, reverse=True)
    page.keyboard.press("Enter")  # focus stays on the button: again reverses
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page).to_have_url(re.compile(r"sort=num_battles&order=asc"))
    # The interval sorts by its bounds, highest first.
    page.get_by_role("button", name="95% interval").click()
    lows = [
        float(t.split(" to ")[0])
        for t in page.locator("#board tbody td:nth-child(4)").all_inner_texts()
    ]
    assert lows == sorted(lows, reverse=True)


def test_heatmaps_follow_the_theme_and_the_category_table(browser, server):
    page = browser.new_context(viewport=DESKTOP, color_scheme="dark").new_page()
    page.goto(server.url + "/leaderboard")
    charts_drawn(page)
    assert "232, 232, 234" in page.locator("#chart-pairs .xtick text").first.get_attribute("style")
    page.locator("#theme").click()  # to light: the charts redraw at once
    expect(page.locator("#chart-pairs .xtick text").first).to_have_attribute(
        "style", re.compile(r"29, 29, 31")
    )
    page.get_by_role("button", name="Battles per pair").click()
    expect(page.get_by_role("button", name="Battles per pair")).to_have_attribute(
        "aria-pressed", "true"
    )
    overview = page.locator("#overview-table")
    expect(overview.locator("thead th")).to_contain_text(["Model", "All votes", "Long prompts"])
    expect(overview.locator("tbody tr")).to_have_count(4)
    # Categories count their votes (code and math prompts are each a third of them).
    options = page.locator("#category option").all_inner_texts()
    assert "All votes (900 votes)" in options
    assert any(re.fullmatch(r"Code \((2\d\d|3\d\d) votes\)", o) for o in options), options
    page.locator("#overview").scroll_into_view_if_needed()
    shots(page, "leaderboard-charts", full_page=True)


def test_groups_that_never_met_and_the_empty_states(
    browser, start_server, scripted, tmp_path_factory
):
    empty = serve(start_server, scripted, tmp_path_factory, [], ["atlas-7b", "beacon-70b"])
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(empty.url + "/leaderboard")
    message = page.locator("#board-message")
    expect(message).to_have_text(re.compile("being computed|No votes yet"))  # first fit: not yet
    expect(message).to_contain_text("No votes yet", timeout=60_000)
    expect(page.locator("#table-wrap")).to_be_hidden()
    expect(page.locator("#charts")).to_be_hidden()
    assert "--l2" not in page.locator("main").inner_text()
    shot(page, "leaderboard-empty-phone-light", full_page=False)
    empty.stop()

    two_tracks = {"atlas-7b": MODELS["atlas-7b"], "beacon-70b": MODELS["beacon-70b"]}
    other_track = {"cobalt-1b": MODELS["cobalt-1b"], "dune-500m": MODELS["dune-500m"]}
    records = simulated(120, 1, two_tracks, "one") + simulated(60, 2, other_track, "two")
    grouped = serve(start_server, scripted, tmp_path_factory, records, MODELS)
    board = wait_rated(grouped.url, len(records))
    assert {r["model"]: r["group"] for r in board["rows"]} == {
        "atlas-7b": 1, "beacon-70b": 1, "cobalt-1b": 2, "dune-500m": 2,
    }  # fmt: skip
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(grouped.url + "/leaderboard")
    expect(page.locator("#board tr.group-head")).to_have_count(2)
    expect(page.locator("#board-message")).to_contain_text("cannot be compared")
    charts_drawn(page)
    shots(page, "leaderboard-groups")
    # A category with too few votes says so, with its count, and no command-line advice.
    page.locator("#category").select_option("multi-turn")
    expect(page.locator("#board-message")).to_contain_text("No votes in this category yet.")
    expect(page.locator("#summary")).to_contain_text("180 votes (0 in Multi-turn). Last updated")


def test_your_own_leaderboard_next_to_everyones(browser, server):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(server.url + "/leaderboard")
    expect(page.locator("#my-board-hint")).to_have_text(
        "Vote in 10 more blind battles to see your own leaderboard."
    )
    expect(page.locator("#my-board")).to_be_hidden()
    # Ten blind votes from this browser (its cookie), through the arena's API.
    request, origin = context.request, {"Origin": server.url}
    assert request.post(server.url + "/api/terms", headers=origin).ok
    for k in range(10):
        battle = request.post(server.url + "/api/conversations", data={}, headers=origin).json()
        path = f"{server.url}/api/conversations/{battle['id']}"
        assert request.post(path + "/messages", data={"prompt": f"hi {k}"}, headers=origin).ok
        assert request.post(path + "/vote", data={"winner": "model_a"}, headers=origin).ok
    page.reload()
    mine = page.locator("#my-board")
    expect(mine).to_be_visible()
    expect(mine.locator("summary")).to_have_text("Your leaderboard")
    expect(page.locator("#my-board-note")).to_contain_text("From your 10 blind votes")
    expect(page.locator("#my-board-hint")).to_be_hidden()
    # Everyone's rating of each model stands beside the visitor's own.
    first = mine.locator("tbody tr").first
    expect(first.locator("td").last).to_contain_text(re.compile(r"^\d+ \(rank \d\)$"))
    mine.scroll_into_view_if_needed()
    shot(page, "leaderboard-mine-desktop-light", full_page=False)
