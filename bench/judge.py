"""Benchmark: 2,000 judge calls against a synthetic, instant OpenAI-compatible endpoint.

The endpoint is a real HTTP server in its own process (a bare ASGI app under uvicorn)
that answers every chat request at once with a fixed pairwise verdict; it is named
"synthetic" because it is not a model. The benchmark writes 500 two-turn questions and
the answers of two models, then times the whole `modelarena judge run --mode
pairwise-baseline` command (a child process, start to exit: 500 × 2 turns × 2 orders =
2,000 calls, each rendered, sent, parsed and stored), a re-run that finds everything done,
and `judge show` over the result.

    .venv/bin/python bench/judge.py [--questions 500] [--concurrency 64]

Target (issue 5): 2,000 judgments in under 20 s at concurrency 64 on this machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from processes import free_port, wait_ready

TARGET_S = 20.0
VERDICT = "Both replies address the request; A is more precise. [[A>B]]"
REPLY = orjson.dumps(
    {
        "id": "chatcmpl-synthetic",
        "object": "chat.completion",
        "created": 0,
        "model": "synthetic",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": VERDICT},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 400, "completion_tokens": 16, "total_tokens": 416},
    }
)


async def synthetic_judge(scope, receive, send):
    """Answers every request at once with REPLY (after reading the whole body)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": REPLY})


def write_data(root: Path, questions: int) -> Path:
    """question.jsonl and model_answer/{baseline,candidate}.jsonl with ~150-word answers."""
    words = [
        "the",
        "river",
        "carries",
        "light",
        "stone",
        "over",
        "a",
        "slow",
        "bend",
        "where",
        "old",
        "trees",
        "lean",
        "and",
        "birds",
        "rest",
        "before",
        "the",
        "evening",
        "wind",
        "returns",
    ]
    with (root / "question.jsonl").open("w") as handle:
        for index in range(questions):
            handle.write(
                json.dumps(
                    {
                        "question_id": index,
                        "category": ("writing", "math", "coding")[index % 3],
                        "turns": [
                            f"Question {index}: explain the idea in detail.",
                            "Now make it shorter and add an example.",
                        ],
                    }
                )
                + "\n"
            )
    answers = root / "model_answer"
    answers.mkdir()
    for model in ("baseline", "candidate"):
        with (answers / f"{model}.jsonl").open("w") as handle:
            for index in range(questions):
                text = " ".join(words[(index + k) % len(words)] for k in range(150))
                handle.write(
                    json.dumps(
                        {
                            "question_id": index,
                            "model_id": model,
                            "choices": [
                                {"index": 0, "turns": [f"{model}: {text}", f"{model}: {text}"]}
                            ],
                        }
                    )
                    + "\n"
                )
    return answers


def timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    calls = args.questions * 2 * 2
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    project = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            "bench",
            "judge:synthetic_judge",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--backlog",
            "4096",
        ],
        cwd=project,
    )
    try:
        wait_ready(url + "/", server)
        with tempfile.TemporaryDirectory() as home:
            answers = write_data(Path(home), args.questions)
            out = Path(home) / "judgments.jsonl"
            command = [
                sys.executable,
                "-m",
                "modelarena.cli",
                "judge",
                "run",
                "--mode",
                "pairwise-baseline",
                "--baseline",
                "baseline",
                "--judge-model",
                "synthetic",
                "--judge-endpoint",
                url + "/v1",
                "--answers",
                str(answers),
                "--concurrency",
                str(args.concurrency),
                "--out",
                str(out),
            ]
            first, output = timed(command)
            records = [json.loads(line) for line in out.read_text().splitlines()]
            assert len(records) == calls, output
            assert all(r["verdict"] == "A>B" for r in records)
            rerun, output = timed(command)
            assert "0 judgments written" in output and f"{calls} already done" in output
            startup, _ = timed([sys.executable, "-m", "modelarena.cli", "judge", "--help"])
            show, _ = timed(
                [
                    sys.executable,
                    "-m",
                    "modelarena.cli",
                    "judge",
                    "show",
                    str(out),
                    "--format",
                    "json",
                    "--bootstrap-rounds",
                    "100",
                ]
            )
            size = out.stat().st_size
    finally:
        server.terminate()
        server.wait()
    print(
        f"machine: {platform.machine()}, {platform.python_version()}, "
        f"{sys.platform}; synthetic instant endpoint at {url}"
    )
    print(
        f"judge run, {calls} calls at concurrency {args.concurrency}: {first:.2f} s "
        f"({calls / first:.0f} judgments/s; {first / TARGET_S:.0%} of the {TARGET_S:.0f} s "
        f"target) · judgment file {size / 1e6:.1f} MB"
    )
    print(
        f"  of which CLI start-up (`judge --help`): {startup:.2f} s; "
        f"judging alone ≈ {calls / (first - startup):.0f} judgments/s"
    )
    print(f"re-run, everything done: {rerun:.2f} s")
    print(f"judge show (win rates + BT with 100 bootstrap rounds): {show:.2f} s")


if __name__ == "__main__":
    main()
