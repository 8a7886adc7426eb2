"""Edge cases of the arena API found in review, each against a real server: input that
must get a clear 4xx (never a 500), a broken moderation hook, cross-site requests, odd
cookies from other sites, uploads before the terms, unknown leaderboard categories, and a
battle while its answers stream or after its client left."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from .scripted_models import model
from .test_api_live import ADMIN, arena_config, png

HOOK = """
def check(prompt):
    if "explode" in prompt:
        raise RuntimeError("the moderation service is down")
    return None
"""


@pytest.fixture(scope="module")
def server(start_server, scripted, tmp_path_factory):
    hooks = tmp_path_factory.mktemp("hooks")
    (hooks / "broken_hook.py").write_text(HOOK)
    return start_server(
        arena_config(
            scripted,
            [
                model("m-one", scripted, "plain", vision=True),
                model("m-two", scripted, "other", vision=True),
            ],
            moderation="broken_hook:check",
        ),
        env={"PYTHONPATH": str(hooks)},
    )


def error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_numbers_out_of_range_are_refused(server, visitor_factory):
    visitor = visitor_factory(server.url).accept_terms()
    body = '{"mode": "side_by_side", "models": ["m-one", "m-two"], "sampling": %s}'
    for sampling in ('{"temperature": "hot"}', '{"top_p": 0}'):
        answer = visitor.request(
            "POST",
            "/api/conversations",
            content=body % sampling,
            headers={"Content-Type": "application/json"},
        )
        error(answer, 400, "invalid_sampling")
    infinite = visitor.request(
        "POST",
        "/api/conversations",  # no JSON number is infinite
        content=body % '{"max_tokens": 1e999}',
        headers={"Content-Type": "application/json"},
    )
    error(infinite, 400, "invalid_request")
    assert "infinity" in infinite.json()["error"]["message"]
    admin = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    for weight in ("1e999", "NaN", "0"):
        answer = httpx.patch(
            server.url + "/api/admin/models/m-one",
            headers=admin,
            content='{"weight": ' + weight + "}",
        )
        assert answer.status_code == 400, (weight, answer.text)
    assert len(visitor.request("GET", "/api/models").json()["models"]) == 2


def test_a_failing_moderation_hook_refuses_and_the_server_goes_on(server, visitor_factory):
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    with pytest.raises(AssertionError, match="503.*moderation_unavailable"):
        visitor.send(battle["id"], "please explode")
    events = visitor.send(battle["id"], "a calm question")
    assert events[-1]["type"] == "done" and events[-1]["votable"]


def test_unknown_images_and_uploads_before_the_terms(server, visitor_factory):
    stranger = visitor_factory(server.url)
    answer = stranger.request("POST", "/api/images", files={"image": ("a.png", png(), "image/png")})
    error(answer, 403, "terms_not_accepted")
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start(vision=True)
    with pytest.raises(AssertionError, match="image_not_found"):
        visitor.send(battle["id"], "what is this?", image="ab" * 32 + ".png")
    uploaded = visitor.request(
        "POST", "/api/images", files={"image": ("a.png", png(), "image/png")}
    ).json()["id"]
    events = visitor.send(battle["id"], "what is this?", image=uploaded)
    assert events[-1]["votable"]


def test_cross_site_requests_are_refused(server, visitor_factory):
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    visitor.send(battle["id"], "hello")
    for headers in (
        {"Origin": "https://elsewhere.example"},
        {"Origin": "null"},
        {"Origin": "", "Sec-Fetch-Site": "cross-site"},
    ):
        answer = visitor.request(
            "POST",
            f"/api/conversations/{battle['id']}/vote",
            json={"winner": "tie"},
            headers=headers,
        )
        error(answer, 403, "cross_origin")
    assert visitor.vote(battle["id"], "tie").status_code == 200


def test_another_sites_odd_cookie_does_not_hide_the_visitor(server, visitor_factory):
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    own = visitor.http.cookies["ma_visitor"]
    odd = {"Cookie": f'prefs={{"a":1, "b":2}}; ma_visitor={own}; x=y z'}
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as other_tab:
        answer = other_tab.get(f"/api/conversations/{battle['id']}", headers=odd)
        assert answer.status_code == 200, answer.text
        assert "set-cookie" not in answer.headers  # no new identity handed out


def test_unknown_leaderboard_categories(server):
    for path in ("/api/leaderboard?category=nope", "/api/leaderboard.csv?category=%E2%82%AC"):
        error(httpx.get(server.url + path), 404, "category_not_found")
    assert httpx.get(server.url + "/api/leaderboard.csv?category=code").status_code == 200


@pytest.fixture(scope="module")
def slow_server(start_server, scripted):
    return start_server(
        arena_config(scripted, [model("s-one", scripted, "slow"), model("s-two", scripted, "slow")])
    )


def test_nothing_else_happens_to_a_battle_while_it_streams(slow_server, visitor_factory):
    visitor = visitor_factory(slow_server.url).accept_terms()
    battle = visitor.start()
    path = f"/api/conversations/{battle['id']}"
    with visitor.http.stream("POST", path + "/messages", json={"prompt": "hi"}) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("data: ")  # answers are arriving now
        error(visitor.vote(battle["id"]), 409, "conversation_busy")
        error(visitor.request("POST", path + "/regenerate"), 409, "conversation_busy")
        error(
            visitor.request("POST", path + "/messages", json={"prompt": "more"}),
            409,
            "turn_incomplete",
        )
        events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert events[-1]["type"] == "done" and events[-1]["votable"]
    assert visitor.vote(battle["id"]).status_code == 200
    error(visitor.request("POST", path + "/regenerate"), 409, "already_voted")


def test_a_client_that_leaves_mid_answer_does_not_lock_the_battle(slow_server, visitor_factory):
    visitor = visitor_factory(slow_server.url).accept_terms()
    battle = visitor.start()
    path = f"/api/conversations/{battle['id']}"
    with visitor.http.stream("POST", path + "/messages", json={"prompt": "hi"}) as stream:
        next(stream.iter_lines())
    # The connection is closed mid-answer; the sides record the interruption and the
    # conversation is released, so the same visitor can regenerate it.
    deadline = time.monotonic() + 15
    while True:
        answer = visitor.request("POST", path + "/regenerate")
        if answer.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert answer.status_code == 200, answer.text
    events = [
        json.loads(line[6:]) for line in answer.text.split("\n\n") if line.startswith("data: ")
    ]
    assert events[-1] == {"type": "done", "votable": True, "can_continue": True}
    assert visitor.vote(battle["id"]).status_code == 200
