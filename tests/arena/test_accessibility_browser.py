"""axe-core on every page in every look (desktop 1366×900 and phone 390×844, light and
dark): the arena's three modes (the terms dialog, an answered battle with math, code and
a table, the revealed vote, an answered chat), the leaderboard with ratings, about, a
shared battle, and the admin page signed out and in. No serious or critical violation may
remain. Also: math in a streamed answer reaches the page as MathML, prices as text, and a
formula wider than a phone scrolls inside its answer.

Screenshots of the answered battle in each look go to test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from . import scripted_models
from .conftest import Visitor
from .scripted_models import model

playwright_api = pytest.importorskip("playwright.sync_api")
from .browser import (  # noqa: E402 (Playwright may be missing: skip first)
    SIZES,
    axe_violations,
    needs_chromium,
    new_page,
    open_page,
    send,
    set_theme,
    shot,
)

expect = playwright_api.expect
pytestmark = needs_chromium
ADMIN_TOKEN = "a11y-admin"
MATH_ANSWER = (
    "The roots of $ax^2 + bx + c = 0$ are\n\n"
    "$$x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}$$\n\n"
    "$$" + " + ".join(f"\\frac{{x_{{{i}}}}}{{y_{{{i}}}}}" for i in range(30)) + "$$\n\n"
    "and \\(\\Delta = b^2 - 4ac\\) decides how many. Lessons cost $5 and $10.\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "```python\ndef roots(a, b, c):\n    return (-b + (b * b - 4 * a * c) ** 0.5) / (2 * a)\n```"
)
LOOKS = [(size, theme) for size in SIZES for theme in ("light", "dark")]


@pytest.fixture(scope="module")
def server(start_server, scripted):
    """Two scripted models (one answers with math, one at length with code), some votes
    for the leaderboard, and an admin token."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(scripted_models.ANSWERS, "math", MATH_ANSWER)
        yield start_server(
            {
                "include_default_models": False,
                "arena": {
                    "admin_token": ADMIN_TOKEN,
                    "leaderboard_every_votes": 1,
                    "leaderboard_min_gap_s": 0,
                },
                "models": [
                    model("math-lm", scripted, "math", display_name="MathLM"),
                    model("long-lm", scripted, "long", display_name="LongLM"),
                ],
            }
        )


@pytest.fixture(scope="module")
def shared(server):
    """The id of a voted battle (its share page is public), after a few votes."""
    visitor = Visitor(server.url).accept_terms()
    try:
        for winner in ("model_a", "model_b", "tie"):
            battle = visitor.start()
            visitor.send(battle["id"], "Solve a quadratic.")
            assert visitor.vote(battle["id"], winner).status_code == 200
    finally:
        visitor.close()
    return battle["id"]


def audit(page, theme: str, found: dict[str, list[str]], state: str) -> None:
    """axe on the page as it is, in `theme`, once its requests have settled."""
    page.wait_for_load_state("networkidle")
    set_theme(page, theme)
    violations = axe_violations(page)
    if violations:
        found[state] = violations


@pytest.mark.parametrize(("size", "theme"), LOOKS)
def test_no_serious_or_critical_violation_on_any_page(browser, server, shared, size, theme):
    viewport = SIZES[size]
    found: dict[str, list[str]] = {}
    page, errors = new_page(browser, viewport, theme)
    page.goto(server.url + "/")
    expect(page.locator("#terms")).to_be_visible()
    audit(page, theme, found, "terms dialog")
    page.get_by_role("button", name="I agree").click()
    expect(page.locator("#terms")).to_be_hidden()
    audit(page, theme, found, "battle, empty")
    send(page, "Solve a quadratic.")
    audit(page, theme, found, "battle, answered")
    shot(page, f"a11y-battle-{size}-{theme}", full_page=False)
    page.get_by_role("button", name="A is better").click()
    expect(page.locator(".pane-title.revealed").first).to_be_visible()
    audit(page, theme, found, "battle, revealed")
    for path in ("/side-by-side", "/chat", "/leaderboard", "/about", f"/share/{shared}"):
        page.goto(server.url + path)
        audit(page, theme, found, path)
        if path == "/chat":  # an answer brings its thumbs and copy buttons
            send(page, "Solve a quadratic.")
            audit(page, theme, found, "chat, answered")
    page.goto(server.url + "/admin")
    audit(page, theme, found, "admin, signed out")
    page.locator("#token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#admin-panels")).to_be_visible()
    audit(page, theme, found, "admin, signed in")
    assert not found, "\n".join(f"{state}: {line}" for state, v in found.items() for line in v)
    assert not errors


def test_math_in_a_streamed_answer_is_mathml(browser, server):
    page, errors = open_page(browser, server.url + "/", viewport=SIZES["phone"])
    send(page, "Solve a quadratic.")
    answer = page.locator(".answer").filter(has_text="The roots of")
    expect(answer.locator('math[display="inline"]')).to_have_count(2)
    expect(answer.locator('math[display="block"]')).to_have_count(2)
    expect(answer.locator("math mfrac")).to_have_count(31)
    # The long formula scrolls inside the answer, from the keyboard too; the page does not.
    wide = answer.locator('math[display="block"]').nth(1)
    assert wide.evaluate("m => m.scrollWidth > m.clientWidth")
    wide.focus()
    page.keyboard.press("ArrowRight")
    expect(wide).not_to_have_js_property("scrollLeft", 0)  # keyboard scrolling is animated
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    expect(answer).to_contain_text("Lessons cost $5 and $10.")  # prices are not math
    expect(answer.locator("pre code")).to_contain_text("def roots(a, b, c):")
    assert not errors
