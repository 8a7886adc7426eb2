"""The `openai` upstream engine against a scripted OpenAI-compatible HTTP server.

The scripted server stands in for an external provider (not one of our components): it
records what the gateway forwards and answers with tool calls or with errors, so that
passthrough and error mapping can be checked exactly."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest

pytestmark = pytest.mark.live

TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}


class ScriptedUpstream(BaseHTTPRequestHandler):
    received: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "vendor-model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        body["_authorization"] = self.headers.get("authorization")
        body["_extra_header"] = self.headers.get("x-team")
        ScriptedUpstream.received.append(body)
        prompt = body["messages"][-1]["content"]
        if prompt == "fail-500":
            return self._send(500, {"error": {"message": "boom"}})
        if prompt == "fail-429":
            return self._send(429, {"error": {"message": "slow down"}}, {"retry-after": "7"})
        if prompt == "fail-400":
            return self._send(
                400,
                {
                    "error": {
                        "message": "bad tool schema",
                        "type": "invalid_request_error",
                        "param": "tools",
                        "code": "invalid_tools",
                    }
                },
            )
        if prompt == "fail-secret":
            return self._send(
                500,
                {
                    "error": {
                        "message": "connect failed at "
                        "http://secret-host:9/v1 key=sk-SECRET123 "
                        "via 10.1.2.3:8000"
                    }
                },
            )
        if prompt == "fail-400-secret":
            return self._send(
                400,
                {
                    "error": {
                        "message": "bad request; token=abc123def "
                        "Authorization: Bearer sk-live-XYZ987654"
                    }
                },
            )
        if prompt == "bad-json":
            return self._raw(b"{not json")
        if prompt.startswith("cut-off"):
            return self._cut_off(with_done=prompt == "cut-off-then-done")
        if prompt.startswith("bad-stream"):
            return self._broken_stream(first_ok=prompt == "bad-stream-later")
        if body.get("stream"):
            return self._stream()
        self._send(
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "vendor-model",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls",
                        "message": {"role": "assistant", "content": None, "tool_calls": [CALL]},
                    }
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
            },
        )

    def _raw(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _broken_stream(self, first_ok: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        if first_ok:
            good = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]}
            self.wfile.write(b"data: " + json.dumps(good).encode() + b"\n\n")
            self.wfile.flush()
            time.sleep(0.2)  # a separate read, so the good text is sent first
        self.wfile.write(b"data: {not json\n\n")

    def _cut_off(self, with_done: bool) -> None:
        """Text, then the stream closes cleanly: no finish reason (and no [DONE], unless
        `with_done`)."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        part = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Half an"}}]}
        self.wfile.write(b"data: " + json.dumps(part).encode() + b"\n\n")
        if with_done:
            self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        fragments = [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_time", "arguments": ""},
            },
            {"index": 0, "function": {"arguments": "{}"}},
        ]
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [f]}}]}
            for f in fragments
        ]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        chunks.append({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 3}})
        for chunk in chunks:
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture(scope="module")
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


@pytest.fixture(scope="module")
def gateway(start_server, upstream):
    config = {
        "include_default_models": False,
        "models": [
            {
                "name": "vendor",
                "engine": "openai",
                "base_url": upstream,
                "upstream_model": "vendor-model",
                "api_key_env": "TEST_VENDOR_KEY",
                "headers": {"x-team": "arena"},
                "organization": "Vendor Inc",
            },
            {"name": "no-tools", "engine": "openai", "base_url": upstream, "supports_tools": False},
        ],
    }
    return start_server(config, env={"TEST_VENDOR_KEY": "sk-vendor"})


@pytest.fixture
def client(gateway):
    ScriptedUpstream.received.clear()
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_request_passes_through_with_key_headers_and_upstream_name(client):
    reply = client.chat.completions.create(
        model="vendor",
        messages=ask("what time is it"),
        tools=[TOOL],
        response_format={"type": "json_object"},
        extra_body={"vendor_flag": True},
    )
    sent = ScriptedUpstream.received[-1]
    assert sent["model"] == "vendor-model"
    assert sent["tools"] == [TOOL] and sent["response_format"] == {"type": "json_object"}
    assert sent["vendor_flag"] is True
    assert sent["_authorization"] == "Bearer sk-vendor" and sent["_extra_header"] == "arena"
    assert reply.model == "vendor"
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].message.tool_calls[0].function.name == "get_time"
    assert reply.usage.total_tokens == 14


def test_streamed_tool_call_fragments_reach_the_client(client):
    chunks = list(
        client.chat.completions.create(
            model="vendor",
            messages=ask("what time is it"),
            tools=[TOOL],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    fragments = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert fragments[0].function.name == "get_time"
    assert "".join(f.function.arguments or "" for f in fragments) == "{}"
    assert chunks[-1].usage.completion_tokens == 3
    assert ScriptedUpstream.received[-1]["stream_options"] == {"include_usage": True}


def test_upstream_errors_are_mapped(client, gateway):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="vendor", messages=ask("fail-400"))
    assert info.value.body["code"] == "invalid_tools" and info.value.body["param"] == "tools"

    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="vendor", messages=ask("fail-429"))
    assert info.value.response.headers["retry-after"] == "7"

    response = httpx.post(
        gateway.url + "/v1/chat/completions", json={"model": "vendor", "messages": ask("fail-500")}
    )
    assert response.status_code == 502
    assert "boom" in response.json()["error"]["message"]


def test_invalid_upstream_bodies_become_clear_errors(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="vendor", messages=ask("bad-json"))
    assert info.value.status_code == 502
    assert info.value.body["code"] == "bad_upstream_response"
    assert "127.0.0.1" not in info.value.body["message"]  # no upstream address leaks
    with pytest.raises(openai.APIStatusError) as info:
        list(
            client.chat.completions.create(model="vendor", messages=ask("bad-stream"), stream=True)
        )
    assert info.value.status_code == 502
    stream = client.chat.completions.create(
        model="vendor", messages=ask("bad-stream-later"), stream=True
    )
    with pytest.raises(openai.APIError) as info:  # after the first text: in-band error
        for _ in stream:
            pass
    assert "invalid response" in str(info.value)


def test_tools_refused_for_an_upstream_configured_without_them(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="no-tools", messages=ask("hi"), tools=[TOOL])
    assert info.value.body["param"] == "tools"
    assert ScriptedUpstream.received == []


def test_models_list_shows_upstream_metadata(client):
    card = client.models.retrieve("vendor")
    assert card.owned_by == "Vendor Inc"


def test_upstream_error_text_reaches_clients_without_addresses_or_secrets(client, gateway):
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "vendor", "messages": ask("fail-secret")},
    )
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert "connect failed" in message  # the upstream's own words stay
    for secret in ("secret-host", "sk-SECRET123", "10.1.2.3", "8000"):
        assert secret not in message, message
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="vendor", messages=ask("fail-400-secret"))
    assert "abc123def" not in info.value.body["message"]
    assert "sk-live-XYZ987654" not in info.value.body["message"]
    log = gateway.log.read_text()
    assert "sk-SECRET123" in log and "secret-host" in log  # the operator sees it all


def test_a_stream_cut_off_without_a_finish_reason_is_an_error(client, gateway):
    body = {"model": "vendor", "messages": ask("cut-off"), "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200  # the text had started
        text = response.read().decode()
    assert "Half an" in text
    assert "upstream_incomplete" in text and "[DONE]" not in text
    # An upstream that ends with [DONE] did finish: the open choice is closed as "stop".
    chunks = list(
        client.chat.completions.create(
            model="vendor", messages=ask("cut-off-then-done"), stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert httpx.get(gateway.url + "/health").json()["status"] == "ok"


def test_requests_an_upstream_cannot_take_never_take_it_out_of_service(gateway):
    """Each of these once marked the backend down for everyone (a 502, then 503s)."""
    url = gateway.url + "/v1/chat/completions"
    base = {"model": "vendor", "messages": ask("what time is it")}
    deep = "[" * 300 + "]" * 300
    bodies = [
        '{"model": "vendor", "messages": [{"role": "user", "content": "hi\\ud800"}]}',
        '{"model": "vendor", "messages": [{"role": "user", "content": "hi"}], "x": ' + deep + "}",
        '{"model": "vendor", "messages": [{"role": "user", "content": "hi"}], '
        '"seed": 18446744073709551616}',
        '{"model": "vendor", "messages": [{"role": "user", "content": "hi"}], '
        '"max_tokens": 9223372036854775808}',
    ]
    for body in bodies:
        response = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (body[:80], response.text)
    # An integer beyond 64 bits in a field only the upstream reads is forwarded as a number.
    huge = httpx.post(
        url,
        content=(
            '{"model": "vendor", "messages": [{"role": "user", '
            '"content": "what time is it"}], "vendor_seed": '
            "184467440737095516160}"
        ),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 200, huge.text
    assert ScriptedUpstream.received[-1]["vendor_seed"] == 1.8446744073709552e20
    assert httpx.get(gateway.url + "/health").json()["status"] == "ok"
    assert httpx.post(url, json=base).status_code == 200
