"""Thumbs-down reasons and the admin's conversation browser, statistics and exports,
through the real server's API with scripted models: a reason and comment are stored with
the answer they judge (and go with it when it is regenerated), bad ones are 400s naming
the field; the browser's filters narrow to the conversations made, the statistics count
the votes made, and the export downloads hold the right rows."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from .conftest import Visitor
from .scripted_models import model
from .test_api_live import ADMIN, arena_config

pytestmark = pytest.mark.live
AUTH = {"Authorization": f"Bearer {ADMIN}"}
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def arena(start_server, scripted):
    """A server whose battles always pit alpha-lm against leaky-lm (which names itself,
    so every battle is flagged), with battles, a side-by-side and chats with thumbs
    made: the visitor who made them, the conversations, and the votes as revealed."""
    server = start_server(
        arena_config(
            scripted,
            [
                model("alpha-lm", scripted, "plain", display_name="Alpha"),
                model(
                    "leaky-lm",
                    scripted,
                    "leaky",
                    display_name="LeakyLM",
                    organization="Acme Research",
                ),
            ],
        )
    )
    visitor = Visitor(server.url).accept_terms()
    made: dict[str, list[str]] = {"battle": [], "side_by_side": [], "chat": []}
    votes = []  # (model_a, model_b, winner)
    for winner in ("model_a", "model_b", "tie", None):
        battle = visitor.start()["id"]
        visitor.send(battle, f"Question for {winner}")
        made["battle"].append(battle)
        if winner:
            revealed = visitor.vote(battle, winner).json()["models"]
            votes.append((revealed["a"]["name"], revealed["b"]["name"], winner))
    named = visitor.start(mode="side_by_side", models=["alpha-lm", "leaky-lm"])["id"]
    visitor.send(named, "Compare yourselves")
    assert visitor.vote(named, "tie (bothbad)").status_code == 200
    made["side_by_side"].append(named)
    for name in ("alpha-lm", "leaky-lm"):
        chat = visitor.start(mode="chat", models=[name])["id"]
        visitor.send(chat, "What is the capital of France?")
        made["chat"].append(chat)
    visitor.send(made["chat"][0], "And of Spain?")
    for chat, turn, body in (
        (made["chat"][0], 0, {"rating": -1, "reason": "inaccurate", "comment": "  Wrong.  "}),
        (made["chat"][0], 1, {"rating": 1}),
        (made["chat"][1], 0, {"rating": -1, "reason": "unsafe"}),  # no comment: fine
    ):
        given = feedback(visitor, chat, turn=turn, **body)
        assert given.status_code == 200 and given.json() == {"turn": turn, "rating": body["rating"]}
    # The first battle's flag is reviewed: it counts in the ratings again.
    flags = visitor.request("GET", "/api/admin/flags", headers=AUTH).json()["flags"]
    first = next(f for f in flags if f["conversation"] == made["battle"][0])
    review = visitor.request(
        "PATCH", f"/api/admin/flags/{first['id']}", json={"excluded": False}, headers=AUTH
    )
    assert review.status_code == 200
    yield visitor, made, votes
    visitor.close()


def feedback(visitor, chat: str, **body):
    return visitor.request("POST", f"/api/conversations/{chat}/feedback", json=body)


def stored_feedback(visitor, chat: str) -> list[dict | None]:
    answer = visitor.request("GET", f"/api/admin/conversations/{chat}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return [turn["feedback"] for turn in answer.json()["turns"]]


def test_a_thumbs_down_keeps_its_reason_and_comment_for_the_admin(arena):
    visitor, made, _ = arena
    first, second = stored_feedback(visitor, made["chat"][0])
    assert (first["rating"], first["reason"], first["comment"]) == (-1, "inaccurate", "Wrong.")
    assert (second["rating"], second["reason"], second["comment"]) == (1, None, None)
    only = stored_feedback(visitor, made["chat"][1])[0]
    assert (only["rating"], only["reason"], only["comment"]) == (-1, "unsafe", None)
    assert stored_feedback(visitor, made["battle"][0]) == [None]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"rating": -1, "reason": "boring"}, "reason", "reason"),
        ({"rating": -1, "comment": "x" * 1001}, "comment", "1000"),
        ({"rating": -1, "comment": 42}, "comment", "comment"),
        ({"rating": -1, "comment": "a\x00b"}, "comment", "NUL"),
        ({"rating": 1, "reason": "other"}, "reason", "thumbs down"),
        ({"rating": 1, "comment": "Great"}, "reason", "thumbs down"),
        ({"rating": -1, "reason": "other", "mood": "sad"}, "mood", "mood"),
    ],
)
def test_a_bad_reason_or_comment_is_refused_naming_the_field(arena, body, param, words):
    visitor, made, _ = arena
    chat = made["chat"][1]
    before = stored_feedback(visitor, chat)
    answer = feedback(visitor, chat, turn=0, **body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and words in error["message"], error
    assert stored_feedback(visitor, chat) == before  # nothing changed


def test_regenerating_an_answer_drops_its_reason_and_comment(arena):
    visitor, _, _ = arena
    chat = visitor.start(mode="chat", models=["alpha-lm"])["id"]
    visitor.send(chat, "Say something")
    feedback(visitor, chat, turn=0, rating=-1, reason="other", comment="Too short")
    assert stored_feedback(visitor, chat)[0]["comment"] == "Too short"
    visitor.send(chat, "", path="regenerate")
    assert stored_feedback(visitor, chat) == [None]


def listed(visitor, **params) -> tuple[list[str], dict]:
    answer = visitor.request("GET", "/api/admin/conversations", params=params, headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [row["id"] for row in body["conversations"]], body


def test_the_browser_filters_narrow_the_list(arena):
    visitor, made, votes = arena
    battles, named, chats = made["battle"], made["side_by_side"], made["chat"]
    everything, body = listed(visitor, mode="battle")
    assert everything == battles[::-1] and body["total"] == 4  # newest first
    assert set(listed(visitor, mode="chat")[0]) >= set(chats)
    assert listed(visitor, model="nobody-lm")[0] == []
    assert set(listed(visitor, model="leaky-lm")[0]) == {*battles, *named, chats[1]}
    for winner in ("model_a", "model_b", "tie"):
        assert listed(visitor, outcome=winner)[0] == [
            battles[("model_a", "model_b", "tie").index(winner)]
        ]
    assert listed(visitor, outcome="tie (bothbad)")[0] == named
    assert listed(visitor, outcome="unvoted")[0] == [battles[3]]
    assert listed(visitor, outcome="thumbs_down")[0] == chats[::-1]
    assert listed(visitor, outcome="thumbs_up")[0] == [chats[0]]
    assert listed(visitor, flag="flagged")[0] == battles[::-1]
    assert listed(visitor, flag="excluded")[0] == battles[:0:-1]  # the first was reviewed
    assert battles[0] not in listed(visitor, flag="unflagged")[0]
    today, tomorrow = TODAY.isoformat(), (TODAY + timedelta(days=1)).isoformat()
    assert listed(visitor, mode="battle", since=today, until=today)[0] == battles[::-1]
    assert listed(visitor, since=tomorrow)[0] == []

    page_two, body = listed(visitor, mode="battle", per_page=3, page=2)
    assert page_two == [battles[0]] and (body["pages"], body["total"]) == (2, 4)
    row = next(r for r in listed(visitor, mode="chat")[1]["conversations"] if r["id"] == chats[0])
    assert (row["models"], row["turns"], row["first_prompt"]) == (
        ["alpha-lm"],
        2,
        "What is the capital of France?",
    )
    assert (row["thumbs_up"], row["thumbs_down"], row["reasons"]) == (1, 1, ["inaccurate"])


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"outcome": "won"}, "outcome"),
        ({"flag": "red"}, "flag"),
        ({"since": "yesterday"}, "since"),
        ({"until": "0"}, "until"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-02-02", "until": "2026-02-01"}, "until"),
        ({"per_page": 0}, "per_page"),
        ({"mode": "duel"}, "mode"),
    ],
)
def test_bad_browser_filters_are_refused_naming_them(arena, params, param):
    visitor, _, _ = arena
    answer = visitor.request("GET", "/api/admin/conversations", params=params, headers=AUTH)
    error = answer.json()["error"]
    assert answer.status_code == 400 and error["param"] == param, answer.text


def test_admin_views_need_the_token(arena):
    visitor, _, _ = arena
    for path in ("/api/admin/conversations", "/api/admin/stats", "/api/admin/export/battles"):
        answer = visitor.request("GET", path, headers={"Authorization": "Bearer wrong"})
        assert answer.status_code == 401, path


def test_statistics_count_the_votes_made(arena):
    visitor, made, votes = arena
    answer = visitor.request("GET", "/api/admin/stats", params={"mode": "battle"}, headers=AUTH)
    stats = answer.json()
    expected: dict[str, Counter] = {"alpha-lm": Counter(), "leaky-lm": Counter()}
    for model_a, model_b, winner in votes:
        for name, side in ((model_a, "model_a"), (model_b, "model_b")):
            count = expected[name]
            count["votes"] += 1
            if winner == side:
                count["wins"] += 1
            elif winner == "tie":
                count["ties"] += 1
            else:
                count["losses"] += 1
    for row in stats["models"]:
        want = expected[row["model"]]
        assert (row["votes"], row["wins"], row["losses"], row["ties"], row["both_bad"]) == (
            want["votes"],
            want["wins"],
            want["losses"],
            want["ties"],
            0,
        )
        assert row["win_rate"] == round(want["wins"] / want["votes"], 4)
    assert [day["day"] for day in stats["days"]] == [TODAY.isoformat()]
    assert stats["days"][0]["votes"] == 3
    assert stats["days"][0]["outcomes"] == {"model_a": 1, "model_b": 1, "tie": 1}
    every = visitor.request("GET", "/api/admin/stats", headers=AUTH).json()
    assert every["days"][0]["outcomes"]["tie (bothbad)"] == 1  # the side-by-side vote
    alpha = visitor.request(
        "GET", "/api/admin/stats", params={"model": "alpha-lm", "mode": "battle"}, headers=AUTH
    ).json()
    assert [row["model"] for row in alpha["models"]] == ["alpha-lm"]
    assert alpha["models"][0]["reasons"] == {"inaccurate": 1}
    assert alpha["models"][0]["thumbs_up"] >= 1


def download(visitor, what: str, **params):
    answer = visitor.request("GET", f"/api/admin/export/{what}", params=params, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    return answer


def test_exports_download_the_right_rows(arena):
    visitor, made, _ = arena
    battles = download(visitor, "battles")  # FastChat's JSON; the excluded ones left out
    assert battles.headers["content-type"] == "application/json"
    assert ".json" in battles.headers["content-disposition"]
    assert [r["question_id"] for r in battles.json()] == [made["battle"][0]]
    assert battles.headers["x-records"] == "1"
    every = download(visitor, "battles", include_excluded="true", include_named="true")
    records = every.json()
    assert [r["question_id"] for r in records] == [*made["battle"][:3], *made["side_by_side"]]
    assert [r["anony"] for r in records] == [True, True, True, False]
    lines = download(visitor, "battles", format="jsonl", include_excluded="true").text
    assert [json.loads(line)["winner"] for line in lines.splitlines()] == [
        "model_a",
        "model_b",
        "tie",
    ]
    conversations = download(visitor, "conversations")  # JSON lines by default
    ids = [json.loads(line)["id"] for line in conversations.text.splitlines()]
    assert set(ids) >= {*made["battle"], *made["side_by_side"], *made["chat"]}
    table = pq.read_table(io.BytesIO(download(visitor, "conversations", format="parquet").content))
    assert sorted(table.column("id").to_pylist()) == sorted(ids)
    refused = visitor.request(
        "GET", "/api/admin/export/battles", params={"format": "csv"}, headers=AUTH
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "format"
