"""Benchmark: what an abusive client costs everyone else.

Starts `modelarena serve` on its defaults (both bundled models), measures each model's
latency for a short greedy answer and /health's latency, then runs the abuse of the
hardening test (bad unicode, 10 MB and 7 MB bodies, deep JSON, oversized embeddings,
clients leaving mid-stream, 30 concurrent streams) while a prober asks /health every
50 ms, and measures the models again afterwards. Every figure comes from this one run.

    .venv/bin/python bench/abuse.py [--rounds 5]

Targets (issue 10): no model marked down (every /health probe "ok"); after the run both
models answer within their normal latency (after/before near 1); /health keeps answering
during the run (the event loop is never blocked for seconds, as a 10 MB prompt once did).
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
from processes import free_port, wait_ready

MODELS = ("smollm2-135m-instruct", "gemma-3-270m")
SENTENCE = "The river runs past the old mill and under the stone bridge. "
DEEP = ', "x": ' + "[" * 300 + "]" * 300


def chat(model: str, content: str, **fields) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}


def raw_chat(model: str, content: str, extra: str = "") -> str:
    return (
        '{"model": "'
        + model
        + '", "messages": [{"role": "user", "content": '
        + content
        + "}]"
        + extra
        + "}"
    )


async def answer_latency(client: httpx.AsyncClient, model: str, rounds: int) -> float:
    """Median seconds for a greedy 16-token answer."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.post(
            "/v1/chat/completions",
            json=chat(model, "Name three rivers.", max_tokens=16, temperature=0, ignore_eos=True),
        )
        response.raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def probe_health(client: httpx.AsyncClient, stop: asyncio.Event) -> tuple[list[float], int]:
    """/health latencies every 50 ms until `stop`; and how many probes were not "ok"."""
    latencies, degraded = [], 0
    while not stop.is_set():
        started = time.perf_counter()
        body = (await client.get("/health")).json()
        latencies.append(time.perf_counter() - started)
        degraded += body["status"] != "ok"
        await asyncio.sleep(0.05)
    return latencies, degraded


async def abuse(client: httpx.AsyncClient) -> dict[int, int]:
    async def send(body: str | dict, path: str = "/v1/chat/completions") -> int:
        if isinstance(body, dict):
            return (await client.post(path, json=body)).status_code
        return (
            await client.post(path, content=body, headers={"content-type": "application/json"})
        ).status_code

    async def leave_mid_stream(model: str) -> int:
        body = chat(model, "Write a long essay.", max_tokens=400, stream=True)
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for _ in response.aiter_lines():
                break
        return 499

    async def stream(model: str) -> int:
        body = chat(model, "Tell me about rivers.", max_tokens=16, stream=True)
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            await response.aread()
        return response.status_code

    work = []
    for model in MODELS:
        work += [
            send(raw_chat(model, '"hi"', DEEP)),
            send(raw_chat(model, '"\\ud800"')),
            send(chat(model, "word " * 2_000_000)),
            send(chat(model, "word " * 1_400_000)),
            send({"model": model, "input": [SENTENCE * 100] * 10}, "/v1/embeddings"),
            *(leave_mid_stream(model) for _ in range(3)),
        ]
    work += [stream(MODELS[i % 2]) for i in range(30)]
    counts: dict[int, int] = {}
    for status in await asyncio.gather(*work):
        counts[status] = counts.get(status, 0) + 1
    return counts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, rounds: int) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        before = {m: await answer_latency(client, m, rounds) for m in MODELS}
        stop = asyncio.Event()
        quiet = asyncio.create_task(probe_health(client, stop))
        await asyncio.sleep(2)
        stop.set()
        quiet_health, _ = await quiet
        stop = asyncio.Event()
        prober = asyncio.create_task(probe_health(client, stop))
        started = time.perf_counter()
        statuses = await abuse(client)
        abuse_s = time.perf_counter() - started
        stop.set()
        busy_health, degraded = await prober
        after = {m: await answer_latency(client, m, rounds) for m in MODELS}
        health = (await client.get("/health")).json()
    return {
        "before": before,
        "after": after,
        "statuses": statuses,
        "abuse_s": abuse_s,
        "quiet_health": quiet_health,
        "busy_health": busy_health,
        "degraded": degraded,
        "health": health,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="answers timed per model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        env = {**os.environ, "MODELARENA_DATA_DIR": str(Path(home) / "data")}
        server = subprocess.Popen(
            [sys.executable, "-m", "modelarena.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url + "/health", server, timeout=180)
            result = asyncio.run(measure(url, args.rounds))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"# abuse run, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores")
    print(f"abuse run: {result['abuse_s']:.1f} s; answers by status: {result['statuses']}")
    for model in MODELS:
        before, after = result["before"][model], result["after"][model]
        print(
            f"{model}: 16-token answer {before * 1000:.0f} ms before, {after * 1000:.0f} ms "
            f"after (after/before {after / before:.2f})"
        )
    quiet, busy = result["quiet_health"], result["busy_health"]
    print(
        f"/health p50 {statistics.median(quiet) * 1000:.1f} ms quiet, "
        f"{statistics.median(busy) * 1000:.1f} ms during the run; p99 during/quiet "
        f"{percentile(busy, 0.99) / percentile(quiet, 0.99):.1f}x; longest wait "
        f"{max(busy) * 1000:.0f} ms over {len(busy)} probes"
    )
    print(
        f"probes not ok during the run: {result['degraded']}; afterwards: "
        f"{result['health']['status']}"
    )


if __name__ == "__main__":
    main()
