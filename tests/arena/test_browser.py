"""The whole arena in a real browser (Debian's Chromium through Playwright) against the
real server with the real bundled models: battle, stream, vote, reveal, multi-turn,
regenerate, side-by-side, direct chat, the leaderboard updating after votes; and, with
scripted providers, an image upload, answers that try to run script, a refused prompt,
"New round" while answers stream, and the admin page.

Screenshots at desktop and phone width go to test-artifacts/screenshots/."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from .scripted_models import model

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
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
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is missing (make test installs it)"
)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def real_server(start_server):
    return start_server(
        {"arena": {"leaderboard_every_votes": 1, "leaderboard_min_gap_s": 0, "max_tokens": 48}}
    )


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_page(browser, url: str, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.get_by_role("button", name="I agree").click()
    # The dialog closes once the server has the answer; until then the page is inert
    # (a fill would be lost).
    expect(page.locator("#terms")).to_be_hidden()
    return page, errors


def wait_for_answers(page) -> None:
    # Locator assertions, not wait_for_function: the page's CSP forbids eval.
    expect(page.locator("#status")).not_to_have_text(
        re.compile("^(|Generating…)$"), timeout=120_000
    )


def send(page, text: str) -> None:
    page.locator("#prompt").fill(text)
    page.locator("#send").click()
    wait_for_answers(page)


def test_battle_multi_turn_regenerate_vote_and_reveal(browser, real_server):
    page, errors = open_page(browser, real_server.url + "/")
    vote_a = page.get_by_role("button", name="A is better")
    assert vote_a.is_disabled()
    send(page, "Name three colours.")
    assert page.locator('.pane[data-side="a"] .answer').first.inner_text().strip()
    assert page.locator('.pane[data-side="b"] .answer').first.inner_text().strip()
    assert vote_a.is_enabled()
    assert page.locator(".pane-title").all_inner_texts() == ["Model A", "Model B"]
    send(page, "Now name one more.")
    assert page.locator('.pane[data-side="a"] .turn').count() == 2
    page.get_by_role("button", name="Regenerate").click()
    wait_for_answers(page)
    assert page.locator('.pane[data-side="b"] .turn').count() == 2
    shot(page, "battle-desktop")
    page.locator("body").click()
    page.keyboard.press("1")  # the shortcut for "A is better"
    page.wait_for_selector(".pane-title.revealed")
    titles = page.locator(".pane-title").all_inner_texts()
    assert any("SmolLM2" in t for t in titles) and any("Gemma" in t for t in titles)
    assert page.locator("#prompt").is_disabled() and vote_a.is_disabled()
    shot(page, "battle-revealed-desktop")
    page.get_by_role("button", name="New round").click()
    assert page.locator(".pane-title").all_inner_texts() == ["Model A", "Model B"]
    assert not errors


def test_side_by_side_and_direct_chat(browser, real_server):
    page, errors = open_page(browser, real_server.url + "/side-by-side")
    page.locator("#model-a").select_option("gemma-3-270m")
    page.locator("#model-b").select_option("smollm2-135m-instruct")
    page.locator("summary").click()
    page.locator("#max-tokens").fill("24")
    send(page, "What is a cat?")
    page.get_by_role("button", name="Tie").click()
    page.wait_for_selector(".pane-title.revealed")
    shot(page, "side-by-side-desktop")
    chat, chat_errors = open_page(browser, real_server.url + "/chat")
    chat.locator("#model-a").select_option("smollm2-135m-instruct")
    send(chat, "Hello there!")
    chat.get_by_role("button", name="Thumbs up").click()
    chat.wait_for_selector("text=Thanks for the feedback.")
    shot(chat, "chat-desktop")
    assert not errors and not chat_errors


def test_leaderboard_updates_after_votes_at_phone_width(browser, real_server):
    page, errors = open_page(browser, real_server.url + "/", viewport=PHONE)
    board = page.context.new_page()
    board.goto(real_server.url + "/leaderboard")
    summary = board.locator("#summary")
    expect(summary).to_contain_text("votes in the ratings")
    before = int(re.match(r"(\d+) votes", summary.inner_text()).group(1))
    # A tie keeps the fit finite whichever model the random sides favoured so far.
    choices = ("Tie", "B is better")
    for choice in choices:
        page.get_by_role("button", name="New round").click()
        send(page, "Say hi.")
        page.get_by_role("button", name=choice).click()
        page.wait_for_selector(".pane-title.revealed")
    shot(page, "battle-phone")
    # The page reloads the snapshot every 5 s; each vote triggers a fit.
    expect(summary).to_contain_text(re.compile(rf"^{before + len(choices)} votes "), timeout=60_000)
    expect(board.locator("#board tbody tr")).to_have_count(2)
    board.wait_for_selector("#chart-ratings .main-svg")  # Plotly drew the chart
    shot(board, "leaderboard-phone")
    board.set_viewport_size(DESKTOP)
    board.locator("#search").fill("smol")
    assert board.locator("#board tbody tr").count() == 1
    board.locator("#search").fill("")
    shot(board, "leaderboard-desktop")
    page.context.new_page().goto(real_server.url + "/about")
    assert not errors


def test_image_upload_and_script_in_answers(browser, start_server, scripted):
    server = start_server(
        {
            "include_default_models": False,
            "models": [
                model("seer", scripted, "vision", vision=True),
                model("trickster", scripted, "xss", vision=True),
            ],
        }
    )
    page, errors = open_page(browser, server.url + "/")
    image = io.BytesIO()
    Image.new("RGB", (24, 24), (20, 120, 220)).save(image, "PNG")
    page.locator("#image").set_input_files(
        {"name": "blue.png", "mimeType": "image/png", "buffer": image.getvalue()}
    )
    page.wait_for_selector("text=blue.png")
    send(page, "What is in the picture, and show me some HTML")
    assert page.locator(".user img").count() == 2
    answers = " ".join(page.locator(".answer").all_inner_texts())
    assert "image/png" in answers
    # markdown-it leaves a javascript: link as plain text; no anchor may carry one.
    assert "[click me](javascript:window.pwned=3)" in answers
    expect(page.locator('.answer a[href^="javascript:" i]')).to_have_count(0)
    assert page.evaluate("window.pwned") is None  # no script from an answer ran
    assert page.locator(".answer script, .answer [onerror]").count() == 0
    shot(page, "image-and-script-desktop")
    assert not errors


def test_refused_prompt_leaves_no_turn_and_keeps_the_text(browser, start_server, scripted):
    server = start_server(
        {
            "include_default_models": False,
            "arena": {"max_prompt_chars": 40},
            "models": [model("plain-lm", scripted, "plain"), model("other-lm", scripted, "other")],
        }
    )
    page, errors = open_page(browser, server.url + "/")
    too_long = "Please explain, at length, " + "why cats purr " * 4
    status, box = page.locator("#status"), page.locator("#prompt")
    for turns in (0, 1):  # refused as the first message, then after an answered turn
        box.fill(too_long)
        page.locator("#send").click()
        expect(status).to_have_text(re.compile(r"the limit is 40\.$"))
        expect(status).to_have_class(re.compile(r"\berror\b"))
        expect(page.locator('.pane[data-side="a"] .turn')).to_have_count(turns)
        expect(page.locator(".answer.pending")).to_have_count(0)
        expect(box).to_have_value(too_long)
        expect(box).to_be_enabled()
        if not turns:
            shot(page, "refused-prompt-desktop")
            send(page, "Say hi.")
            expect(box).to_have_value("")
            expect(status).to_have_text("Which answer is better?")
    # Regenerate answers the real last turn again, in the place where it is shown.
    page.get_by_role("button", name="Regenerate").click()
    wait_for_answers(page)
    expect(status).to_have_text("Which answer is better?")
    for side in ("a", "b"):
        turns = page.locator(f'.pane[data-side="{side}"] .turn')
        expect(turns).to_have_count(1)
        expect(turns.locator(".user")).to_have_text("Say hi.")
        expect(turns.locator(".answer")).not_to_have_text("…")
    page.get_by_role("button", name="A is better").click()
    expect(page.locator(".pane-title.revealed")).to_have_count(2)
    assert not errors


def test_new_round_while_answers_stream(browser, start_server, scripted):
    server = start_server(
        {
            "include_default_models": False,
            "models": [model("slow-lm", scripted, "slow"), model("slower-lm", scripted, "slow")],
        }
    )
    page, errors = open_page(browser, server.url + "/")
    page.locator("#prompt").fill("Take your time.")
    page.locator("#send").click()
    answer = page.locator('.pane[data-side="a"] .answer')
    expect(answer).to_contain_text("Slowly")  # the first pieces arrived...
    expect(answer).to_have_class(re.compile(r"\bpending\b"))  # ...and more are coming
    page.get_by_role("button", name="New round").click()
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("")
    expect(page.locator("#send")).to_be_enabled()
    # The abandoned answers end while the new round's stream, started later, still runs.
    send(page, "A new question.")
    expect(page.locator("#status")).to_have_text("Which answer is better?")
    for side in ("a", "b"):
        turns = page.locator(f'.pane[data-side="{side}"] .turn')
        expect(turns).to_have_count(1)
        expect(turns.locator(".user")).to_have_text("A new question.")
        expect(turns.locator(".answer")).to_have_text(
            "Slowly, two words at a time, this answer arrives over a few seconds."
        )
    shot(page, "new-round-during-stream-desktop")
    page.get_by_role("button", name="Tie").click()
    expect(page.locator(".pane-title.revealed")).to_have_count(2)
    assert not errors


def test_admin_page_reviews_a_flag_and_takes_a_model_out(
    browser, start_server, scripted, visitor_factory
):
    server = start_server(
        {
            "include_default_models": False,
            "arena": {"admin_token": "browser-admin"},
            "models": [
                model(
                    "leaky-lm",
                    scripted,
                    "leaky",
                    display_name="LeakyLM",
                    organization="Acme Research",
                ),
                model("trickster", scripted, "xss"),
            ],
        }
    )
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    visitor.send(battle["id"], "Who are you?")
    assert visitor.vote(battle["id"]).status_code == 200
    page = browser.new_context(viewport=DESKTOP).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/admin")
    page.locator("#token").fill("wrong")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#admin-status")).to_contain_text("valid admin token")
    assert page.locator("#admin-panels").is_hidden()
    page.locator("#token").fill("browser-admin")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#models tbody tr")).to_have_count(2)
    expect(page.locator("#flags tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Read").click()
    conversation = page.locator("#conversation")
    expect(conversation).to_contain_text("I am LeakyLM, made by Acme Research")
    expect(conversation).to_contain_text("<script>window.pwned = 1</script>")  # shown as text
    assert page.evaluate("window.pwned") is None
    shot(page, "admin-desktop")
    page.get_by_role("button", name="Count it").click()
    expect(page.locator("#flags-message")).to_have_text("No flags to review.")
    row = page.locator('#models tr[data-model="trickster"]')
    row.get_by_role("checkbox").uncheck()
    row.get_by_role("button", name="Save").click()
    expect(page.locator("#admin-status")).to_have_text("Saved trickster.")
    names = [m["name"] for m in visitor.request("GET", "/api/models").json()["models"]]
    assert names == ["leaky-lm"]
    page.reload()  # the token is kept for the browser tab
    expect(
        page.locator('#models tr[data-model="trickster"]').get_by_role("checkbox")
    ).not_to_be_checked()
    assert not errors


def test_admin_page_adds_tests_and_pauses_a_model(browser, start_server, scripted):
    server = start_server(
        {
            "include_default_models": False,
            "models_poll_s": 0.5,
            "arena": {"admin_token": "browser-admin"},
            "models": [model("plain-lm", scripted, "plain")],
        }
    )
    errors: list[str] = []
    for viewport, theme in ((DESKTOP, "light"), (PHONE, "dark")):
        page = browser.new_context(viewport=viewport, color_scheme=theme).new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url + "/admin")
        page.locator("#token").fill("browser-admin")
        page.get_by_role("button", name="Open").click()
        expect(page.locator("#models tbody tr")).not_to_have_count(0)
        form = page.locator("#add-model")
        if viewport is PHONE:
            form.scroll_into_view_if_needed()
            shot(page, "admin-add-model-phone-dark")
            continue
        status = page.locator("#model-form-status")
        form.get_by_role("button", name="Add model").click()
        expect(status).to_contain_text("Give the model a name")
        form.get_by_label("Name", exact=True).fill("form-model")
        form.get_by_role("button", name="Add model").click()
        expect(status).to_contain_text("base URL")
        expect(form.get_by_label("Base URL")).to_have_attribute("aria-invalid", "true")
        form.get_by_label("Base URL").fill(scripted)
        form.get_by_label("Upstream model").fill("no-such-model")
        form.get_by_role("button", name="Test it").click()
        expect(status).to_contain_text("does not list")
        expect(form.get_by_label("Upstream model")).to_have_attribute("aria-invalid", "true")
        form.get_by_label("Upstream model").fill("other")
        form.get_by_label("Organization").fill("Scripted Labs")
        form.get_by_role("button", name="Test it").click()
        expect(status).to_contain_text(re.compile(r"Answered in \d+ ms"), timeout=30_000)
        expect(page.locator("#test-answer")).to_contain_text("Another answer")
        shot(page, "admin-add-model-tested-desktop")
        form.get_by_role("button", name="Add model").click()
        expect(status).to_contain_text("Added form-model")
        row = page.locator('#models tr[data-model="form-model"]')
        expect(row).to_contain_text("active")
        with httpx.Client(base_url=server.url) as client:
            deadline = time.monotonic() + 20
            while "form-model" not in {m["id"] for m in client.get("/v1/models").json()["data"]}:
                assert time.monotonic() < deadline, "the added model was not served"
                time.sleep(0.2)
        row.get_by_role("button", name="Pause").click()
        expect(page.locator("#admin-status")).to_have_text("form-model is paused.")
        expect(page.locator('#models tr[data-model="form-model"]')).to_contain_text("paused")
        shot(page, "admin-models-desktop")
    assert not errors


def test_leaderboard_hides_retired_models_behind_a_toggle(browser, start_server, scripted):
    server = start_server(
        {
            "include_default_models": False,
            "models_poll_s": 0.5,
            "arena": {
                "admin_token": "browser-admin",
                "leaderboard_interval_s": 1,
                "leaderboard_min_gap_s": 0,
            },
            "models": [model("north-lm", scripted, "plain"), model("south-lm", scripted, "other")],
        }
    )
    admin = {"Authorization": "Bearer browser-admin"}
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as client:
        client.post("/api/terms")
        for k in range(6):
            battle = client.post("/api/conversations", json={}).json()
            with client.stream("POST", f"/api/conversations/{battle['id']}/messages",
                               json={"prompt": f"hello {k}"}) as answer:  # fmt: skip
                answer.read()
            assert client.post(
                f"/api/conversations/{battle['id']}/vote", json={"winner": "tie"}
            ).status_code == 200  # fmt: skip
        retired = client.patch("/api/admin/models/south-lm", headers=admin,
                               json={"state": "retired"})  # fmt: skip
        assert retired.status_code == 200

        def rows() -> list[dict]:
            return client.get("/api/leaderboard").json()["rows"]

        deadline = time.monotonic() + 30
        while not any(r["model"] == "south-lm" and r["deprecated"] for r in rows()):
            assert time.monotonic() < deadline, "the retired model was not marked"
            time.sleep(0.3)
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(server.url + "/leaderboard")
    table = page.locator("#board tbody")
    expect(table).to_contain_text("north-lm")
    expect(table).not_to_contain_text("south-lm")
    page.get_by_label("Show deprecated models").check()
    expect(table).to_contain_text("south-lm (deprecated)")
    shot(page, "leaderboard-deprecated-desktop")
