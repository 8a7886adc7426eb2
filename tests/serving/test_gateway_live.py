"""The real server on its embedded defaults, driven with the official `openai` SDK."""

from __future__ import annotations

import asyncio
import base64
import struct
import time

import httpx
import openai
import pytest

pytestmark = pytest.mark.live

SMOL = "smollm2-135m-instruct"
GEMMA = "gemma-3-270m"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(default_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=default_server.url + "/v1", api_key="unused", max_retries=0)


def test_models_are_listed_with_metadata(client):
    models = {m.id: m for m in client.models.list().data}
    assert set(models) == {SMOL, GEMMA}
    smol = models[SMOL].model_dump()
    assert smol["owned_by"] == "Hugging Face"
    assert smol["metadata"]["license"] == "apache-2.0"
    assert smol["metadata"]["context_length"] == 4096
    assert smol["metadata"]["vision"] is False
    assert client.models.retrieve(GEMMA).id == GEMMA


@pytest.mark.parametrize("model", [SMOL, GEMMA])
def test_chat_answers_with_usage(client, model):
    reply = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=24)
    choice = reply.choices[0]
    assert reply.model == model and reply.object == "chat.completion"
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in {"stop", "length"}
    assert reply.usage.prompt_tokens > 5
    assert 0 < reply.usage.completion_tokens <= 24
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_greedy_smollm2_knows_the_capital_of_france(client):
    reply = client.chat.completions.create(
        model=SMOL, messages=QUESTION, max_tokens=20, temperature=0
    )
    assert "Paris" in reply.choices[0].message.content


def test_stream_sends_deltas_then_usage(client):
    stream = client.chat.completions.create(
        model=SMOL,
        messages=QUESTION,
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) >= 2  # text arrives token by token
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finals and finals[-1] in {"stop", "length"}
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens >= len(content)
    text = "".join(c.choices[0].delta.content for c in content)
    assert text.strip()


def test_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(
        client.chat.completions.create(model=GEMMA, messages=QUESTION, max_tokens=8, stream=True)
    )
    assert all(c.choices for c in chunks)
    assert all(getattr(c, "usage", None) is None for c in chunks)


def test_n_two_gives_two_choices(client):
    reply = client.chat.completions.create(
        model=SMOL, messages=QUESTION, max_tokens=12, n=2, seed=7
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.message.content for c in reply.choices)
    streamed = list(
        client.chat.completions.create(
            model=SMOL, messages=QUESTION, max_tokens=6, n=2, stream=True
        )
    )
    assert {c.choices[0].index for c in streamed if c.choices} == {0, 1}


def test_stop_sequence_ends_the_answer_without_sending_it(client):
    kwargs = dict(
        model=SMOL,
        messages=[{"role": "user", "content": "Describe a forest."}],
        max_tokens=40,
        temperature=0,
    )
    full = client.chat.completions.create(**kwargs).choices[0].message.content
    words = full.split()
    assert len(words) > 6
    stop = " " + words[5]  # greedy decoding repeats itself, so this text will come again
    cut = full[: full.index(stop)]
    reply = client.chat.completions.create(**kwargs, stop=[stop, "never-appears"])
    assert reply.choices[0].message.content == cut
    assert reply.choices[0].finish_reason == "stop"
    streamed = client.chat.completions.create(**kwargs, stop=stop, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == cut


def test_same_seed_same_answer(client):
    kwargs = dict(
        model=SMOL,
        messages=[{"role": "user", "content": "Tell me a story."}],
        max_tokens=30,
        temperature=1.0,
        seed=1234,
    )
    first = client.chat.completions.create(**kwargs).choices[0].message.content
    second = client.chat.completions.create(**kwargs).choices[0].message.content
    third = client.chat.completions.create(**{**kwargs, "seed": 99}).choices[0].message.content
    assert first == second
    assert first != third


def test_ignore_eos_generates_exactly_max_tokens(client):
    reply = client.chat.completions.create(
        model=SMOL, messages=QUESTION, max_tokens=80, temperature=0, extra_body={"ignore_eos": True}
    )
    assert reply.usage.completion_tokens == 80
    assert reply.choices[0].finish_reason == "length"


def test_max_tokens_limit_gives_length(client):
    reply = client.chat.completions.create(
        model=SMOL,
        messages=[{"role": "user", "content": "Write a long essay on rivers."}],
        max_tokens=5,
    )
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 5


def test_text_completion(client):
    reply = client.completions.create(
        model=SMOL, prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert reply.object == "text_completion" and reply.choices[0].text
    chunks = list(
        client.completions.create(model=GEMMA, prompt="Once upon a time", max_tokens=8, stream=True)
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices)


def test_embeddings_are_normalised_vectors(client):
    result = client.embeddings.create(model=SMOL, input=["a cat", "a dog", "tax law"])
    vectors = [d.embedding for d in result.data]
    assert len(vectors) == 3 and len(vectors[0]) == 576
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-4
    assert result.usage.prompt_tokens > 0

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    encoded = client.embeddings.create(model=SMOL, input="a cat", encoding_format="base64")
    raw = base64.b64decode(encoded.data[0].embedding)
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert max(abs(a - b) for a, b in zip(decoded, vectors[0], strict=True)) < 1e-6


def test_async_clients_share_decode_steps(default_server):
    """Concurrent requests all complete correctly (they are decoded in one batch)."""

    async def scenario():
        client = openai.AsyncOpenAI(base_url=default_server.url + "/v1", api_key="x")
        replies = await asyncio.gather(
            *[
                client.chat.completions.create(
                    model=SMOL,
                    messages=[{"role": "user", "content": f"Say the number {i}."}],
                    max_tokens=12,
                    temperature=0,
                )
                for i in range(6)
            ]
        )
        await client.close()
        return replies

    replies = asyncio.run(scenario())
    assert all(r.choices[0].message.content for r in replies)


# -- errors -----------------------------------------------------------------------------


def test_unknown_model_is_404_listing_served_models(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-17", messages=QUESTION)
    error = info.value.body
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert SMOL in error["message"] and GEMMA in error["message"]


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"messages": []}, "messages"),
        ({"n": 0}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"stop": ["a"] * 20}, "stop"),
    ],
)
def test_invalid_values_are_400_naming_the_parameter(default_server, changes, param):
    body = {"model": SMOL, "messages": QUESTION, **changes}
    response = httpx.post(default_server.url + "/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert error["message"]


def test_malformed_json_is_400(default_server):
    response = httpx.post(
        default_server.url + "/v1/chat/completions",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


def test_prompt_longer_than_context_is_400_with_the_numbers(client):
    long_text = "word " * 5000
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=SMOL, messages=[{"role": "user", "content": long_text}]
        )
    error = info.value.body
    assert error["code"] == "context_length_exceeded"
    assert "4096" in error["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=SMOL, messages=QUESTION, max_tokens=4090)
    assert "4090 in the completion" in info.value.body["message"]


def test_local_engine_refuses_auto_tool_choice_clearly(client):
    # SmolLM2's chat template does not render tools (more in test_structured_output_live).
    tool = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=SMOL, messages=QUESTION, tools=[tool])
    assert info.value.body["param"] == "tool_choice"


def test_unknown_route_is_an_openai_shaped_404(default_server):
    response = httpx.get(default_server.url + "/v2/nothing")
    assert response.status_code == 404 and "error" in response.json()


def test_health_and_metrics(default_server, client):
    client.chat.completions.create(model=SMOL, messages=QUESTION, max_tokens=3)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="missing", messages=QUESTION)
    health = httpx.get(default_server.url + "/health").json()
    assert health["status"] == "ok"
    assert health["models"][SMOL] == {"backends": 1, "healthy": 1}
    text = httpx.get(default_server.url + "/metrics").text
    assert f'modelarena_requests_total{{endpoint="chat",model="{SMOL}",status="200"}}' in text
    assert f'modelarena_tokens_total{{kind="completion",model="{SMOL}"}}' in text
    assert "modelarena_time_to_first_token_seconds_bucket" in text
    assert "\nmodelarena_engine_queue_depth 0.0\n" in text  # all models together
    assert 'model="(unknown)",status="404"' in text


def queue_depth(server) -> float:
    """Sequences and embedding requests inside all the server's engines."""
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith("modelarena_engine_queue_depth "):
            return float(line.split()[-1])
    raise AssertionError("queue depth metric missing")


def wait_until_idle(server, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while queue_depth(server) > 0:
        assert time.monotonic() < deadline, "an abandoned request kept decoding"
        time.sleep(0.1)


def test_client_disconnect_stops_generation(default_server):
    """A client that goes away frees its decode slot at once (3000 tokens would take ~25 s)."""
    body = {
        "model": SMOL,
        "messages": [{"role": "user", "content": "Write a very long essay."}],
        "max_tokens": 3000,
        "ignore_eos": True,
        "stream": True,
    }
    with httpx.stream("POST", default_server.url + "/v1/chat/completions", json=body) as r:
        lines = r.iter_lines()
        assert sum(1 for _, line in zip(range(6), lines, strict=False) if line) >= 2

    wait_until_idle(default_server)


def test_client_disconnect_stops_a_non_streamed_answer(default_server):
    body = {
        "model": SMOL,
        "messages": [{"role": "user", "content": "Write a very long essay."}],
        "max_tokens": 3000,
        "ignore_eos": True,
    }
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(default_server.url + "/v1/chat/completions", json=body, timeout=1.0)
    wait_until_idle(default_server)


def test_prompt_plus_max_tokens_may_fill_the_context_exactly(default_server):
    probe = httpx.post(
        default_server.url + "/v1/chat/completions",
        json={"model": SMOL, "messages": QUESTION, "max_tokens": 1},
    ).json()
    room = 4096 - probe["usage"]["prompt_tokens"]
    body = {"model": SMOL, "messages": QUESTION, "stream": True}
    too_many = httpx.post(
        default_server.url + "/v1/chat/completions", json={**body, "max_tokens": room + 1}
    )
    assert too_many.status_code == 400
    with httpx.stream(
        "POST", default_server.url + "/v1/chat/completions", json={**body, "max_tokens": room}
    ) as exact:
        assert exact.status_code == 200  # accepted; leaving at once cancels it
    wait_until_idle(default_server)


def test_completion_context_error_names_the_prompt(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=SMOL, prompt="word " * 5000, max_tokens=5)
    assert info.value.body["param"] == "prompt" and "in the prompt" in info.value.body["message"]
