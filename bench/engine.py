"""Benchmark: the in-process llama.cpp engine through the HTTP API, with SmolLM2-135M.

Starts `modelarena serve` with only SmolLM2 loaded, then streams 128-token answers at
concurrency 1, 4 and 8 and reports aggregate tokens/s, the speed-up over one stream,
time to first token at concurrency 1, and the server's peak RSS. Every figure comes from
this one run on this machine.

    .venv/bin/python bench/engine.py [--rounds 5] [--tokens 128] [--threads N] [--cache-on]

`--cache-on` runs the same on a server with prefix caching on (and so flash attention
off): what caching costs a model's decoding.

With `--prefix-cache` it only measures the time to first token of turn 4 of a chat with
~1,500 tokens of history, on a server with prefix caching and on one without (issue 15's
target: >= 4x faster with the cache).

With `--json-schema` it only compares one stream constrained by a JSON schema against one
without (issue 15's target: >= 80% of the unconstrained tokens/s).

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


def start_server(home: Path, settings: dict = CONFIG) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = home / "config.yaml"
    config.write_text(yaml.safe_dump(settings))
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


async def one_stream(
    client: httpx.AsyncClient, tokens: int, seed: int, extra: dict | None = None
) -> tuple[int, float]:
    """Stream one answer (`extra`: more body fields); returns (completion tokens,
    seconds to first text)."""
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.8,
        "seed": seed,
        "ignore_eos": True,
        **(extra or {}),
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


# The story as one long JSON string: every token is checked against the grammar, and
# `minLength` keeps the string open past the answer's length, so that both streams
# generate real tokens to the end (no end-of-answer tokens after a closed object).
STORY_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "story",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "maxLength": 60},
                "story": {"type": "string", "minLength": 1000},
            },
            "required": ["title", "story"],
            "additionalProperties": False,
        },
    },
}


async def schema_round(url: str, tokens: int, seed: int) -> tuple[float, float]:
    """Tokens/s of one stream with and without a JSON schema constraint."""
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        rates = []
        for extra in (None, {"response_format": STORY_SCHEMA}):
            started = time.perf_counter()
            count, _ = await one_stream(client, tokens, seed, extra)
            rates.append(count / (time.perf_counter() - started))
        return rates[0], rates[1]


def report_schema(url: str, rounds: int, tokens: int) -> None:
    """The JSON schema mode: constrained against free decoding, alternated per round."""
    asyncio.run(schema_round(url, 16, 0))  # warm-up
    pairs = [asyncio.run(schema_round(url, tokens, 100 * r)) for r in range(rounds)]
    free = statistics.median(p[0] for p in pairs)
    constrained = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(c / f for f, c in pairs)
    print(f"{rounds} rounds, {tokens}-token answers, one stream; medians over rounds")
    print(f"unconstrained: {free:.1f} tok/s; JSON schema: {constrained:.1f} tok/s")
    print(f"target: schema >= 80% of unconstrained -> {ratio:.0%}")


def chat_history(sample: int, long_answers: bool) -> list[dict[str, str]]:
    """Two turns and turn 3's question, then turn 4's question: a pasted document and short
    answers, or short questions and long answers (~1,500 tokens once turn 3 is answered).
    Each sample's system prompt differs, so no sample finds another's tokens cached."""
    messages = [{"role": "system", "content": f"You are sailing coach number {sample}."}]
    lines, sentences = (28, 1) if long_answers else (3, 32)
    for turn in range(3):
        paste = " ".join(f"Rule {turn}.{i}: keep the bow into the wind." for i in range(sentences))
        messages.append({"role": "user", "content": f"{paste} What is step {turn + 1}?"})
        steps = (
            f"Step {turn}.{i}: the cat checks the rope and trims the sail." for i in range(lines)
        )
        messages.append({"role": "assistant", "content": " ".join(steps)})
    messages.append({"role": "user", "content": "Now sum the plan up in one line."})
    return messages[:-2] + messages[-1:]  # turn 3's answer is the model's own


async def answer(client: httpx.AsyncClient, messages: list[dict], tokens: int) -> str:
    body = {"model": "smollm2", "messages": messages, "max_tokens": tokens}
    reply = await client.post("/v1/chat/completions", json={**body, "ignore_eos": True})
    return reply.json()["choices"][0]["message"]["content"]


async def answers_prefilled(client: httpx.AsyncClient) -> float:
    """Seconds until the server has prefilled finished answers again (prefix caching does
    so while the model is idle): the pause a person reading and typing would leave."""
    started = time.perf_counter()
    line = 'modelarena_prefix_cache_tokens{state="waiting"} '
    while True:
        metrics = (await client.get("/metrics")).text.splitlines()
        if not any(m.startswith(line) and float(m.split()[-1]) for m in metrics):
            return time.perf_counter() - started
        await asyncio.sleep(0.01)


async def turn4_ttft(url: str, sample: int, long_answers: bool, pause: bool) -> tuple[float, int]:
    """Turn 3 is answered by the model, then turn 4 is timed, with or without a pause for
    the answer to be prefilled again: (seconds to its first text, its prompt tokens)."""
    messages = chat_history(sample, long_answers)
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        said = await answer(client, messages[:-1], 480 if long_answers else 32)
        messages = [*messages[:-1], {"role": "assistant", "content": said}, messages[-1]]
        if pause:
            await answers_prefilled(client)
        _, first = await one_stream(client, 8, sample, {"messages": messages})
        usage = await client.post(
            "/v1/chat/completions",
            json={"model": "smollm2", "messages": messages, "max_tokens": 1},
        )
        return first, usage.json()["usage"]["prompt_tokens"]


def report_prefix_cache(home: Path, rounds: int) -> None:
    """Turn 4's time to first token with the cache and without, alternated per sample."""

    def with_budget(tokens: int) -> dict:
        return {**CONFIG, "models": [{**CONFIG["models"][0], "prefix_cache_tokens": tokens}]}

    (home / "cached").mkdir()
    (home / "uncached").mkdir()
    # Both without flash attention (prefix caching turns it off); a budget of one token
    # keeps nothing.
    servers = [
        start_server(home / "cached", with_budget(8 * 4096)),
        start_server(home / "uncached", with_budget(1)),
    ]
    try:
        for long_answers in (False, True):
            results: dict[str, list[tuple[float, int]]] = {
                "cached": [],
                "cached, no pause": [],
                "uncached": [],
            }
            for sample in range(rounds * 4):
                for k, (name, pause, (_, url)) in enumerate(
                    zip(results, (True, False, True), (servers[0], *servers), strict=True)
                ):
                    seed = 1000 * long_answers + 3 * sample + k  # no sample finds another's
                    ttft = turn4_ttft(url, seed, long_answers, pause)
                    results[name].append(asyncio.run(ttft))
            cached, immediate, uncached = (
                statistics.median(t for t, _ in results[n]) for n in results
            )
            shape = "long answers" if long_answers else "a pasted document, short answers"
            print(f"turn 4, {results['cached'][0][1]}-token prompt ({shape}), medians:")
            print(
                f"  TTFT with prefix caching {cached:.2f} s, asked at once {immediate:.2f} s, "
                f"without {uncached:.2f} s"
            )
            print(
                f"  target >= 4x faster with the cache -> {uncached / cached:.1f}x "
                f"({uncached / immediate:.1f}x asked at once)"
            )
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait()


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
    parser.add_argument(
        "--cache-on", action="store_true", help="with prefix caching on (flash attention off)"
    )
    parser.add_argument(
        "--json-schema",
        action="store_true",
        help="only compare one stream with a JSON schema constraint against one without",
    )
    parser.add_argument(
        "--prefix-cache",
        action="store_true",
        help="only time turn 4 of a long chat with prefix caching and without",
    )
    args = parser.parse_args()
    if args.threads:
        CONFIG["models"][0]["threads"] = args.threads
    if args.cache_on:
        CONFIG["models"][0]["prefix_cache_tokens"] = 8 * 4096
    if args.prefix_cache:
        with tempfile.TemporaryDirectory() as home:
            return report_prefix_cache(Path(home), args.rounds)
    with tempfile.TemporaryDirectory() as home:
        process, url = start_server(Path(home))
        if args.json_schema:
            try:
                return report_schema(url, args.rounds, args.tokens)
            finally:
                process.terminate()
                process.wait()
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
