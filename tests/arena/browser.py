"""Helpers for tests that drive the arena's pages in Debian's Chromium through Playwright:
launching it, opening a page as a visitor (any size, theme, touch screen), waiting for
answers, screenshots in every look (desktop and phone width, light and dark) under
test-artifacts/screenshots/, and axe-core's accessibility audit of a page."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, expect

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# For a test module's `pytestmark`: skip where Debian's Chromium is not installed.
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is missing (make test installs it)"
)
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)


def new_page(
    browser: Browser, viewport=DESKTOP, theme: str = "light", touch: bool = False
) -> tuple[Page, list[str]]:
    """A page in a context of its own (its own visitor cookie), and the list that collects
    the page's uncaught errors."""
    context = browser.new_context(viewport=viewport, color_scheme=theme, has_touch=touch)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


def open_page(browser: Browser, url: str, viewport=DESKTOP, **look) -> tuple[Page, list[str]]:
    """The page at `url`, its terms of use agreed to."""
    page, errors = new_page(browser, viewport, **look)
    page.goto(url)
    page.get_by_role("button", name="I agree").click()
    # The dialog closes once the server has the answer; until then the page is inert
    # (a fill would be lost).
    expect(page.locator("#terms")).to_be_hidden()
    return page, errors


def wait_for_answers(page: Page) -> None:
    # Locator assertions, not wait_for_function: the page's CSP forbids eval.
    expect(page.locator("#status")).not_to_have_text(
        re.compile("^(|Generating…)$"), timeout=120_000
    )


def send(page: Page, text: str) -> None:
    page.locator("#prompt").fill(text)
    page.locator("#send").click()
    wait_for_answers(page)


def set_theme(page: Page, theme: str) -> None:
    """Switches the page to `theme` with its own button."""
    if (page.locator("html.dark").count() == 1) != (theme == "dark"):
        page.locator("#theme").click()
    expect(page.locator("html.dark")).to_have_count(int(theme == "dark"))


def shot(page: Page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def shots(page: Page, name: str, full_page: bool = False) -> None:
    """Screenshots of the page as it is, at desktop and phone width, light and dark
    (`name`-desktop-light.png and so on); the page is left at desktop width, light.
    By default each shows the window, as a visitor sees it: in a full-page shot the vote
    bar, which stays at the window's bottom edge, would sit halfway down a long page."""
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            shot(page, f"{name}-{size}-{theme}", full_page)
    page.set_viewport_size(DESKTOP)
    set_theme(page, "light")


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of those impacts on the page as it is now, one line each
    (rule, impact, what to fix, the first elements), for an assertion's message. axe's
    script is evaluated through the DevTools protocol, which the page's CSP allows."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in found
        if v["impact"] in impacts
    ]
