"""A scripted OpenAI-compatible HTTP server for arena tests. It stands in for external
model providers (not our components) whose behaviour a test must control: a model that
fails, one that names itself, one whose answer carries script, and a vision model that
describes the image it received, one that streams slowly (so a test can act while an
answer is still arriving), one whose answer holds a NUL character, one whose stream
stops halfway without a finish reason, and one whose answer is longer than a screen.
Every chat request it gets is recorded."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS = {
    "plain": "A plain answer with **bold** text and a list:\n\n- one\n- two\n",
    "other": "Another answer, in `code`.",
    "leaky": "Hello! I am LeakyLM, made by Acme Research.",
    "xss": (
        '<script>window.pwned = 1</script>\n\n<img src=x onerror="window.pwned = 2">\n\n'
        "[click me](javascript:window.pwned=3)\n\n```html\n<script>window.pwned = 4</script>\n```"
    ),
    "slow": "Slowly, two words at a time, this answer arrives over a few seconds.",
    "nul": "Text a database may refuse:\x00 a NUL character.",
    "cutoff": "An answer the provider stops sending halfway",
    "long": "\n\n".join(
        [
            f"Step {n}: a river carves its valley a grain at a time, and after enough "
            "springs of melting snow the valley is deep enough to hold a town, a railway "
            "and the road between them."
            for n in range(1, 15)
        ]
        + ["The sum, in Python:\n\n```python\ndef total(values):\n    return sum(values)\n```"]
    ),
}
SLOW_PAUSE_S = 0.4  # between two pieces of the slow model's answer


class ScriptedModels(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._json(
            200,
            {
                "object": "list",
                "data": [{"id": m, "object": "model"} for m in [*ANSWERS, "broken", "vision"]],
            },
        )

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        model = body["model"]
        if model == "broken":
            self._json(
                500,
                {"error": {"message": "scripted failure of model broken", "type": "server_error"}},
            )
            return
        text = ANSWERS.get(model) or _describe_image(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if model == "slow":
            words = text.split(" ")
            pieces = [" ".join(words[i : i + 2]) + " " for i in range(0, len(words), 2)]
        else:
            pieces = [text[: len(text) // 2], text[len(text) // 2 :]]
        for piece in pieces:
            chunk = {
                "id": "x",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            if model == "slow":
                time.sleep(SLOW_PAUSE_S)
            if model == "cutoff":
                self.close_connection = True
                return
        last = {
            "id": "x",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
        self.wfile.write(b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n")


def _describe_image(body: dict) -> str:
    for message in body["messages"]:
        if isinstance(message["content"], list):
            for part in message["content"]:
                if part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    header, data = url.split(",", 1)
                    return f"I see a {header} image of {len(base64.b64decode(data))} bytes."
    return "I see no image."


def start() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedModels)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def model(name: str, base_url: str, upstream: str, **metadata) -> dict:
    """A config entry for one scripted model."""
    return {
        "name": name,
        "engine": "openai",
        "base_url": base_url,
        "upstream_model": upstream,
        **metadata,
    }
