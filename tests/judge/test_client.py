"""The chat client against a real HTTP server: retries with backoff on transient errors,
none on client errors, a run stops on errors every request would meet, and the
concurrency limit holds."""

from __future__ import annotations

import asyncio

import pytest

from modelarena.judge.client import CallError, ChatClient, FatalCallError, api_key_from_env

MESSAGES = [{"role": "user", "content": "hi"}]


def _failing_first(count: int, status: int, reply: str = "done"):
    calls = {"n": 0}

    def script(body):
        calls["n"] += 1
        return (status, f"scripted failure {calls['n']}") if calls["n"] <= count else reply

    return script


async def _chat(url: str, **options) -> str:
    client = ChatClient(url, concurrency=options.pop("concurrency", 2), backoff_s=0.01, **options)
    try:
        return await client.chat("judge", MESSAGES, temperature=0.0, max_tokens=8)
    finally:
        await client.close()


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_errors_are_retried(scripted_judge, status):
    judge = scripted_judge(_failing_first(2, status))
    assert asyncio.run(_chat(judge.url, retries=3)) == "done"
    assert len(judge.requests) == 3


def test_retries_give_up_with_the_servers_message(scripted_judge):
    judge = scripted_judge(_failing_first(10, 500))
    with pytest.raises(CallError, match=r"500: scripted failure 3 \(gave up after 3 attempts\)"):
        asyncio.run(_chat(judge.url, retries=2))
    assert len(judge.requests) == 3


def test_client_errors_are_not_retried(scripted_judge):
    judge = scripted_judge(_failing_first(10, 400))
    with pytest.raises(CallError, match="400: scripted failure 1") as caught:
        asyncio.run(_chat(judge.url, retries=3))
    assert not isinstance(caught.value, FatalCallError)
    assert len(judge.requests) == 1


@pytest.mark.parametrize("status", [401, 404])
def test_errors_every_request_meets_stop_the_run(scripted_judge, status):
    judge = scripted_judge(_failing_first(10, status))
    with pytest.raises(FatalCallError):
        asyncio.run(_chat(judge.url, retries=3))
    assert len(judge.requests) == 1


def test_unreachable_endpoint_fails_after_retries(free_port):
    with pytest.raises(CallError, match="gave up after 2 attempts"):
        asyncio.run(_chat(f"http://127.0.0.1:{free_port()}/v1", retries=1))


def test_timeouts_are_retried(scripted_judge):
    judge = scripted_judge(lambda body: "late")
    judge.delay_s = 2.0
    with pytest.raises(CallError, match="gave up after 2 attempts"):
        asyncio.run(_chat(judge.url, retries=1, timeout_s=0.2))
    assert len(judge.requests) == 2


def test_compressed_replies_are_decoded(scripted_judge):
    judge = scripted_judge(lambda body: "squeezed " * 200)
    judge.compress = True
    assert asyncio.run(_chat(judge.url)) == "squeezed " * 200


def test_concurrency_limit_holds(scripted_judge):
    judge = scripted_judge(lambda body: "ok")
    judge.delay_s = 0.05

    async def many() -> list[str]:
        client = ChatClient(judge.url, concurrency=3, backoff_s=0.01)
        try:
            return await asyncio.gather(*(client.chat("judge", MESSAGES) for _ in range(12)))
        finally:
            await client.close()

    assert asyncio.run(many()) == ["ok"] * 12
    assert 1 < judge.max_in_flight <= 3


def test_api_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-test")
    assert api_key_from_env("JUDGE_TEST_KEY") == "sk-test"
    assert api_key_from_env(None) == "unused"
    monkeypatch.delenv("JUDGE_TEST_KEY")
    with pytest.raises(ValueError, match="JUDGE_TEST_KEY"):
        api_key_from_env("JUDGE_TEST_KEY")


def test_endpoint_must_be_a_url():
    with pytest.raises(ValueError, match="must be an http:// or https:// URL"):
        ChatClient("127.0.0.1:8000/v1")
