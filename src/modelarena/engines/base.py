"""The engine interface: a chat or text request in, a stream of text deltas and usage out.

Every kind of backend (in-process llama.cpp, an OpenAI-compatible upstream, a remote
worker) implements `Engine`; the router and the arena only ever talk to this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from modelarena.errors import APIError
from modelarena.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
)

GenerationRequest = ChatCompletionRequest | CompletionRequest


@dataclass(slots=True)
class TopLogprob:
    """One candidate token and the model's log-probability of it."""

    token: str
    bytes: bytes
    logprob: float


@dataclass(slots=True)
class TokenLogprob:
    """A token of the answer (or, with echo, of the prompt), its log-probability (None
    for a prompt's first token, which nothing predicts) and the likeliest alternatives."""

    token: str
    bytes: bytes
    logprob: float | None
    top: list[TopLogprob] = field(default_factory=list)


@dataclass(slots=True)
class TextDelta:
    """New text for one choice; `finish_reason` is set on the choice's last delta."""

    index: int
    text: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # raw OpenAI deltas from upstreams
    logprobs: list[TokenLogprob] | None = None  # of the tokens behind this delta, if asked


@dataclass(slots=True)
class Usage:
    """Token counts for a whole request (all choices); always the stream's last event."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens found in the prefix cache, not prefilled

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


Event = TextDelta | Usage


@dataclass
class Choice:
    index: int
    text: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    logprobs: list[TokenLogprob] | None = None


@dataclass
class Completion:
    """A whole answer. `raw` is an upstream's own response body, passed through as is."""

    choices: list[Choice]
    usage: Usage
    raw: dict[str, Any] | None = None


@dataclass
class Embeddings:
    vectors: list[list[float]]
    prompt_tokens: int
    raw: dict[str, Any] | None = field(default=None)


class Engine(ABC):
    """One backend able to serve one model."""

    #: what kind of backend this is, shown in `modelarena models` and /health
    kind: str = "engine"

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load weights or open connections; called once before the first request."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release everything; no request is served afterwards."""

    @abstractmethod
    def stream(self, request: GenerationRequest) -> AsyncGenerator[Event, None]:
        """Text deltas for every choice, then one `Usage`. Raises `APIError` on bad input."""

    async def complete(self, request: GenerationRequest) -> Completion:
        """The whole answer; by default gathered from `stream`."""
        choices: dict[int, Choice] = {}
        usage = Usage(0, 0)
        async for event in self.stream(request):
            if isinstance(event, Usage):
                usage = event
                continue
            choice = choices.setdefault(event.index, Choice(event.index))
            choice.text += event.text
            if event.logprobs is not None:
                choice.logprobs = (choice.logprobs or []) + event.logprobs
            if event.tool_calls:
                choice.tool_calls = merge_tool_call_deltas(choice.tool_calls, event.tool_calls)
            if event.finish_reason:
                choice.finish_reason = event.finish_reason
        return Completion([choices[i] for i in sorted(choices)], usage)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        raise APIError(
            400,
            f"model '{request.model}' does not serve embeddings",
            param="model",
            code="unsupported_endpoint",
        )

    async def healthy(self) -> bool:
        """A cheap liveness check used by the router's health loop."""
        return True

    def load(self) -> int:
        """Requests queued or running inside the engine (for metrics)."""
        return 0

    def stopped(self) -> int:
        """Generations this engine has stopped because their client left (for metrics)."""
        return 0

    def prefix_cache(self) -> tuple[int, int]:
        """Prefix caching (for metrics): tokens whose KV cells are kept for reuse, and
        finished answers' tokens still to be prefilled for it."""
        return 0, 0


def merge_tool_call_deltas(
    merged: list[dict[str, Any]] | None, deltas: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Fold streamed tool-call fragments (keyed by `index`) into whole tool calls."""
    calls = {c["index"]: c for c in merged or []}
    for delta in deltas:
        call = calls.setdefault(
            delta.get("index", 0),
            {
                "index": delta.get("index", 0),
                "type": "function",
                "function": {"name": "", "arguments": ""},
            },
        )
        if delta.get("id"):
            call["id"] = delta["id"]
        function = delta.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]
