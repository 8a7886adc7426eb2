"""A visitor's own history as the store reads it, on SQLite and on the machine's
PostgreSQL: the recent conversations (newest first, titled by the first prompt, only the
visitor's, none without a prompt) and their blind-battle votes (flags that exclude a vote
marked); and the API's refusals of links and lists that are not the caller's."""

from __future__ import annotations

import time

from modelarena.arena.history import title
from modelarena.store import arena as store
from modelarena.store import history

from .scripted_models import model


def conversation(db, visitor: str, mode: str, prompts: list[str], winner: str | None = None):
    created = store.create_conversation(
        db, f"{visitor[:4]}{time.monotonic_ns():028x}"[:32], visitor, mode, ["m1", "m2"], {}, False
    )
    for position, prompt in enumerate(prompts):
        store.add_turn(db, created.id, position, prompt, None)
    if winner is not None:
        assert store.add_vote(db, created.id, visitor, winner)
    return created.id


def test_recent_conversations_and_votes_of_one_visitor(db):
    for visitor in ("me" * 16, "them" * 8):
        store.ensure_visitor(db, visitor, "hash")
    me = "me" * 16
    first = conversation(db, me, "battle", ["Old " * 80, "second turn"], "model_a")
    conversation(db, me, "chat", [])  # never sent: not listed
    chat = conversation(db, me, "chat", ["a chat"])
    leak = conversation(db, me, "battle", ["leaky"], "model_b")
    store.add_flag(db, leak, "identity_leak", "named itself", excluded=True)
    named = conversation(db, me, "side_by_side", ["named"], "tie")
    open_battle = conversation(db, me, "battle", ["not voted"])
    conversation(db, "them" * 8, "battle", ["someone else's"], "tie")

    recent = history.recent_conversations(db, me, limit=10)
    assert [r.id for r in recent] == [open_battle, named, leak, chat, first]
    assert [r.voted for r in recent] == [False, True, True, False, True]
    assert recent[-1].turns == 2 and recent[-1].first_prompt == ("Old " * 80)[:200]
    assert [r.id for r in history.recent_conversations(db, me, limit=2)] == [open_battle, named]

    votes = history.visitor_votes(db, me)  # blind battles only, in vote order
    assert [(v.winner, v.excluded) for v in votes] == [("model_a", False), ("model_b", True)]
    assert {(v.model_a, v.model_b) for v in votes} == {("m1", "m2")}


def test_titles_are_one_short_line():
    assert title("  Hello,\n\n  world  ") == "Hello, world"
    long = title("word " * 40)
    assert len(long) <= 60 and long.endswith("word…")
    assert title("x" * 100) == "x" * 59 + "…"


def test_lists_and_links_belong_to_their_browser(start_server, scripted, visitor_factory):
    server = start_server(
        {
            "include_default_models": False,
            "models": [model("alpha-7b", scripted, "plain"), model("beta-13b", scripted, "other")],
        }
    )
    owner = visitor_factory(server.url).accept_terms()
    battle = owner.start()
    owner.send(battle["id"], "Hello there")
    listed = owner.request("GET", "/api/conversations").json()["conversations"]
    assert [(c["id"], c["title"], c["voted"]) for c in listed] == [
        (battle["id"], "Hello there", False)
    ]
    assert listed[0]["url"] == f"/?conversation={battle['id']}"
    board = owner.request("GET", "/api/leaderboard/mine").json()
    assert board["enough"] is False and board["rows"] == [] and board["votes"] == 0
    assert board["message"] == "Vote in 10 more blind battles to see your own leaderboard."
    for payload in owner.payloads:
        assert "alpha" not in payload and "beta" not in payload

    stranger = visitor_factory(server.url)
    assert stranger.request("GET", "/api/conversations").json() == {"conversations": []}
    summary = stranger.request("GET", "/api/votes/mine").json()
    assert summary["votes"] == 0 and summary["models"] == []
    refused = stranger.request("GET", f"/api/share/{battle['id']}")
    assert refused.status_code == 404 and "alpha" not in refused.text
    assert owner.request("GET", "/api/conversations?limit=0").status_code == 400
    assert owner.request("GET", "/share/%00").status_code == 404

    assert owner.vote(battle["id"], "model_a").status_code == 200
    shared = stranger.request("GET", f"/api/share/{battle['id']}").json()
    assert shared["winner"] == "model_a" and shared["turns"][0]["prompt"] == "Hello there"
    summary = owner.request("GET", "/api/votes/mine").json()
    assert summary["votes"] == 1 and summary["choices"]["model_a"] == 1
    assert summary["models"][0]["wins"] == 1 and summary["models"][1]["wins"] == 0
