"""Remote workers: real `modelarena worker` processes register with a real gateway, serve
through it (the gateway reaches them with its `openai` upstream engine over HTTP), and
are dropped when they die. With Redis, every gateway replica sees the same workers."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

pytestmark = pytest.mark.live

SECRET = "worker-secret-for-tests"
# Health checks are rare here so that a dead replica is found by a request, not a check.
EMPTY_GATEWAY = {"include_default_models": False, "worker_ttl_s": 3, "health_interval_s": 60}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def served(gateway) -> dict[str, dict]:
    return httpx.get(gateway.url + "/health").json()["models"]


def start_worker(start_server, gateway, name: str):
    args = [
        "--model",
        "smollm2-135m-instruct",
        "--name",
        name,
        "--heartbeat",
        "0.5",
        "--secret",
        SECRET,
    ]
    return start_server(command="worker", args=args + ["--gateway", gateway.url])


@pytest.fixture
def gateway(start_server):
    return start_server(EMPTY_GATEWAY, env={"MODELARENA_WORKER_SECRET": SECRET})


def test_worker_registers_serves_and_is_dropped_when_killed(start_server, gateway):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    assert client.models.list().data == []

    first = start_worker(start_server, gateway, "remote-smol")
    wait_for(lambda: "remote-smol" in served(gateway), what="registration")
    card = client.models.retrieve("remote-smol").model_dump()
    assert card["owned_by"] == "Hugging Face" and card["metadata"]["context_length"] == 4096

    reply = client.chat.completions.create(
        model="remote-smol", messages=QUESTION, max_tokens=12, temperature=0
    )
    assert reply.model == "remote-smol" and reply.choices[0].message.content
    assert reply.usage.completion_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model="remote-smol",
            messages=QUESTION,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage.completion_tokens > 0
    text = client.completions.create(model="remote-smol", prompt="Hello", max_tokens=4)
    assert text.choices[0].text
    vectors = client.embeddings.create(model="remote-smol", input=["a", "b"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 576

    # The worker's own errors reach the client with their status and code.
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="remote-smol", messages=QUESTION, max_tokens=99999)
    assert info.value.body["code"] == "context_length_exceeded"

    # Only the gateway (holding the secret) may use the worker directly.
    direct = httpx.post(
        first.url + "/v1/chat/completions", json={"model": "remote-smol", "messages": QUESTION}
    )
    assert direct.status_code == 401

    # A replica under the same name; killing one loses no request.
    second = start_worker(start_server, gateway, "remote-smol")
    wait_for(
        lambda: served(gateway).get("remote-smol", {}).get("backends") == 2, what="second replica"
    )
    first.kill()
    # Concurrent requests spread over both replicas (least outstanding first), so some
    # reach the dead one; they are retried on the live one and all succeed.
    with ThreadPoolExecutor(4) as pool:
        replies = list(
            pool.map(
                lambda _: client.chat.completions.create(
                    model="remote-smol", messages=QUESTION, max_tokens=4
                ),
                range(4),
            )
        )
    assert all(r.choices[0].message.content for r in replies)
    assert "cannot connect to the upstream for 'remote-smol'" in gateway.log.read_text()
    wait_for(
        lambda: served(gateway).get("remote-smol", {}).get("backends") == 1,
        what="dead replica dropped",
    )

    second.kill()
    wait_for(lambda: "remote-smol" not in served(gateway), what="last replica dropped")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="remote-smol", messages=QUESTION)


def test_registration_needs_the_shared_secret(start_server, gateway):
    announcement = {"id": "w1", "model": "m", "url": "http://127.0.0.1:1/v1"}
    wrong = httpx.post(
        gateway.url + "/internal/workers",
        json=announcement,
        headers={"Authorization": "Bearer nope"},
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_worker_secret"
    closed = start_server(EMPTY_GATEWAY)  # no secret configured: registration is off
    refused = httpx.post(
        closed.url + "/internal/workers",
        json=announcement,
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert refused.status_code == 403 and "MODELARENA_WORKER_SECRET" in refused.text
    bad = httpx.post(
        gateway.url + "/internal/workers",
        json={**announcement, "id": "x y"},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "id"


def test_redis_registry_is_shared_by_gateway_replicas(start_server, redis_url):
    env = {
        "MODELARENA_WORKER_SECRET": SECRET,
        "MODELARENA_REDIS_URL": redis_url,
        "MODELARENA_REDIS_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
    }
    one = start_server(EMPTY_GATEWAY, env=env)
    two = start_server(EMPTY_GATEWAY, env=env)
    worker = start_worker(start_server, one, "shared-smol")
    wait_for(lambda: "shared-smol" in served(two), what="replica two to see the worker")
    client = openai.OpenAI(base_url=two.url + "/v1", api_key="x", max_retries=0)
    reply = client.chat.completions.create(model="shared-smol", messages=QUESTION, max_tokens=4)
    assert reply.choices[0].message.content
    worker.kill()
    wait_for(lambda: "shared-smol" not in served(two), what="replica two to drop the worker")
