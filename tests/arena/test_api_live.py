"""The arena's API against a real server whose models are scripted providers: every
integrity rule of a battle, images, moderation, limits, admin, export and import."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import httpx
import pytest
from PIL import Image

from . import scripted_models
from .scripted_models import model

ADMIN = "test-admin-token"


def arena_config(scripted: str, models: list[dict], **arena) -> dict:
    return {
        "include_default_models": False,
        "models": models,
        "arena": {
            "admin_token": ADMIN,
            "leaderboard_every_votes": 1,
            "leaderboard_min_gap_s": 0,
            **arena,
        },
    }


@pytest.fixture(scope="module")
def pair_server(start_server, scripted):
    """Two well-behaved models, so every battle is plain vs other."""
    return start_server(
        arena_config(
            scripted,
            [
                model(
                    "alpha-7b", scripted, "plain", display_name="Alpha 7B", organization="AlphaCorp"
                ),
                model(
                    "beta-13b", scripted, "other", display_name="Beta 13B", organization="BetaLabs"
                ),
            ],
            blocked_keywords=["forbiddenword"],
            max_prompt_chars=200,
            max_turns=2,
        )
    )


def png(size: int = 8) -> bytes:
    """A PNG of random pixels (which do not compress), size × size."""
    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(out, "PNG")
    return out.getvalue()


def test_a_battle_reveals_nothing_before_the_vote(pair_server, visitor_factory):
    visitor = visitor_factory(pair_server.url)
    visitor.request("GET", "/")
    visitor.accept_terms()
    battle = visitor.start()
    assert battle["models"] is None
    events = visitor.send(battle["id"], "Say hello")
    events += visitor.send(battle["id"], "And again")
    events += visitor.send(battle["id"], "x", path="regenerate")
    assert [e["type"] for e in events].count("answer") == 6
    visitor.request("GET", f"/api/conversations/{battle['id']}")
    secret = ["alpha", "beta", "AlphaCorp", "BetaLabs", "Alpha 7B", "Beta 13B"]
    for payload in visitor.payloads:
        for word in secret:
            assert word.lower() not in payload.lower(), (word, payload[:300])
    vote = visitor.vote(battle["id"], "model_b")
    assert vote.status_code == 200
    revealed = {side: m["name"] for side, m in vote.json()["models"].items()}
    assert sorted(revealed.values()) == ["alpha-7b", "beta-13b"]
    state = visitor.request("GET", f"/api/conversations/{battle['id']}").json()
    assert state["models"]["a"]["organization"] in ("AlphaCorp", "BetaLabs")


def test_one_vote_only_after_both_answers_and_only_by_the_owner(pair_server, visitor_factory):
    owner = visitor_factory(pair_server.url).accept_terms()
    battle = owner.start()
    early = owner.vote(battle["id"])
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_votable"
    owner.send(battle["id"], "Hello")
    stranger = visitor_factory(pair_server.url).accept_terms()
    assert stranger.vote(battle["id"]).status_code == 403
    assert stranger.request("GET", f"/api/conversations/{battle['id']}").status_code == 403
    assert owner.vote(battle["id"], "nonsense").status_code == 400
    assert owner.vote(battle["id"], "tie").status_code == 200
    again = owner.vote(battle["id"], "model_a")
    assert again.status_code == 409
    with pytest.raises(AssertionError, match="409"):
        owner.send(battle["id"], "more after the vote")


def test_a_failed_side_cannot_be_voted_and_its_error_names_no_model(
    start_server, scripted, visitor_factory
):
    server = start_server(
        arena_config(
            scripted,
            [
                model("gamma-1b", scripted, "plain", organization="GammaWorks"),
                model("zeta-2b", scripted, "broken", organization="ZetaInc"),
            ],
        )
    )
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    events = visitor.send(battle["id"], "Hello")
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1 and "cannot be voted" in errors[0]["message"]
    assert events[-1] == {"type": "done", "votable": False, "can_continue": False}
    assert visitor.vote(battle["id"]).status_code == 409
    for word in ("gamma", "zeta", "GammaWorks", "ZetaInc", "scripted failure"):
        assert all(word.lower() not in p.lower() for p in visitor.payloads), word
    assert server.process.poll() is None  # the server is fine


def test_identity_leaks_are_flagged_and_kept_out_of_the_ratings(
    start_server, scripted, visitor_factory, tmp_path
):
    server = start_server(
        arena_config(
            scripted,
            [
                model(
                    "leaky-lm",
                    scripted,
                    "leaky",
                    display_name="LeakyLM",
                    organization="Acme Research",
                ),
                model(
                    "quiet-lm", scripted, "plain", display_name="QuietLM", organization="Quietfolk"
                ),
            ],
        )
    )
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    visitor.send(battle["id"], "Who are you?")
    assert visitor.vote(battle["id"]).status_code == 200
    admin = {"Authorization": f"Bearer {ADMIN}"}
    flags = httpx.get(server.url + "/api/admin/flags", headers=admin).json()["flags"]
    assert [f["kind"] for f in flags] == ["identity_leak"]
    assert flags[0]["conversation"] == battle["id"] and "leaky-lm" in flags[0]["detail"]
    # The admin reads the flagged battle in full; a visitor cannot.
    read = httpx.get(server.url + f"/api/admin/conversations/{battle['id']}", headers=admin)
    assert read.status_code == 200
    stored = read.json()
    assert stored["models"] == [m["name"] for m in battle_models(visitor, battle["id"])]
    assert stored["winner"] == "model_a" and stored["turns"][0]["prompt"] == "Who are you?"
    answers = {stored["turns"][0][side]["answer"] for side in ("a", "b")}
    assert "Hello! I am LeakyLM, made by Acme Research." in answers
    assert [f["kind"] for f in stored["flags"]] == ["identity_leak"]
    assert httpx.get(server.url + "/api/admin/conversations/nope", headers=admin).status_code == 404
    assert visitor.request("GET", f"/api/admin/conversations/{battle['id']}").status_code == 401
    db = f"sqlite:///{server.log.parent / 'data' / 'modelarena.db'}"
    exported = export(db, tmp_path / "b.json")
    assert exported == []
    everything = export(db, tmp_path / "all.json", "--include-excluded")
    assert everything[0]["flags"] == ["identity_leak"]
    # An admin who decides the flag is harmless brings the battle back.
    answer = httpx.patch(
        server.url + f"/api/admin/flags/{flags[0]['id']}", headers=admin, json={"excluded": False}
    )
    assert answer.status_code == 200
    assert len(export(db, tmp_path / "b2.json")) == 1


def battle_models(visitor, conversation: str) -> list[dict]:
    revealed = visitor.request("GET", f"/api/conversations/{conversation}").json()["models"]
    return [revealed["a"], revealed["b"]]


def export(db: str, path, *flags: str) -> list[dict]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "modelarena.cli",
            "export",
            "battles",
            "--db",
            db,
            "--out",
            str(path),
            *flags,
        ],
        check=True,
        capture_output=True,
    )
    return json.loads(path.read_text())


def test_answers_are_sanitised_html(start_server, scripted, visitor_factory):
    server = start_server(
        arena_config(scripted, [model("xss-a", scripted, "xss"), model("xss-b", scripted, "xss")])
    )
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    events = visitor.send(battle["id"], "Show me some HTML")
    html = next(e["html"] for e in events if e["type"] == "answer")
    tags = parse_tags(html)
    assert "script" not in {tag for tag, _ in tags}
    attributes = [(name, value or "") for _, attrs in tags for name, value in attrs]
    assert not [name for name, _ in attributes if name.startswith("on")]
    assert not [v for _, v in attributes if v.strip().lower().startswith("javascript:")]
    assert "&lt;script&gt;" in html  # shown as text instead


def parse_tags(html: str) -> list[tuple[str, list]]:
    from html.parser import HTMLParser

    found: list[tuple[str, list]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_input_limits_moderation_and_same_origin(pair_server, visitor_factory):
    visitor = visitor_factory(pair_server.url)
    refused = visitor.request("POST", "/api/conversations", json={})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "terms_not_accepted"
    visitor.accept_terms()
    battle = visitor.start()
    cases = {
        "": "empty_prompt",
        "x" * 201: "prompt_too_long",
        "please say forbiddenword now": "prompt_refused",
    }
    for prompt, code in cases.items():
        with pytest.raises(AssertionError) as failure:
            visitor.send(battle["id"], prompt)
        assert code in str(failure.value)
    visitor.send(battle["id"], "one")
    visitor.send(battle["id"], "two")
    with pytest.raises(AssertionError, match="too_many_turns"):
        visitor.send(battle["id"], "three")
    forged = visitor.http.post(
        f"/api/conversations/{battle['id']}/vote",
        json={"winner": "tie"},
        headers={"Origin": "http://evil.test"},
    )
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "cross_origin"
    bad = visitor.request("POST", "/api/conversations", json={"mode": "battle", "extra": 1})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "extra"
    cookie = httpx.get(pair_server.url + "/").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_visitor_rate_limit(start_server, scripted, visitor_factory):
    server = start_server(
        arena_config(
            scripted,
            [model("one-m", scripted, "plain"), model("two-m", scripted, "other")],
            visitor_rpm=2,
        )
    )
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()
    visitor.send(battle["id"], "first")
    visitor.send(battle["id"], "again", path="regenerate")
    limited = visitor.http.post(f"/api/conversations/{battle['id']}/regenerate")
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_images_reach_only_vision_models_as_image_url_parts(
    start_server, scripted, visitor_factory
):
    server = start_server(
        arena_config(
            scripted,
            [
                model("seer-a", scripted, "vision", vision=True),
                model("seer-b", scripted, "vision", vision=True),
                model("blind-c", scripted, "plain"),
            ],
            image_max_bytes=4096,
        )
    )
    visitor = visitor_factory(server.url).accept_terms()
    image = png()
    upload = visitor.request("POST", "/api/images", files={"image": ("red.png", image)})
    assert upload.status_code == 201
    image_id = upload.json()["id"]
    assert visitor.request("GET", f"/api/images/{image_id}").content == image
    for _ in range(4):  # the blind model is never paired for an image battle
        battle = visitor.start(vision=True)
        events = visitor.send(battle["id"], "What is this?", image=image_id)
        answers = [e["html"] for e in events if e["type"] == "answer"]
        assert all(f"data:image/png;base64 image of {len(image)} bytes" in a for a in answers)
        assert {m["name"] for m in visitor.vote(battle["id"]).json()["models"].values()} == {
            "seer-a",
            "seer-b",
        }
    garbage = visitor.request("POST", "/api/images", files={"image": ("x.png", b"not an image")})
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "invalid_image"
    big = visitor.request("POST", "/api/images", files={"image": ("big.png", png(64))})
    assert big.status_code == 413
    named = visitor.request(
        "POST",
        "/api/conversations",
        json={"mode": "side_by_side", "models": ["seer-a", "blind-c"], "vision": True},
    )
    assert named.status_code == 400 and named.json()["error"]["code"] == "model_not_vision"


def test_side_by_side_and_chat(pair_server, visitor_factory, tmp_path):
    visitor = visitor_factory(pair_server.url).accept_terms()
    named = visitor.start(
        mode="side_by_side",
        models=["beta-13b", "alpha-7b"],
        sampling={"temperature": 0.2, "top_p": 0.9, "max_tokens": 64},
    )
    assert named["models"]["a"]["name"] == "beta-13b"
    visitor.send(named["id"], "compare")
    assert visitor.vote(named["id"], "model_a").status_code == 200
    wrong = visitor.request(
        "POST",
        "/api/conversations",
        json={"mode": "side_by_side", "models": ["alpha-7b"], "sampling": {"temperature": 5}},
    )
    assert wrong.status_code == 400
    chat = visitor.start(mode="chat", models=["alpha-7b"])
    visitor.send(chat["id"], "hi")
    thumbs = visitor.request(
        "POST", f"/api/conversations/{chat['id']}/feedback", json={"turn": 0, "rating": -1}
    )
    assert thumbs.status_code == 200
    assert visitor.vote(chat["id"]).status_code == 409
    scripted_requests = [
        r for r in scripted_models.ScriptedModels.requests if r.get("temperature") == 0.2
    ]
    assert scripted_requests and scripted_requests[-1]["max_tokens"] == 64


def test_admin_takes_a_model_out_of_service(start_server, scripted, visitor_factory):
    server = start_server(
        arena_config(
            scripted,
            [
                model("m-one", scripted, "plain"),
                model("m-two", scripted, "other"),
                model("m-three", scripted, "plain"),
            ],
        )
    )
    assert httpx.get(server.url + "/api/admin/models").status_code == 401
    wrong = httpx.get(server.url + "/api/admin/models", headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN}"}
    change = httpx.patch(
        server.url + "/api/admin/models/m-three", headers=admin, json={"enabled": False}
    )
    assert change.status_code == 200
    names = {m["name"] for m in httpx.get(server.url + "/api/models").json()["models"]}
    assert names == {"m-one", "m-two"}
    visitor = visitor_factory(server.url).accept_terms()
    for _ in range(5):
        battle = visitor.start()
        visitor.send(battle["id"], "hi")
        chosen = {m["name"] for m in visitor.vote(battle["id"]).json()["models"].values()}
        assert chosen == {"m-one", "m-two"}
    listed = {
        m["name"]: m
        for m in httpx.get(server.url + "/api/admin/models", headers=admin).json()["models"]
    }
    assert (
        listed["m-three"].items()
        >= {
            "name": "m-three",
            "state": "active",
            "served": True,
            "in_service": False,
            "configured_enabled": True,
            "configured_weight": 1.0,
            "enabled_override": False,
            "weight_override": None,
        }.items()
    )
    # null hands a setting back to the configuration.
    assert (
        httpx.patch(
            server.url + "/api/admin/models/m-three", headers=admin, json={"enabled": None}
        ).status_code
        == 200
    )
    names = {m["name"] for m in httpx.get(server.url + "/api/models").json()["models"]}
    assert names == {"m-one", "m-two", "m-three"}
    assert (
        httpx.patch(
            server.url + "/api/admin/models/m-one", headers=admin, json={"weight": -1}
        ).status_code
        == 400
    )
    assert (
        httpx.patch(
            server.url + "/api/admin/models/nope", headers=admin, json={"weight": 2}
        ).status_code
        == 404
    )
