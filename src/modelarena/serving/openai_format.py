"""Builds OpenAI-shaped response bodies and stream chunks from engine results."""

from __future__ import annotations

import base64
import secrets
import struct
import time
from typing import Any

from modelarena.engines.base import Completion, Embeddings, TextDelta, TokenLogprob, Usage
from modelarena.serving.logprobs_format import chat_logprobs, completion_logprobs, text_length
from modelarena.web.responses import sse


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


SSE_DONE = b"data: [DONE]\n\n"


def usage_body(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return body


class ChunkWriter:
    """Turns a request's engine events into SSE chunks for chat or text completions."""

    def __init__(self, *, chat: bool, model: str, include_usage: bool) -> None:
        self.chat = chat
        self.id = new_id("chatcmpl" if chat else "cmpl")
        self.created = now()
        self.model = model
        self.include_usage = include_usage
        self._object = "chat.completion.chunk" if chat else "text_completion"
        self._started: set[int] = set()
        self._offsets: dict[int, int] = {}  # per choice: characters of logprob tokens so far

    def _chunk(self, choices: list[dict[str, Any]]) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "object": self._object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            body["usage"] = None
        return sse(body)

    def delta(self, event: TextDelta) -> bytes:
        out = b""
        if event.text or event.tool_calls or event.logprobs or event.index not in self._started:
            out += self._chunk(
                [self._choice(event.index, event.text, None, event.tool_calls, event.logprobs)]
            )
        if event.finish_reason:
            out += self._chunk([self._choice(event.index, "", event.finish_reason, None)])
        return out

    def _choice(
        self,
        index: int,
        text: str,
        finish: str | None,
        tool_calls,
        logprobs: list[TokenLogprob] | None = None,
    ) -> dict[str, Any]:
        if not self.chat:
            offset = self._offsets.get(index, 0)
            self._offsets[index] = offset + text_length(logprobs)
            return {
                "index": index,
                "text": text,
                "logprobs": completion_logprobs(logprobs, offset),
                "finish_reason": finish,
            }
        delta: dict[str, Any] = {}
        if index not in self._started:
            self._started.add(index)
            delta["role"] = "assistant"
        if text or not (finish or tool_calls):
            delta["content"] = text
        if tool_calls:
            delta["tool_calls"] = tool_calls
        return {
            "index": index,
            "delta": delta,
            "logprobs": chat_logprobs(logprobs),
            "finish_reason": finish,
        }

    def usage(self, usage: Usage) -> bytes:
        if not self.include_usage:
            return b""
        return sse(
            {
                "id": self.id,
                "object": self._object,
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_body(usage),
            }
        )


def completion_body(result: Completion, *, chat: bool, model: str) -> dict[str, Any]:
    if result.raw is not None:
        return {**result.raw, "model": model}
    choices = []
    for choice in result.choices:
        if chat:
            message: dict[str, Any] = {"role": "assistant", "content": choice.text}
            if choice.tool_calls:  # OpenAI's shape: no content, calls without `index`
                message["content"] = choice.text or None
                message["tool_calls"] = [
                    {k: v for k, v in call.items() if k != "index"} for call in choice.tool_calls
                ]
            choices.append(
                {
                    "index": choice.index,
                    "message": message,
                    "logprobs": chat_logprobs(choice.logprobs),
                    "finish_reason": choice.finish_reason,
                }
            )
        else:
            choices.append(
                {
                    "index": choice.index,
                    "text": choice.text,
                    "logprobs": completion_logprobs(choice.logprobs),
                    "finish_reason": choice.finish_reason,
                }
            )
    return {
        "id": new_id("chatcmpl" if chat else "cmpl"),
        "object": "chat.completion" if chat else "text_completion",
        "created": now(),
        "model": model,
        "choices": choices,
        "usage": usage_body(result.usage),
    }


def embeddings_body(result: Embeddings, *, model: str, encoding: str) -> dict[str, Any]:
    if result.raw is not None:
        return {**result.raw, "model": model}
    data = []
    for i, vector in enumerate(result.vectors):
        value: Any = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }
