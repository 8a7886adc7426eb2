"""The whole arena in a real browser (Debian's Chromium through Playwright) against the
real server with the real bundled models: battle, stream, vote, reveal, multi-turn,
regenerate, side-by-side, direct chat, an answer cut at the length limit, the leaderboard
updating after votes; and, with scripted providers: the terms of use, public wording,
model choices, long answers (code blocks, copy buttons, the vote bar in view), Stop,
images (button, paste, drop, remove; lineups that cannot take them), answers that try to
run script, a refused prompt, "New round" while answers stream, the phone layout and the
admin page.

Screenshots at desktop and phone width, light and dark, go to test-artifacts/screenshots/."""

from __future__ import annotations

import io
import re
import time

import httpx
import pytest
from PIL import Image

from .scripted_models import model

playwright_api = pytest.importorskip("playwright.sync_api")
from .browser import (  # noqa: E402 (Playwright may be missing: skip first)
    DESKTOP,
    PHONE,
    needs_chromium,
    new_page,
    open_page,
    send,
    set_theme,
    shot,
    shots,
    wait_for_answers,
)

expect = playwright_api.expect
PUBLIC_JARGON = re.compile(r"/api|/v1|in service|'models'|name\(s\)|side_by_side|POST |GET ")

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def real_server(start_server):
    return start_server(
        {"arena": {"leaderboard_every_votes": 1, "leaderboard_min_gap_s": 0, "max_tokens": 48}}
    )


def png(color=(20, 120, 220)) -> bytes:
    image = io.BytesIO()
    Image.new("RGB", (24, 24), color).save(image, "PNG")
    return image.getvalue()


def assert_plain_words(page) -> None:
    """No API path or operator word in anything the visitor can read on the page."""
    visible = page.locator("body").inner_text()
    assert not PUBLIC_JARGON.search(visible), visible


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
    # The choice stays marked, the pick is named, and "New round" is the next step.
    expect(vote_a).to_have_attribute("aria-pressed", "true")
    expect(page.locator("button[aria-pressed]")).to_have_count(1)
    expect(page.locator(".pane.picked")).to_have_attribute("data-side", "a")
    expect(page.locator('.pane[data-side="a"] .badge')).to_have_text("Your pick")
    expect(page.locator("#status")).to_have_text(
        re.compile(r"^You voted “A is better”: A is (SmolLM2|Gemma).*, B is (SmolLM2|Gemma)")
    )
    new_round = page.get_by_role("button", name="New round")
    expect(new_round).to_have_class(re.compile(r"\bprimary\b"))
    expect(new_round).to_be_focused()
    expect(page.locator("#send")).not_to_have_class(re.compile(r"\bprimary\b"))
    assert page.locator("#prompt").is_disabled() and vote_a.is_disabled()
    shots(page, "battle-revealed")
    page.set_viewport_size(PHONE)  # the next step is in view at phone size too
    expect(new_round).to_be_in_viewport()
    page.set_viewport_size(DESKTOP)
    new_round.click()
    assert page.locator(".pane-title").all_inner_texts() == ["Model A", "Model B"]
    expect(page.locator("button[aria-pressed], .pane.picked")).to_have_count(0)
    expect(page.locator("#send")).to_have_class(re.compile(r"\bprimary\b"))
    assert not errors


def test_side_by_side_and_direct_chat(browser, real_server):
    page, errors = open_page(browser, real_server.url + "/side-by-side")
    names = ["Model A: Gemma 3 270M (base)", "Model B: SmolLM2 135M Instruct"]
    page.locator("#model-a").select_option("gemma-3-270m")
    page.locator("#model-b").select_option("smollm2-135m-instruct")
    expect(page.locator(".pane-title")).to_have_text(names)  # named before the first answer
    page.locator(".sampling summary").click()
    page.locator("#max-tokens").fill("24")
    send(page, "What is a cat?")
    expect(page.locator(".pane-title")).to_have_text(names)
    page.get_by_role("button", name="Tie").click()
    page.wait_for_selector(".pane-title.revealed")
    expect(page.get_by_role("button", name="Tie")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".pane.picked")).to_have_count(0)  # a tie picks no side
    shot(page, "side-by-side-desktop")
    assert_plain_words(page)

    chat, chat_errors = open_page(browser, real_server.url + "/chat")
    chat.get_by_label("Model", exact=True).select_option("smollm2-135m-instruct")
    expect(chat.locator(".pane-title")).to_have_text("Model: SmolLM2 135M Instruct")
    chat.locator(".sampling summary").click()
    chat.locator("#max-tokens").fill("4")  # no answer to this fits in 4 tokens
    box = chat.locator("#prompt")
    box.fill("Hello there!")
    box.press("Shift+Enter")  # a new line, not a send
    box.press_sequentially("Tell me about the sea.")
    expect(box).to_have_value("Hello there!\nTell me about the sea.")
    expect(chat.locator(".turn")).to_have_count(0)
    box.press("Enter")
    wait_for_answers(chat)
    expect(chat.locator(".user")).to_have_text("Hello there!\nTell me about the sea.")
    expect(chat.locator(".answer-note")).to_have_text("Stopped at the length limit.")
    chat.get_by_role("button", name="Thumbs up").click()
    chat.wait_for_selector("text=Thanks for the feedback.")
    shots(chat, "chat-length-limit")
    assert_plain_words(chat)
    assert not errors and not chat_errors


def test_leaderboard_updates_after_votes_at_phone_width(browser, real_server):
    page, errors = open_page(browser, real_server.url + "/", viewport=PHONE)
    board = page.context.new_page()
    board.goto(real_server.url + "/leaderboard")
    summary = board.locator("#summary")
    expect(summary).to_contain_text("Last updated")
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
    expect(summary).to_contain_text(re.compile(rf"^{before + len(choices)} votes,"), timeout=60_000)
    expect(board.locator("#board tbody tr")).to_have_count(2)
    board.locator("#charts").scroll_into_view_if_needed()  # Plotly loads near the charts
    board.wait_for_selector("#chart-ratings .main-svg")  # and draws them
    shot(board, "leaderboard-phone")
    board.set_viewport_size(DESKTOP)
    board.locator("#more-filters summary").click()
    board.locator("#search").fill("smol")
    expect(board.locator("#board tbody tr")).to_have_count(1)
    board.locator("#search").fill("")
    expect(board.locator("#board tbody tr")).to_have_count(2)
    shot(board, "leaderboard-desktop")
    page.context.new_page().goto(real_server.url + "/about")
    assert not errors


def drop_image(page, target, data: bytes, name: str = "dropped.png") -> None:
    """Drops a PNG file on `target`, as a file dragged from the desktop would be."""
    transfer = page.evaluate_handle(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
            return transfer;
        }""",
        [name, list(data)],
    )
    target.dispatch_event("drop", {"dataTransfer": transfer})


def paste_image(page, data: bytes) -> None:
    """Pastes a PNG file into the message box, as a screenshot pasted from the clipboard."""
    page.evaluate(
        """(bytes) => {
            const transfer = new DataTransfer();
            const file = new File([new Uint8Array(bytes)], "pasted.png", { type: "image/png" });
            transfer.items.add(file);
            const paste = new ClipboardEvent("paste", {
                clipboardData: transfer, bubbles: true, cancelable: true });
            document.getElementById("prompt").dispatchEvent(paste);
        }""",
        list(data),
    )


def test_images_by_button_paste_and_drop_and_script_in_answers(browser, start_server, scripted):
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
    attached = page.locator("#attachment")
    remove = page.get_by_role("button", name="Remove the image")
    expect(page.locator("#image-note")).to_be_hidden()
    expect(attached).to_be_hidden()
    page.locator("#image").set_input_files(
        {"name": "blue.png", "mimeType": "image/png", "buffer": png()}
    )
    expect(attached.locator("img")).to_have_attribute("src", re.compile(r"^/api/images/\w+"))
    remove.click()
    expect(attached).to_be_hidden()
    paste_image(page, png((200, 40, 40)))
    expect(attached).to_be_visible()
    page.get_by_role("button", name="New round").click()  # a new round starts without it
    expect(attached).to_be_hidden()
    drop_image(page, page.locator("#prompt"), png())
    expect(attached).to_be_visible()
    page.locator("#prompt").fill("What is in the picture, and show me some HTML")
    shots(page, "image-attached")
    page.locator("#send").click()
    wait_for_answers(page)
    expect(attached).to_be_hidden()  # it went with the message
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


def test_images_when_the_lineup_cannot_take_them(browser, start_server, scripted):
    server = start_server(
        {
            "include_default_models": False,
            "models": [
                model("seer", scripted, "vision", vision=True, display_name="Seer"),
                model("plain-lm", scripted, "plain", display_name="Plain LM"),
            ],
        }
    )
    one_reader = "Only one model here can read images, and {} needs two, so images cannot be "
    one_reader += "attached here. Direct chat can take an image."
    for path, what in (("/", "a battle"), ("/side-by-side", "side by side")):
        page, errors = open_page(browser, server.url + path)
        # Said before the visitor types; pasting an image anyway gets the same words.
        expect(page.locator("#image-note")).to_have_text(one_reader.format(what))
        expect(page.get_by_role("button", name="Attach image")).to_be_disabled()
        paste_image(page, png())
        expect(page.locator("#status")).to_have_text(one_reader.format(what))
        expect(page.locator("#attachment")).to_be_hidden()
        assert_plain_words(page)
        if path == "/":
            shots(page, "image-unavailable-battle")
        assert not errors
    chat, errors = open_page(browser, server.url + "/chat")
    choice = chat.get_by_label("Model", exact=True)
    expect(chat.locator("#image-note")).to_be_hidden()
    choice.select_option("plain-lm")
    expect(chat.locator(".pane-title")).to_have_text("Model: Plain LM")
    chat.locator("#image").set_input_files(
        {"name": "blue.png", "mimeType": "image/png", "buffer": png()}
    )
    # With an image only a model that reads images may be chosen.
    expect(choice).to_have_value("seer")
    expect(choice.locator('option[value="plain-lm"]')).to_be_disabled()
    expect(chat.locator(".pane-title")).to_have_text("Model: Seer")
    chat.get_by_role("button", name="Remove the image").click()
    expect(choice.locator('option[value="plain-lm"]')).to_be_enabled()
    drop_image(chat, chat.locator(".panes"), png())
    send(chat, "What do you see?")
    expect(chat.locator(".answer")).to_contain_text("I see a data:image/png;base64 image")
    shots(chat, "image-chat")
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
    expect(page.locator("#image-note")).to_have_text(
        "None of the models here can read images, so images cannot be attached."
    )
    expect(page.get_by_role("button", name="Attach image")).to_be_disabled()
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
    # "New round" aborted the abandoned answers; the new round's stream runs on its own.
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


def two_scripted(scripted, first="plain", second="other") -> dict:
    """A server's configuration with two scripted models (answering as `first` and
    `second`) and none of the bundled ones."""
    return {
        "include_default_models": False,
        "models": [model("one-lm", scripted, first), model("two-lm", scripted, second)],
    }


def test_terms_closed_then_agreed_sends_the_waiting_message(browser, start_server, scripted):
    server = start_server(two_scripted(scripted))
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for theme in ("light", "dark"):
            page, _ = new_page(browser, viewport, theme)
            page.goto(server.url + "/")
            expect(page.locator("#terms")).to_be_visible()
            shot(page, f"terms-{size}-{theme}", full_page=False)
            page.context.close()

    page, errors = new_page(browser)
    page.goto(server.url + "/")
    dialog, status, box = page.locator("#terms"), page.locator("#status"), page.locator("#prompt")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")  # closed without agreeing
    expect(dialog).to_be_hidden()
    box.fill("Say hi.")
    box.press("Enter")
    expect(dialog).to_be_visible()  # asked again, with the message waiting
    expect(status).to_have_text("Agree to the terms of use to send your message.")
    assert_plain_words(page)
    page.get_by_role("button", name="I agree").click()
    expect(status).to_have_text("Which answer is better?")
    expect(page.locator(".user")).to_have_text(["Say hi.", "Say hi."])
    expect(box).to_have_value("")

    # The server no longer knows this browser (its cookie is gone): asked, then sent.
    page.context.clear_cookies()
    page.get_by_role("button", name="New round").click()
    box.fill("Say hi again.")
    box.press("Enter")
    expect(dialog).to_be_visible()
    page.get_by_role("button", name="I agree").click()
    expect(status).to_have_text("Which answer is better?")
    expect(page.locator(".user")).to_have_text(["Say hi again.", "Say hi again."])
    assert_plain_words(page)

    # "Not now" keeps the message and says why it was not sent.
    other, other_errors = new_page(browser, PHONE)
    other.goto(server.url + "/")
    other.get_by_role("button", name="Not now").click()
    other.locator("#prompt").fill("Say hi.")
    other.locator("#send").click()
    other.get_by_role("button", name="Not now").click()
    expect(other.locator("#status")).to_have_text(
        "Your message was not sent: agree to the terms of use first."
    )
    expect(other.locator("#status")).to_have_class(re.compile(r"\berror\b"))
    expect(other.locator("#prompt")).to_have_value("Say hi.")
    expect(other.locator(".turn")).to_have_count(0)
    assert_plain_words(other)
    assert not errors and not other_errors


def test_a_lineup_too_small_is_told_in_plain_words(
    browser, start_server, scripted, visitor_factory
):
    server = start_server(
        {
            "include_default_models": False,
            "models": [model("only-lm", scripted, "plain", display_name="Only LM")],
        }
    )
    for path, what in (("/", "A battle"), ("/side-by-side", "Side by side")):
        page, errors = open_page(browser, server.url + path)
        expect(page.locator("#lineup-note")).to_have_text(
            f"{what} needs two models, and only one is available right now. "
            "Try again later, or chat with it in Direct chat."
        )
        expect(page.locator("#send")).to_be_disabled()
        expect(page.locator("#prompt")).to_be_disabled()
        assert_plain_words(page)
        if path == "/":
            shots(page, "lineup-too-small")
        assert not errors
    chat, errors = open_page(browser, server.url + "/chat")
    expect(chat.locator("#lineup-note")).to_be_hidden()
    send(chat, "Say hi.")
    expect(chat.locator("#status")).to_have_text("Answered.")
    assert not errors
    # A client that asks anyway gets the same plain words, in the same error shape.
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.request("POST", "/api/conversations", json={}).json()["error"]
    assert battle == {
        "message": "Not enough models are available for a battle right now; try again later.",
        "type": "server_error",
        "param": None,
        "code": "no_models",
    }
    twice = visitor.request(
        "POST", "/api/conversations", json={"mode": "side_by_side", "models": ["only-lm"] * 2}
    ).json()["error"]
    assert twice["message"] == "Pick two different models to compare side by side."
    assert (twice["param"], twice["code"]) == ("models", "invalid_models")


def test_long_answers_code_blocks_copy_buttons_and_the_vote_bar(browser, start_server, scripted):
    server = start_server(
        {
            "include_default_models": False,
            "models": [
                model("long-a", scripted, "long", display_name="Long A"),
                model("long-b", scripted, "long", display_name="Long B"),
                model("plain-lm", scripted, "plain", display_name="Plain LM"),
            ],
        }
    )
    page, errors = open_page(browser, server.url + "/")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    send(page, "How do valleys form?")
    votes = page.locator(".votes")
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, 0)")
        # The answers run past the bottom of the window; the vote bar stays in it.
        assert page.locator(".panes").bounding_box()["height"] > viewport["height"]
        expect(votes).to_be_in_viewport(ratio=1)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            shot(page, f"long-answer-{size}-{theme}", full_page=False)
    # Only code blocks are shaded, in the colours of the page's theme.
    answer, code = page.locator(".answer").first, page.locator(".answer pre").first
    background = "e => getComputedStyle(e).backgroundColor"
    for theme, shade in (("dark", "rgb(13, 17, 23)"), ("light", "rgb(248, 248, 248)")):
        set_theme(page, theme)
        assert answer.evaluate(background) == "rgba(0, 0, 0, 0)"
        assert code.evaluate(background) == shade
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            code.scroll_into_view_if_needed()
            shot(page, f"code-block-{size}-{theme}", full_page=False)
    copy_code = page.get_by_role("button", name="Copy the code").first
    copy_code.click()
    expect(copy_code).to_have_text("Copied")
    clipboard = "() => navigator.clipboard.readText()"
    assert page.evaluate(clipboard) == "def total(values):\n    return sum(values)\n"
    long_turn = page.locator(".turn", has=page.locator(".answer pre")).first
    long_turn.get_by_role("button", name="Copy answer").click()
    copied = page.evaluate(clipboard)
    assert copied.startswith("Step 1: a river carves") and "return sum(values)" in copied
    votes.get_by_role("button", name="Tie").click()
    expect(page.locator(".pane-title.revealed")).to_have_count(2)
    assert not errors

    # Side by side: two different models, named from the start.
    page, errors = open_page(browser, server.url + "/side-by-side")
    first, second = page.locator("#model-a"), page.locator("#model-b")
    expect(page.locator(".pane-title").first).to_have_text(re.compile(r"^Model A: \w"))
    a, b = first.input_value(), second.input_value()
    assert a != b
    expect(first.locator(f'option[value="{b}"]')).to_be_disabled()
    expect(second.locator(f'option[value="{a}"]')).to_be_disabled()
    third = ({"long-a", "long-b", "plain-lm"} - {a, b}).pop()
    first.select_option(third)
    expect(second.locator(f'option[value="{a}"]')).to_be_enabled()
    expect(second.locator(f'option[value="{third}"]')).to_be_disabled()
    names = {"long-a": "Long A", "long-b": "Long B", "plain-lm": "Plain LM"}
    expect(page.locator(".pane-title")).to_have_text(
        [f"Model A: {names[third]}", f"Model B: {names[b]}"]
    )
    assert not errors


def test_stop_ends_the_answers_and_the_server_keeps_them(browser, start_server, scripted):
    server = start_server(two_scripted(scripted, "slow", "slow"))
    page, errors = open_page(browser, server.url + "/")
    status, stop = page.locator("#status"), page.get_by_role("button", name="Stop")
    expect(stop).to_be_hidden()
    page.locator("#prompt").fill("Take your time.")
    with page.expect_response(re.compile(r"/api/conversations$")) as created:
        page.locator("#send").click()
    conversation = created.value.json()["id"]
    answers = page.locator(".answer")
    for side in ("a", "b"):
        expect(page.locator(f'.pane[data-side="{side}"] .answer')).to_contain_text("Slowly")
    stop.click()
    # The server ended the generation (Stop asks it to) and kept what each side
    # wrote; the page shows the answers as stored, marked as stopped, and they can be voted.
    expect(status).to_have_text("Stopped. Vote on the answers so far, or regenerate them.")
    expect(page.locator(".answer-note")).to_have_text(["Stopped before the end."] * 2)
    expect(stop).to_be_hidden()
    expect(answers.first).not_to_contain_text("a few seconds.")
    expect(page.get_by_role("button", name="A is better")).to_be_enabled()
    state = page.request.get(f"{server.url}/api/conversations/{conversation}").json()
    stored = state["turns"][0]["answers"]
    assert [stored[side]["finish_reason"] for side in ("a", "b")] == ["stopped"] * 2, state
    assert answers.all_inner_texts() == [
        re.sub(r"<[^>]+>", "", stored[side]["html"]).strip() for side in ("a", "b")
    ]
    shots(page, "stopped")
    page.get_by_role("button", name="Regenerate").click()
    expect(status).to_have_text("Which answer is better?", timeout=30_000)
    expect(page.locator(".answer-note")).to_have_count(0)
    expect(answers).to_have_text(
        ["Slowly, two words at a time, this answer arrives over a few seconds."] * 2
    )
    assert not errors


def test_phone_layout_one_row_of_navigation_and_no_key_hints_on_touch(
    browser, start_server, scripted
):
    server = start_server(two_scripted(scripted))
    page, errors = open_page(browser, server.url + "/", PHONE, touch=True)
    for path in ("/", "/side-by-side", "/chat", "/leaderboard", "/about"):
        page.goto(server.url + path)
        header = page.locator("header.top").bounding_box()
        row = [*page.locator("nav a").all(), page.locator("#theme")]
        for item in row:
            box = item.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (path, box)
            assert (
                box["y"] >= header["y"]
                and box["y"] + box["height"] <= header["y"] + header["height"]
            ), (path, box)
        assert header["height"] < 2 * row[0].bounding_box()["height"] + 24, (path, header)
    page.goto(server.url + "/")
    for hint in page.locator(".key-hints").all():
        expect(hint).to_be_hidden()
    box = page.locator("#prompt")
    box.fill("Hi")
    box.press("Enter")  # on a touch screen Enter adds a line; the Send button sends
    expect(box).to_have_value("Hi\n")
    expect(page.locator(".turn")).to_have_count(0)
    page.locator("#send").tap()
    wait_for_answers(page)
    expect(page.locator(".votes")).to_be_in_viewport(ratio=1)
    # (Window-sized shots: a full-page shot would end the touch screen's emulation.)
    for theme in ("light", "dark"):
        set_theme(page, theme)
        shot(page, f"battle-phone-touch-{theme}", full_page=False)
    page.goto(server.url + "/leaderboard")
    shot(page, "leaderboard-phone-touch-dark", full_page=False)
    desktop, desktop_errors = open_page(browser, server.url + "/")
    expect(desktop.locator(".composer-row .key-hints")).to_be_visible()
    expect(desktop.locator(".intro .key-hints")).to_be_visible()
    assert not errors and not desktop_errors


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
            return client.get("/api/leaderboard?deprecated=true").json()["rows"]

        deadline = time.monotonic() + 30
        while not any(r["model"] == "south-lm" and r["deprecated"] for r in rows()):
            assert time.monotonic() < deadline, "the retired model was not marked"
            time.sleep(0.3)
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(server.url + "/leaderboard")
    table = page.locator("#board tbody")
    expect(table).to_contain_text("north-lm")
    expect(table).not_to_contain_text("south-lm")
    page.locator("#more-filters summary").click()
    page.get_by_label("Show deprecated models").check()
    expect(table.locator("tr", has_text="south-lm").locator(".tag")).to_contain_text(["deprecated"])
    shot(page, "leaderboard-deprecated-desktop")
