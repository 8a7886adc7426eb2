"""In a real browser (Debian's Chromium through Playwright) against the real server with
scripted models: a chat's thumbs down asks why in a dialog used from the keyboard (a
refused comment is explained in it, Escape changes nothing), and the admin reads the
reason and comment; the admin page's conversation browser (filters, pages, reading one),
vote statistics that match the votes made, export downloads with the right rows, and
sign-out. Screenshots at desktop and phone width, light and dark; axe-core finds no
serious or critical problem."""

from __future__ import annotations

import json

import pytest

from .conftest import Visitor
from .scripted_models import model

playwright_api = pytest.importorskip("playwright.sync_api")
from .browser import (  # noqa: E402 (Playwright may be missing: skip first)
    DESKTOP,
    SIZES,
    needs_chromium,
    new_page,
    open_page,
    send,
    set_theme,
    shot,
)

expect = playwright_api.expect
TOKEN = "browser-admin"
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(start_server, scripted):
    """Battles always between alpha-lm and leaky-lm (which names itself, so each battle
    is flagged out of the ratings)."""
    return start_server(
        {
            "include_default_models": False,
            "arena": {"admin_token": TOKEN, "visitor_rpm": 0, "ip_rpm": 0},
            "models": [
                model("alpha-lm", scripted, "plain", display_name="Alpha"),
                model("leaky-lm", scripted, "leaky", display_name="LeakyLM"),
            ],
        }
    )


def assert_no_accessibility_problems(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    serious = [
        (v["id"], v["nodes"][0]["html"])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, serious


def shots_at(page, heading: str, name: str) -> None:
    """Screenshots of the window scrolled to `heading`, in every look (switching the
    theme scrolls to its button, so each look scrolls again)."""
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            page.locator(heading).evaluate("(node) => node.scrollIntoView()")
            shot(page, f"{name}-{size}-{theme}", full_page=False)
    page.set_viewport_size(DESKTOP)
    set_theme(page, "light")


def sign_in(page, url: str) -> None:
    page.goto(url + "/admin")
    page.locator("#token").fill(TOKEN)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#admin-panels")).to_be_visible()


def test_a_thumbs_down_asks_why_and_the_admin_reads_it(browser, server):
    page, errors = open_page(browser, server.url + "/chat")
    send(page, "What is the capital of France?")
    down = page.get_by_role("button", name="Thumbs down")
    dialog = page.get_by_role("dialog", name="What was wrong with this answer?")

    down.click()  # Escape closes the dialog and leaves the answer unrated
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(down).to_have_attribute("aria-pressed", "false")
    expect(down).to_be_focused()

    for size, viewport in SIZES.items():  # the dialog in every look (open over the chat)
        page.set_viewport_size(viewport)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            down.click()
            page.get_by_label("Not helpful").check()
            page.get_by_label("Comment (optional)").fill("It answered a different question.")
            shot(page, f"feedback-dialog-{size}-{theme}", full_page=False)
            if theme == "dark" or size == "desktop":
                assert_no_accessibility_problems(page)
            dialog.get_by_role("button", name="Cancel").click()
            expect(dialog).to_be_hidden()
    page.set_viewport_size(DESKTOP)
    set_theme(page, "light")

    # From the keyboard: the first reason has the focus; Space picks it, Tab goes on.
    down.focus()
    page.keyboard.press("Enter")
    first = page.get_by_label("Wrong or made up")
    expect(first).to_be_focused()
    page.keyboard.press("ArrowDown")  # radio buttons move with the arrows
    page.keyboard.press("ArrowUp")
    expect(first).to_be_checked()
    page.keyboard.press("Tab")
    comment = page.get_by_label("Comment (optional)")
    expect(comment).to_be_focused()
    page.keyboard.type("Paris is right, but the population is made up.")
    expect(page.locator("#feedback-count")).to_have_text("46 of 1000 characters")
    # A comment the server refuses keeps the dialog open and says why.
    comment.evaluate("(area) => { area.value = 'bad \\u0000 text'; }")
    dialog.get_by_role("button", name="Send feedback").click()
    expect(dialog.get_by_role("alert")).to_contain_text("NUL character")
    expect(comment).to_be_focused()
    expect(down).to_have_attribute("aria-pressed", "false")
    comment.fill("Paris is right, but the population is made up.")
    page.keyboard.press("Tab")  # Cancel
    page.keyboard.press("Tab")  # Send
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#status")).to_have_text("Thanks for the feedback.")
    expect(down).to_have_attribute("aria-pressed", "true")
    assert not errors

    admin, admin_errors = new_page(browser)
    sign_in(admin, server.url)
    filters = admin.locator("#browse-filters")
    filters.locator('[name="mode"]').select_option(label="Direct chat")
    filters.locator('[name="outcome"]').select_option(label="Chat: thumbs down")
    filters.get_by_role("button", name="Show").click()
    rows = admin.locator("#conversations tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("▼ 1 (inaccurate)")
    rows.first.get_by_role("button", name="View").click()
    reader = admin.locator("#reader")
    expect(reader).to_be_focused()
    expect(reader.locator(".feedback-note")).to_have_text(
        "▼ Thumbs down · inaccurate" + "Paris is right, but the population is made up."
    )
    shots_at(admin, "#reader", "admin-feedback-reader")
    reader.get_by_role("button", name="Close").click()
    expect(reader).to_be_hidden()
    expect(rows.first.get_by_role("button", name="View")).to_be_focused()
    assert not admin_errors


def make_votes(url: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Three voted battles and one unvoted, through the API: their ids by winner
    ("none": unvoted) and the votes as revealed (model a, model b, winner)."""
    visitor = Visitor(url).accept_terms()
    battles, votes = {}, []
    for winner in ("model_a", "model_b", "tie", "none"):
        battle = visitor.start()["id"]
        visitor.send(battle, f"Which is better, {winner}?")
        battles[winner] = battle
        if winner != "none":
            revealed = visitor.vote(battle, winner).json()["models"]
            votes.append((revealed["a"]["name"], revealed["b"]["name"], winner))
    for _ in range(24):  # started and left without a message: enough for a second page
        visitor.start(mode="chat", models=["alpha-lm"])
    visitor.close()
    return battles, votes


def test_browse_filter_count_export_and_sign_out(browser, server, tmp_path):
    battles, votes = make_votes(server.url)
    page, errors = new_page(browser)
    sign_in(page, server.url)
    filters = page.locator("#browse-filters")
    rows = page.locator("#conversations tbody tr")
    count = page.locator("#browse-count")

    # Two pages of 25; Next and Previous move between them.
    expect(page.locator("#page-number")).to_have_text("Page 1 of 2")
    expect(rows).to_have_count(25)
    total = int(count.inner_text().split()[0])
    assert total >= 28
    page.get_by_role("button", name="Next →").click()
    expect(page.locator("#page-number")).to_have_text("Page 2 of 2")
    expect(rows).to_have_count(total - 25)
    expect(page.get_by_role("button", name="Next →")).to_be_disabled()
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("#page-number")).to_have_text("Page 1 of 2")

    def shown(**choices) -> list[str]:
        """The conversations listed with these filters (by field name: the option's
        words, or a date)."""
        filters.get_by_role("button", name="Clear").click()
        expect(count).to_have_text(f"{total} conversations match.")
        for name, choice in choices.items():
            field = filters.locator(f'[name="{name}"]')
            if name in ("since", "until"):
                field.fill(choice)
            else:
                field.select_option(label=choice)
        filters.get_by_role("button", name="Show").click()
        expect(count).not_to_contain_text(f"{total} conversations")
        return [row.get_attribute("data-conversation") for row in rows.all()]

    assert shown(outcome="A is better") == [battles["model_a"]]
    assert shown(outcome="B is better") == [battles["model_b"]]
    assert shown(outcome="Not voted") == [battles["none"]]
    expect(count).to_have_text("1 conversation match.")
    assert shown(mode="Blind battle", flag="Kept out of the ratings") == [
        battles[w] for w in ("none", "tie", "model_b", "model_a")
    ]
    assert shown(model="leaky-lm", flag="Not flagged") == []
    expect(count).to_have_text("No conversation matches.")
    assert shown(mode="Blind battle", since="2999-01-01") == []
    assert len(shown(mode="Blind battle", since="2000-01-01", until="2999-12-31")) == 4

    # Statistics: each vote counts for both of its models, and on today's row (the
    # thumbs columns are the chat test's).
    winners = [(a if w == "model_a" else b) for a, b, w in votes if w != "tie"]
    for name in ("alpha-lm", "leaky-lm"):
        wins = winners.count(name)
        cells = page.locator(f'#model-stats tr[data-model="{name}"] td').all_inner_texts()
        assert cells[:7] == [
            name,
            "3",
            str(wins),
            str(2 - wins),
            "1",
            "0",
            f"{round(100 * wins / 3)}%",
        ]
    today = page.locator("#day-stats tbody tr")
    expect(today).to_have_count(1)
    assert today.first.locator("td").all_inner_texts()[1:6] == ["3", "1", "1", "1", "0"]

    # The reader and the statistics, in every look.
    shown(mode="Blind battle")
    rows.first.get_by_role("button", name="View").click()
    expect(page.locator("#reader")).to_contain_text("Flags: identity_leak (kept out)")
    shots_at(page, "#browse-title", "admin-browser")
    shots_at(page, "#stats-title", "admin-stats")
    for viewport in SIZES.values():
        page.set_viewport_size(viewport)
        assert_no_accessibility_problems(page)
    page.set_viewport_size(DESKTOP)

    # Exports: the CLI's files, downloaded.
    export = page.locator("#export")
    export.get_by_label("Battles kept out of the ratings too").check()
    with page.expect_download() as caught:
        export.get_by_role("button", name="Download").click()
    saved = tmp_path / caught.value.suggested_filename
    caught.value.save_as(saved)
    assert saved.suffix == ".json"
    records = json.loads(saved.read_text())
    assert [r["question_id"] for r in records] == [
        battles[w] for w in ("model_a", "model_b", "tie")
    ]
    assert [r["winner"] for r in records] == ["model_a", "model_b", "tie"]
    expect(page.locator("#export-status")).to_contain_text("Downloaded 3 records")
    export.get_by_label("What").select_option(label="Every conversation")
    expect(export.get_by_label("Format")).to_have_value("jsonl")
    expect(export.get_by_label("Battles kept out of the ratings too")).to_be_hidden()
    with page.expect_download() as caught:
        export.get_by_role("button", name="Download").click()
    lines = caught.value.path().read_text().splitlines()
    assert len(lines) == total and {battles[w] for w in battles} <= {
        json.loads(line)["id"] for line in lines
    }

    # Sign out: the token is forgotten, the page shows the sign-in form, a reload too.
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#admin-status")).to_have_text("Signed out.")
    expect(page.locator("#admin-panels")).to_be_hidden()
    expect(page.locator("#token")).to_be_focused()
    expect(page.locator("#token")).to_have_value("")
    expect(page.locator("#conversations tbody tr")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('admin-token')") is None
    page.reload()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#admin-panels")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    assert_no_accessibility_problems(page)
    assert not errors
