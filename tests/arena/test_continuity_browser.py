"""The visitor's continuity on the arena pages, in Debian's Chromium against the real server
with scripted models: a reload in the middle of a battle brings it back (turns, then the
vote), the recent conversations list and resume links, a voted battle's share link (names
and vote, nothing of the visitor; an unvoted battle's link shows nothing), the "your votes
so far" line, and the visitor's own leaderboard once they have enough votes, checked
against a direct Bradley–Terry fit. Screenshots at desktop and phone width, light and
dark, go to test-artifacts/screenshots/."""

from __future__ import annotations

import contextlib
import json
import re

import pytest

from modelarena.rating import Filters, RatingConfig, rate, select_battles

from .scripted_models import model

playwright_api = pytest.importorskip("playwright.sync_api")
from .browser import (  # noqa: E402 (Playwright may be missing: skip first)
    PHONE,
    needs_chromium,
    new_page,
    open_page,
    send,
    shots,
)

expect = playwright_api.expect
pytestmark = needs_chromium
MIN_VOTES = 4
L2 = 0.5
SECRET = ("alpha", "beta", "AlphaCorp", "BetaLabs")  # names and makers, before a vote


@pytest.fixture(scope="module")
def server(start_server, scripted):
    return start_server(
        {
            "include_default_models": False,
            "models": [
                model(
                    "alpha-7b", scripted, "plain", display_name="Alpha 7B", organization="AlphaCorp"
                ),
                model(
                    "beta-13b", scripted, "other", display_name="Beta 13B", organization="BetaLabs"
                ),
            ],
            "arena": {
                "leaderboard_every_votes": 1,
                "leaderboard_min_gap_s": 0,
                "personal_board_min_votes": MIN_VOTES,
                "personal_board_l2": L2,
            },
        }
    )


def api_payloads(page) -> list[str]:
    """Collects the body of every API answer the page receives from now on, but the
    lineup's (every model in service, which says nothing of a battle's pair)."""
    seen: list[str] = []

    def keep(response) -> None:
        if "/api/" in response.url and "/api/models" not in response.url:
            # A stream the page aborted has nothing to read.
            with contextlib.suppress(playwright_api.Error):
                seen.append(response.text())

    page.on("response", keep)
    return seen


def conversation_id(page) -> str:
    found = re.search(r"[?&]conversation=([0-9a-f]{32})", page.url)
    assert found, page.url
    return found.group(1)


def assert_no_accessibility_problems(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    serious = [v["id"] for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, serious


def test_reload_resumes_a_battle_then_vote_share_and_read_only(browser, server):
    page, errors = open_page(browser, server.url + "/")
    payloads = api_payloads(page)
    send(page, "Name a colour.")
    battle = conversation_id(page)  # the address names the battle on screen
    send(page, "And another one.")
    expect(page.locator('.pane[data-side="a"] .turn')).to_have_count(2)

    page.reload()  # mid-battle: both turns come back, blind, and the vote is open
    for side in ("a", "b"):
        expect(page.locator(f'.pane[data-side="{side}"] .turn')).to_have_count(2)
    expect(page.locator(".user").first).to_have_text("Name a colour.")
    expect(page.locator('.pane[data-side="a"] .answer').first).to_contain_text("answer")
    expect(page.locator("#status")).to_have_text("Which answer is better?")
    expect(page.locator(".pane-title")).to_have_text(["Model A", "Model B"])
    vote_b = page.get_by_role("button", name="B is better")
    expect(vote_b).to_be_enabled()
    expect(page.locator("#prompt")).to_be_enabled()  # the battle may go on, too
    recent = page.locator("#recent-list li")
    expect(recent).to_have_count(1)
    expect(recent.first.locator("a")).to_have_text("Name a colour.")
    expect(recent.first.locator("a")).to_have_attribute("aria-current", "true")
    expect(recent.first).to_contain_text("Battle · 2 turns · not voted yet")
    assert conversation_id(page) == battle
    for payload in payloads:  # nothing the page was sent names a model before the vote
        for word in SECRET:
            assert word.lower() not in payload.lower(), (word, payload[:300])

    vote_b.click()
    expect(page.locator(".pane-title.revealed")).to_have_count(2)
    revealed = page.locator('.pane[data-side="b"] .pane-title').inner_text()
    picked = "Alpha 7B" if "Alpha 7B" in revealed else "Beta 13B"
    expect(page.locator("#tally")).to_have_text(
        f"You have voted once: 1 for B. Your most picked model: {picked} (1 of 1). "
        f"Vote in {MIN_VOTES - 1} more blind battles to see your own leaderboard."
    )
    expect(recent.first).to_contain_text("Battle · 2 turns · voted")
    share = page.get_by_role("button", name="Share", exact=True)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    share.click()
    link = f"{server.url}/share/{battle}"
    expect(page.locator("#share-note")).to_contain_text(link)
    assert page.evaluate("navigator.clipboard.readText()") == link

    page.reload()  # a voted battle opens read-only, its vote and names shown
    expect(page.locator(".pane-title.revealed")).to_have_count(2)
    expect(vote_b).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#status")).to_contain_text("You voted “B is better”")
    expect(page.locator("#prompt")).to_be_disabled()
    expect(vote_b).to_be_disabled()
    expect(share).to_be_visible()
    shots(page, "continuity-recent", full_page=True)
    assert_no_accessibility_problems(page)

    # The shared view, for anyone: the names, the vote, the turns; nothing of the visitor.
    visitor_id = next(c["value"] for c in page.context.cookies() if c["name"] == "ma_visitor")
    stranger, stranger_errors = new_page(browser)
    answer = stranger.goto(link)
    assert answer.status == 200
    expect(stranger.locator("h1")).to_have_text("A blind battle")
    expect(stranger.locator("#shared-vote")).to_have_text("The vote: B is better")
    titles = stranger.locator(".pane-title").all_inner_texts()
    assert sorted(t.split(":")[1].split("·")[0].strip() for t in titles) == ["Alpha 7B", "Beta 13B"]
    expect(stranger.locator('.pane[data-side="b"] .badge')).to_have_text("The pick")
    expect(stranger.locator('.pane[data-side="a"] .user')).to_have_text(
        ["Name a colour.", "And another one."]
    )
    html = stranger.content()
    assert visitor_id not in html and "127.0.0.1" not in html
    body = stranger.request.get(f"{server.url}/api/share/{battle}")
    data = body.json()
    assert set(data) == {"id", "mode", "date", "models", "winner", "turns"}
    assert data["winner"] == "model_b"
    assert {m["name"] for m in data["models"].values()} == {"alpha-7b", "beta-13b"}
    assert visitor_id not in body.text() and "visitor" not in body.text()
    shots(stranger, "continuity-share", full_page=True)
    assert_no_accessibility_problems(stranger)

    # A battle not voted yet is not shown, nor said to exist: the same page as no battle.
    page.get_by_role("button", name="New round").click()
    assert "conversation=" not in page.url
    expect(page.locator("#share")).to_be_hidden()
    send(page, "A secret question.")
    unvoted = conversation_id(page)
    for missing in (unvoted, "0" * 32):
        refused = stranger.goto(f"{server.url}/share/{missing}")
        assert refused.status == 404
        expect(stranger.locator("h1")).to_have_text("Nothing to show")
        text = stranger.locator("main").inner_text()
        assert "secret question" not in text.lower()
        assert not any(word.lower() in text.lower() for word in SECRET)
        api = stranger.request.get(f"{server.url}/api/share/{missing}")
        assert api.status == 404 and api.json()["error"]["code"] == "share_not_found"
        assert "secret" not in api.text()
    shots(stranger, "continuity-share-refused")
    assert not errors and not stranger_errors


def test_reload_while_answers_stream_keeps_them_and_the_vote(browser, start_server, scripted):
    slow = start_server(
        {
            "include_default_models": False,
            "models": [model("slow-lm", scripted, "slow"), model("slower-lm", scripted, "slow")],
        }
    )
    page, errors = open_page(browser, slow.url + "/")
    page.locator("#prompt").fill("Take your time.")
    page.locator("#send").click()
    for side in ("a", "b"):  # both answers have begun, and more is coming
        expect(page.locator(f'.pane[data-side="{side}"] .answer')).to_contain_text("Slowly")
    expect(page.locator(".answer.pending")).not_to_have_count(0)
    page.reload()  # the reload stops the answers; what they wrote so far is kept
    for side in ("a", "b"):
        answer = page.locator(f'.pane[data-side="{side}"] .answer')
        expect(answer).to_contain_text("Slowly")
        expect(answer).not_to_have_class(re.compile(r"\bpending\b"))
    expect(page.locator(".answer-note")).to_have_text(["Stopped before the end."] * 2)
    expect(page.locator("#status")).to_have_text(
        "Stopped. Vote on the answers so far, or regenerate them."
    )
    page.get_by_role("button", name="Tie").click()
    expect(page.locator(".pane-title.revealed")).to_have_count(2)
    assert not errors


def test_recent_list_resumes_a_chat_from_another_page(browser, server):
    page, errors = open_page(browser, server.url + "/chat", viewport=PHONE)
    page.get_by_label("Model", exact=True).select_option("beta-13b")
    send(page, "Hello, how are\n you   today?")
    chat = conversation_id(page)
    page.get_by_role("button", name="Thumbs up").click()
    expect(page.locator("#status")).to_have_text("Thanks for the feedback.")
    page.goto(server.url + "/")
    item = page.locator("#recent-list li").first
    expect(item.locator("a")).to_have_text("Hello, how are you today?")
    expect(item).to_contain_text("Chat · 1 turn ·")
    item.locator("a").click()
    expect(page).to_have_url(re.compile(rf"/chat\?conversation={chat}$"))
    expect(page.locator(".pane-title")).to_have_text("Model: Beta 13B")
    expect(page.locator(".turn .answer")).to_contain_text("Another answer")
    expect(page.get_by_role("button", name="Thumbs up")).to_have_class(re.compile(r"\bchosen\b"))
    expect(page.get_by_role("button", name="Thumbs up")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#prompt")).to_be_enabled()  # a chat goes on after a reload
    # A conversation of another browser is not shown; the page says so in plain words.
    other, other_errors = open_page(browser, f"{server.url}/chat?conversation={chat}")
    expect(other.locator("#status")).to_have_text(
        "That conversation is not available in this browser; start a new one here."
    )
    expect(other.locator(".turn")).to_have_count(0)
    assert "conversation=" not in other.url
    assert not errors and not other_errors


def vote_through_the_api(page, url: str, winner: str) -> dict:
    """One blind battle and its vote, as the page's own requests would make them."""
    started = page.request.post(url + "/api/conversations", data={"mode": "battle"})
    assert started.status == 201, started.text()
    battle = started.json()["id"]
    turn = page.request.post(
        f"{url}/api/conversations/{battle}/messages", data={"prompt": "Pick a number."}
    )
    assert turn.ok and '"done"' in turn.text(), turn.text()
    voted = page.request.post(f"{url}/api/conversations/{battle}/vote", data={"winner": winner})
    assert voted.ok, voted.text()
    return voted.json()


def everyone_matches_the_public_board(page, url: str) -> bool:
    """The own board's "everyone" columns are the public board's (raw, all votes) rows,
    read from the same snapshot, once the public board has rated both models (a fit may
    land between two reads: then read again)."""
    for _ in range(240):
        before = page.request.get(url + "/api/leaderboard?style=false").json()
        mine = page.request.get(url + "/api/leaderboard/mine").json()
        after = page.request.get(url + "/api/leaderboard?style=false").json()
        public = {r["model"]: r for r in before["rows"]}
        same = before["computed_at"] == mine["computed_at"] == after["computed_at"]
        if not same or len(public) < 2:
            page.wait_for_timeout(250)
            continue
        for row in mine["rows"]:
            theirs = public[row["model"]]
            assert row["everyone"] == {
                key: theirs[key]
                for key in ("rating", "ci_lower", "ci_upper", "rank_upper", "num_battles")
            }
        return True
    return False


def test_votes_so_far_and_own_leaderboard_after_enough_votes(browser, server):
    page, errors = open_page(browser, server.url + "/")
    expect(page.locator("#my-board")).to_be_hidden()
    results = [
        vote_through_the_api(page, server.url, winner)
        for winner in ("model_a", "tie", "model_b")[: MIN_VOTES - 1]
    ]
    send(page, "Which is better?")
    page.get_by_role("button", name="A is better").click()
    expect(page.locator(".pane-title.revealed")).to_have_count(2)
    last = {
        side: page.locator(f'.pane[data-side="{side}"] .pane-title').inner_text() for side in "ab"
    }
    results.append(
        {
            "winner": "model_a",
            "models": {
                s: {"name": "alpha-7b" if "Alpha" in t else "beta-13b"} for s, t in last.items()
            },
        }
    )
    votes = [
        {
            "model_a": r["models"]["a"]["name"],
            "model_b": r["models"]["b"]["name"],
            "winner": r["winner"],
        }
        for r in results
    ]
    wins = {"alpha-7b": 0, "beta-13b": 0}
    for v in votes:
        if v["winner"] != "tie":
            wins[v[v["winner"]]] += 1
    top = max(sorted(wins), key=lambda name: wins[name])
    top_name = {"alpha-7b": "Alpha 7B", "beta-13b": "Beta 13B"}[top]
    expect(page.locator("#tally")).to_have_text(
        f"You have voted {MIN_VOTES} times: 2 for A, 1 for B, 1 tie. "
        f"Your most picked model: {top_name} ({wins[top]} of {MIN_VOTES})."
    )
    board = page.locator("#my-board")
    expect(board).to_be_visible()
    board.locator("summary").click()

    # The numbers are a Bradley–Terry fit of exactly these votes, under the configured
    # penalty, next to the public board's.
    expected = rate(
        select_battles(votes, Filters(anonymous_only=False)).battles, RatingConfig(l2=L2)
    ).records()
    mine = page.request.get(server.url + "/api/leaderboard/mine").json()
    assert mine["enough"] and mine["votes"] == MIN_VOTES and mine["min_votes"] == MIN_VOTES
    assert [r["model"] for r in mine["rows"]] == [r["model"] for r in expected]
    for row, reference in zip(mine["rows"], expected, strict=True):
        for key in ("rating", "ci_lower", "ci_upper", "num_battles"):
            assert row[key] == pytest.approx(reference[key]), key
    assert everyone_matches_the_public_board(page, server.url)
    cells = board.locator("tbody tr").first.locator("td, th").all_inner_texts()
    first = mine["rows"][0]
    assert cells[0] == "1" and cells[1] == first["display_name"]
    assert cells[2] == (
        f"{round(first['rating'])} ({round(first['ci_lower'])}–{round(first['ci_upper'])})"
    )
    assert cells[3] == str(first["num_battles"])
    expect(board.locator("tbody tr")).to_have_count(2)
    expect(page.locator("#my-board-note")).to_contain_text(f"From your {MIN_VOTES} blind votes;")
    shots(page, "continuity-own-board", full_page=True)
    assert_no_accessibility_problems(page)
    assert json.dumps(mine).count("visitor") == 0
    assert not errors
