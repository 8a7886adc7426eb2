"""A direct chat's thumbs belong to the answer they were given to: the conversation shows
each turn's rating, and regenerating an answer leaves the new one unrated, in the API and
in the database's export alike."""

from __future__ import annotations

import pytest

from modelarena.store import exports
from modelarena.store.db import Database

from .scripted_models import model
from .test_api_live import arena_config

pytestmark = pytest.mark.live


def test_a_regenerated_answer_starts_without_the_old_ones_rating(
    start_server, scripted, visitor_factory, tmp_path
):
    server = start_server(
        arena_config(
            scripted, [model("one-lm", scripted, "plain"), model("two-lm", scripted, "other")]
        )
    )
    visitor = visitor_factory(server.url).accept_terms()
    chat = visitor.start(mode="chat", models=["one-lm"])["id"]
    path = f"/api/conversations/{chat}"
    visitor.send(chat, "first")
    visitor.send(chat, "second")
    assert [t["rating"] for t in visitor.request("GET", path).json()["turns"]] == [None, None]

    for turn, rating in ((0, 1), (1, 1), (1, -1)):  # the last one changes its mind
        answer = visitor.request("POST", path + "/feedback", json={"turn": turn, "rating": rating})
        assert answer.json() == {"turn": turn, "rating": rating}
    assert [t["rating"] for t in visitor.request("GET", path).json()["turns"]] == [1, -1]

    events = visitor.send(chat, "", path="regenerate")  # the last turn's answer, again
    assert events[-1]["type"] == "done"
    turns = visitor.request("GET", path).json()["turns"]
    assert [t["rating"] for t in turns] == [1, None]
    assert (
        visitor.request("POST", path + "/feedback", json={"turn": 1, "rating": 1}).status_code
        == 200
    )
    assert [t["rating"] for t in visitor.request("GET", path).json()["turns"]] == [1, 1]
    visitor.send(chat, "", path="regenerate")

    # In the database too, the regenerated answer carries no rating (what training reads).
    db = Database(f"sqlite:///{server.log.parent / 'data' / 'modelarena.db'}")
    stored = exports.conversations(db, chat)[0]
    assert [turn.rating for turn in stored.turns] == [1, None]
    db.engine.dispose()
