"""Benchmark: what the gateway adds in front of an upstream, streaming and not.

A synthetic, instant OpenAI-compatible backend (a real HTTP server in a subprocess that
answers every chat request at once with a fixed reply, named "synthetic" because it is
not a model) is measured directly and through `modelarena serve` in one run: latency
p50/p99 of sequential requests, and requests/s at a fixed concurrency.

    .venv/bin/python bench/gateway.py [--requests 400] [--seconds 8] [--concurrency 16]

Targets (issue 2): added p50 latency <= 3 ms; through-gateway throughput >= 60% of direct.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import yaml
from processes import free_port, synthetic_backend, wait_ready

CHUNKS = 16  # streamed replies carry this many content chunks


# -- the synthetic backend (runs in its own process) --------------------------------------


def _reply() -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-synthetic",
            "object": "chat.completion",
            "created": 0,
            "model": "synthetic",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok " * CHUNKS},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 8, "completion_tokens": CHUNKS, "total_tokens": 8 + CHUNKS},
        }
    )


def _stream() -> bytes:
    def chunk(delta: dict, finish=None, usage=None, choices=True) -> bytes:
        body = {
            "id": "chatcmpl-synthetic",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "synthetic",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
        }
        if usage:
            body["usage"] = usage
        return b"data: " + orjson.dumps(body) + b"\n\n"

    parts = [chunk({"role": "assistant", "content": "ok "})]
    parts += [chunk({"content": "ok "}) for _ in range(CHUNKS - 1)]
    parts.append(chunk({}, "stop"))
    parts.append(
        chunk(
            {},
            usage={"prompt_tokens": 8, "completion_tokens": CHUNKS, "total_tokens": 8 + CHUNKS},
            choices=False,
        )
    )
    return b"".join(parts) + b"data: [DONE]\n\n"


REPLY, STREAM = _reply(), _stream()
MODELS = orjson.dumps({"object": "list", "data": [{"id": "synthetic", "object": "model"}]})


async def synthetic_app(scope, receive, send):
    """A bare ASGI app: no framework, so the backend costs as little as possible."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"].endswith("/models"):
        payload, kind = MODELS, b"application/json"
    elif b'"stream":true' in body.replace(b" ", b""):
        payload, kind = STREAM, b"text/event-stream"
    else:
        payload, kind = REPLY, b"application/json"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
    await send({"type": "http.response.body", "body": payload})


# -- the measurement --------------------------------------------------------------------


def body(stream: bool) -> bytes:
    return orjson.dumps(
        {"model": "synthetic", "stream": stream, "messages": [{"role": "user", "content": "ping"}]}
    )


async def call(client: httpx.AsyncClient, stream: bool) -> None:
    if not stream:
        response = await client.post(
            "/v1/chat/completions",
            content=body(False),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200, response.text
        return
    async with client.stream(
        "POST",
        "/v1/chat/completions",
        content=body(True),
        headers={"content-type": "application/json"},
    ) as response:
        assert response.status_code == 200
        async for _ in response.aiter_raw():
            pass


async def latencies(url: str, stream: bool, count: int) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(20):
            await call(client, stream)
        out = []
        for _ in range(count):
            started = time.perf_counter()
            await call(client, stream)
            out.append(time.perf_counter() - started)
        return out


async def throughput(url: str, stream: bool, concurrency: int, seconds: float) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await call(client, stream)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=8.0, help="per side and mode")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=8, help="alternating windows")
    args = parser.parse_args()
    backend_port, gateway_port = free_port(), free_port()
    backend_url = f"http://127.0.0.1:{backend_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "include_default_models": False,
                    "models": [
                        {"name": "synthetic", "engine": "openai", "base_url": backend_url + "/v1"}
                    ],
                }
            )
        )
        backend = synthetic_backend(backend_port)
        gateway = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelarena.cli",
                "serve",
                "--port",
                str(gateway_port),
                "--config",
                str(config),
            ],
            env={**os.environ, "MODELARENA_DATA_DIR": str(Path(home) / "data")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(backend_url + "/v1/models", backend)
            wait_ready(gateway_url + "/health", gateway)
            rows = []
            targets = (("direct", backend_url), ("gateway", gateway_url))
            for stream in (False, True):
                lat = {
                    name: asyncio.run(latencies(url, stream, args.requests))
                    for name, url in targets
                }
                # Short alternating windows, so that the machine's slow drifts in
                # background load hit both sides alike.
                rps = {"direct": [], "gateway": []}
                for _ in range(args.rounds):
                    for name, url in targets:
                        rps[name].append(
                            asyncio.run(
                                throughput(
                                    url, stream, args.concurrency, args.seconds / args.rounds
                                )
                            )
                        )
                rps = {name: statistics.mean(values) for name, values in rps.items()}
                rows.append((stream, lat, rps))
        finally:
            for process in (gateway, backend):
                process.terminate()
                process.wait()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; synthetic backend, "
        f"{args.requests} sequential requests, then {args.concurrency} concurrent in "
        f"{args.rounds} alternating windows of {args.seconds / args.rounds:.1f} s per side"
    )
    print(
        f"{'mode':<10} {'direct p50':>10} {'gw p50':>8} {'added p50':>10} {'added p99':>10} "
        f"{'direct r/s':>10} {'gw r/s':>8} {'gw/direct':>9}"
    )
    for stream, lat, rps in rows:
        d50, g50 = statistics.median(lat["direct"]), statistics.median(lat["gateway"])
        d99, g99 = percentile(lat["direct"], 0.99), percentile(lat["gateway"], 0.99)
        print(
            f"{'stream' if stream else 'json':<10} {d50 * 1e3:>8.2f}ms {g50 * 1e3:>6.2f}ms "
            f"{(g50 - d50) * 1e3:>8.2f}ms {(g99 - d99) * 1e3:>8.2f}ms "
            f"{rps['direct']:>10.0f} {rps['gateway']:>8.0f} "
            f"{rps['gateway'] / rps['direct']:>8.0%}"
        )
    print("targets: added p50 <= 3 ms; gateway throughput >= 60% of direct")


if __name__ == "__main__":
    main()
