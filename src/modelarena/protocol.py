"""Request bodies of the OpenAI-compatible API, validated with pydantic.

Types are strict, as OpenAI's are: `"stream": "yes"`, `"max_tokens": 4.0` or
`"frequency_penalty": false` are 400s, not guesses. Integers are bounded so that every
accepted value fits the engines' native types. Unknown fields are kept (`extra="allow"`)
so that upstream engines can pass through what they accept (logprobs, logit_bias, vendor
extensions); local engines reject the ones they cannot honour with a clear 400.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_STOP = 16
MAX_MESSAGES = 2048
MAX_EMBEDDING_INPUTS = 2048
MAX_PROMPTS = 64  # prompts in one completions request
MAX_TOP_LOGPROBS = 20  # alternatives per token (OpenAI's chat limit; vLLM's default)
INT32_MAX = 2**31 - 1
INT64 = 2**63

_STRICT = ConfigDict(extra="allow", strict=True)
NonEmptyText = Annotated[str, Field(min_length=1)]


class TextPart(BaseModel):
    model_config = _STRICT
    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    model_config = _STRICT
    url: str
    detail: str | None = None


class ImagePart(BaseModel):
    model_config = _STRICT
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    model_config = _STRICT

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's earlier calls
    tool_call_id: str | None = None  # the call a `tool` message answers

    def text(self) -> str:
        """The message's text; image parts are not text and are skipped."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    def has_images(self) -> bool:
        return isinstance(self.content, list) and any(
            isinstance(p, ImagePart) for p in self.content
        )


class StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool = False


class _SamplingFields(BaseModel):
    """Fields shared by chat and text completions."""

    model_config = _STRICT

    model: str = Field(min_length=1, max_length=256)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0, le=INT32_MAX)
    min_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=INT32_MAX)
    stop: NonEmptyText | Annotated[list[NonEmptyText], Field(max_length=MAX_STOP)] | None = None
    seed: int | None = Field(None, ge=-INT64, lt=INT64)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    repetition_penalty: float | None = Field(None, gt=0, le=10)
    ignore_eos: bool = Field(False, description="vLLM extension: generate to max_tokens")
    n: int = Field(1, ge=1, le=16)
    stream: bool = False
    stream_options: StreamOptions | None = Field(
        None, description="read only when `stream` is true, ignored otherwise"
    )
    user: str | None = None

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: int | None = Field(None, ge=1, le=INT32_MAX)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)

    @model_validator(mode="after")
    def _merge_max_tokens(self):
        # The newer name wins; engines read max_tokens only.
        if self.max_completion_tokens is not None:
            self.max_tokens = self.max_completion_tokens
        return self

    def has_images(self) -> bool:
        return any(m.has_images() for m in self.messages)


TokenIds = Annotated[list[Annotated[int, Field(ge=0, le=INT32_MAX)]], Field(min_length=1)]


class CompletionRequest(_SamplingFields):
    prompt: (
        NonEmptyText
        | Annotated[list[NonEmptyText], Field(min_length=1, max_length=MAX_PROMPTS)]
        | TokenIds
        | Annotated[list[TokenIds], Field(min_length=1, max_length=MAX_PROMPTS)]
    ) = Field(
        description="a string, a list of token ids, or a batch of either (each prompt "
        "gets its own `n` choices, numbered on after the previous prompt's)"
    )
    max_tokens: int | None = Field(
        None, ge=0, le=INT32_MAX, description="0 (with `echo`): score the prompt only"
    )
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    suffix: str | None = None
    response_format: dict[str, Any] | None = Field(
        None, description="vLLM extension: JSON answers, as in chat completions"
    )

    def prompts(self) -> list[str | list[int]]:
        """The prompts, each a string or a list of token ids."""
        prompt = self.prompt
        if isinstance(prompt, str) or isinstance(prompt[0], int):
            return [prompt]
        return [p for p in prompt if not isinstance(p, int)]


class EmbeddingRequest(BaseModel):
    model_config = _STRICT

    model: str = Field(min_length=1, max_length=256)
    input: (
        NonEmptyText
        | Annotated[list[NonEmptyText], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, le=INT32_MAX)
    user: str | None = None

    def inputs(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)
