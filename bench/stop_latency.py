"""Benchmark: how soon a generation stops after its client leaves, against one decode step.

Starts `modelarena serve` with two copies of the bundled SmolLM2 configuration (the arena
on, greedy, so its battles write long answers) and measures, from the moment the client
closes its connection to the moment /metrics shows the generation stopped
(`modelarena_engine_stopped_total` up, the queue depth down):

1. a /v1 chat stream alone (`ignore_eos`, 3000 tokens asked);
2. one of 8 concurrent /v1 streams (the 7 others go on);
3. a blind battle left mid-answer (both sides stopped).

Each figure includes one /metrics round trip (polled back to back). For comparison it
prints the decode step time seen by the clients (the gap between two chunks of one
stream, alone and with 8 streams). Every figure comes from this one run.

    .venv/bin/python bench/stop_latency.py [--rounds 10]

Target (issue): the slot is freed within a decode step of the client leaving.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from processes import free_port, wait_ready

from modelarena.config import load_default_models

SMOLLM2 = next(m for m in load_default_models() if m.name == "smollm2-135m-instruct")
STORY = "Write a very long story about a dragon, at least 2000 words."


def config() -> dict:
    base = SMOLLM2.model_dump(exclude_defaults=True)
    return {
        "include_default_models": False,
        "models": [{**base, "name": "smol-a"}, {**base, "name": "smol-b"}],
        "arena": {"temperature": 0.0, "max_tokens": 2000, "visitor_rpm": 0, "ip_rpm": 0},
    }


class Stream:
    """A streamed request on a raw socket: read its chunks, then leave at a known time."""

    def __init__(self, port: int, path: str, body: dict, headers: str = "") -> None:
        data = json.dumps(body).encode()
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{headers}Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        self.tail = b""  # the last bytes read, so that a marker split across reads counts

    def events(self, count: int) -> list[float]:
        """Wait for at least `count` more server-sent events; the time each read ended."""
        times: list[float] = []
        while len(times) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("the stream ended early")
            seen = (self.tail + chunk).count(b"data: ") - self.tail.count(b"data: ")
            self.tail = (self.tail + chunk)[-5:]
            times += [time.perf_counter()] * seen
        return times

    def leave(self) -> float:
        self.sock.close()
        return time.perf_counter()


def scrape(url: str) -> tuple[float, float]:
    """(queue depth, stopped generations) from /metrics."""
    values = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        values[name] = value
    return (
        float(values["modelarena_engine_queue_depth"]),
        float(values["modelarena_engine_stopped_total"]),
    )


def until(url: str, depth: float, stopped: float) -> float:
    while True:
        now_depth, now_stopped = scrape(url)
        if now_depth == depth and now_stopped >= stopped:
            return time.perf_counter()
        time.sleep(0.0005)


def wait_idle(url: str) -> float:
    while (state := scrape(url))[0] != 0:
        time.sleep(0.05)
    return state[1]


def chat(model: str) -> dict:
    messages = [{"role": "user", "content": STORY}]
    return {"model": model, "messages": messages, "max_tokens": 3000, "ignore_eos": True,
            "stream": True}  # fmt: skip


def step(times: list[float]) -> float:
    """The mean gap between the events of one stream: one decode step each."""
    return (times[-1] - times[0]) / (len(times) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        path = Path(home) / "config.yaml"
        path.write_text(yaml.safe_dump(config()))
        env = {**os.environ, "MODELARENA_DATA_DIR": str(Path(home) / "data")}
        process = subprocess.Popen(
            [sys.executable, "-m", "modelarena.cli", "serve", "--port", str(port),
             "--config", str(path)],
            env=env,
        )  # fmt: skip
        try:
            wait_ready(url + "/health", process, timeout=120)
            alone, alone_steps, eight, eight_steps, battle = [], [], [], [], []
            for _ in range(args.rounds):
                before = wait_idle(url)
                stream = Stream(port, "/v1/chat/completions", chat("smol-a"))
                alone_steps.append(step(stream.events(12)))
                left = stream.leave()
                alone.append(until(url, 0, before + 1) - left)

                before = wait_idle(url)
                streams = [Stream(port, "/v1/chat/completions", chat("smol-a")) for _ in range(8)]
                for s in streams:
                    s.events(2)
                eight_steps.append(step(streams[1].events(12)))
                left = streams[0].leave()
                eight.append(until(url, 7, before + 1) - left)
                for s in streams[1:]:
                    s.leave()

                before = wait_idle(url)
                visitor = httpx.Client(base_url=url, headers={"Origin": url})
                visitor.post("/api/terms")
                battle_id = visitor.post("/api/conversations", json={}).json()["id"]
                cookie = f"Cookie: ma_visitor={visitor.cookies['ma_visitor']}\r\n"
                turn = Stream(
                    port, f"/api/conversations/{battle_id}/messages", {"prompt": STORY}, cookie
                )
                turn.events(4)
                left = turn.leave()
                battle.append(until(url, 0, before + 2) - left)
                visitor.close()
            scrapes = []
            for _ in range(50):
                began = time.perf_counter()
                scrape(url)
                scrapes.append(time.perf_counter() - began)
        finally:
            process.terminate()
            process.wait()

    def ms(values: list[float]) -> str:
        return f"p50 {statistics.median(values) * 1000:6.1f} ms, max {max(values) * 1000:6.1f} ms"

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.rounds} rounds")
    print(f"/metrics round trip:     {ms(scrapes)}")
    print(f"decode step, 1 stream:   {ms(alone_steps)}")
    print(f"decode step, 8 streams:  {ms(eight_steps)}")
    print(f"stopped, /v1 alone:      {ms(alone)}")
    print(f"stopped, 1 of 8 on /v1:  {ms(eight)}")
    print(f"stopped, battle (2):     {ms(battle)}")


if __name__ == "__main__":
    main()
