"""The bodies the /v1 API and /health answer with, as the OpenAPI document describes them.
Handlers build their bodies directly (see openai_format.py), so the hot paths pay nothing
for these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from modelarena.web.openapi import SSE_EVENT
from modelarena.web.openapi import Open as _Open


def stream_of(model: type[BaseModel], what: str) -> dict[int | str, dict[str, Any]]:
    """A 200 that is `model` as JSON, or with `stream: true` server-sent events."""
    return {
        200: {
            "model": model,
            "description": f"{what} (JSON), or with `stream: true` "
            "server-sent events of chunks, ending with `data: [DONE]`",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        }
    }


class TokenUsage(_Open):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ModelCard(_Open):
    id: str
    object: str
    created: int
    owned_by: str
    metadata: dict[str, Any]


class ModelList(_Open):
    object: str
    data: list[ModelCard]


class AssistantMessage(_Open):
    role: str
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChoice(_Open):
    index: int
    message: AssistantMessage
    logprobs: Any = None
    finish_reason: str | None


class ChatCompletion(_Open):
    id: str
    object: str
    created: int
    model: str
    choices: list[ChatChoice]
    usage: TokenUsage | None = None


class TextChoice(_Open):
    index: int
    text: str
    logprobs: Any = None
    finish_reason: str | None


class TextCompletion(_Open):
    id: str
    object: str
    created: int
    model: str
    choices: list[TextChoice]
    usage: TokenUsage | None = None


class Embedding(_Open):
    object: str
    index: int
    embedding: list[float] | str


class EmbeddingUsage(_Open):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(_Open):
    object: str
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage | None = None


class BackendCount(_Open):
    backends: int
    healthy: int


class Health(_Open):
    status: str
    models: dict[str, BackendCount]
