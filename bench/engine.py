"""Benchmark: the in-process llama.cpp engine through the HTTP API, with SmolLM2-135M.

Starts `modelarena serve` with only SmolLM2 loaded, then streams 128-token answers at
concurrency 1, 4 and 8 and reports aggregate tokens/s, the speed-up over one stream,
time to first token at concurrency 1, and the server's peak RSS. Every figure comes from
this one run on this machine.

    .venv/bin/python bench/engine.py [--rounds 5] [--tokens 128] [--threads N]

Targets (issue 2, 2-core machine): one stream >= 75 tok/s; 8 streams >= 1.8x one stream;
TTFT p50 <= 100 ms at concurrency 1.
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
from processes import free_port

from modelarena.config import load_default_models

PROMPT = "Write a long story about a cat who learns to sail."
# The bundled SmolLM2 exactly as users get it (its sampling defaults included: top-k 40
# keeps sampling from softmaxing the whole 49k vocabulary every token), alone on the box.
SMOLLM2 = next(m for m in load_default_models() if m.name == "smollm2-135m-instruct")
CONFIG = {
    "include_default_models": False,
    "models": [{**SMOLLM2.model_dump(exclude_defaults=True), "name": "smollm2"}],
}


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = home / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    env = {**os.environ, "MODELARENA_DATA_DIR": str(home / "data")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelarena.cli",
            "serve",
            "--port",
            str(port),
            "--config",
            str(config),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


async def one_stream(client: httpx.AsyncClient, tokens: int, seed: int) -> tuple[int, float]:
    """Stream one answer; returns (completion tokens, seconds to first text)."""
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.8,
        "seed": seed,
        "ignore_eos": True,
    }
    started = time.perf_counter()
    first = None
    count = 0
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = orjson.loads(line[6:])
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - started
            if chunk.get("usage"):
                count = chunk["usage"]["completion_tokens"]
    return count, first or 0.0


async def level(url: str, concurrency: int, tokens: int, seed: int) -> float:
    """Aggregate tokens/s of `concurrency` simultaneous streams."""
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(one_stream(client, tokens, seed + i) for i in range(concurrency))
        )
        return sum(count for count, _ in results) / (time.perf_counter() - started)


async def ttft_at_one(url: str, samples: int) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        return [(await one_stream(client, 8, i))[1] for i in range(samples)]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    args = parser.parse_args()
    if args.threads:
        CONFIG["models"][0]["threads"] = args.threads
    with tempfile.TemporaryDirectory() as home:
        process, url = start_server(Path(home))
        try:
            asyncio.run(level(url, 2, 16, 0))  # warm-up
            # Levels alternate within each round, so the machine's slow drifts in
            # background load hit every level alike; each ratio is taken within a round.
            rates: dict[int, list[float]] = {1: [], 4: [], 8: []}
            for r in range(args.rounds):
                for c in rates:
                    rates[c].append(asyncio.run(level(url, c, args.tokens, 100 * r)))
            ttfts = asyncio.run(ttft_at_one(url, 20))
            rss = peak_rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait()
    single = statistics.median(rates[1])
    speedups = {
        c: statistics.median(a / b for a, b in zip(values, rates[1], strict=True))
        for c, values in rates.items()
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.rounds} rounds, "
        f"{args.tokens}-token answers; medians over rounds"
    )
    print(f"{'concurrency':>11} {'agg tok/s':>10} {'vs 1 stream':>12} {'per stream':>11}")
    for c, values in rates.items():
        rate = statistics.median(values)
        print(f"{c:>11} {rate:>10.1f} {speedups[c]:>11.2f}x {rate / c:>11.1f}")
    p50 = statistics.median(ttfts) * 1000
    p90 = statistics.quantiles(ttfts, n=10)[-1] * 1000
    print(f"TTFT at concurrency 1: p50 {p50:.0f} ms, p90 {p90:.0f} ms (20 requests)")
    print(f"server peak RSS: {rss:.0f} MiB")
    print(
        f"targets: single >= 75 tok/s -> {single / 75:.2f}x of target; "
        f"8 streams >= 1.8x -> {speedups[8]:.2f}x; TTFT p50 <= 100 ms -> {p50:.0f} ms"
    )


if __name__ == "__main__":
    main()
