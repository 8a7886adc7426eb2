"""Helpers the benchmarks share for the servers they start: a free port, the synthetic
backend of bench/gateway.py in a process of its own, and waiting until a started server
answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited early")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def synthetic_backend(port: int) -> subprocess.Popen:
    """bench/gateway.py's instant OpenAI-compatible backend (not a model) on `port`."""
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", "bench", "gateway:synthetic_app",
         "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--loop", "uvloop", "--http", "httptools"],
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
