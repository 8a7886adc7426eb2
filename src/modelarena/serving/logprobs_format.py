"""Log-probabilities in OpenAI's shapes: chat's `logprobs.content` entries and the
completions API's parallel lists (`tokens`, `token_logprobs`, `top_logprobs`,
`text_offset`)."""

from __future__ import annotations

from typing import Any

from modelarena.engines.base import TokenLogprob


def chat_logprobs(entries: list[TokenLogprob] | None) -> dict[str, Any] | None:
    if entries is None:
        return None
    return {"content": [_chat_token(e) for e in entries], "refusal": None}


def _chat_token(entry: TokenLogprob) -> dict[str, Any]:
    return {
        "token": entry.token,
        "logprob": entry.logprob,
        "bytes": list(entry.bytes),
        "top_logprobs": [
            {"token": top.token, "logprob": top.logprob, "bytes": list(top.bytes)}
            for top in entry.top
        ],
    }


def completion_logprobs(
    entries: list[TokenLogprob] | None, offset: int = 0
) -> dict[str, Any] | None:
    """`offset`: where the first token starts in the choice's text (streams go on from
    the previous chunk's end). A token's `top_logprobs` hold it too, as vLLM's do."""
    if entries is None:
        return None
    offsets = []
    for entry in entries:
        offsets.append(offset)
        offset += len(entry.token)
    return {
        "tokens": [e.token for e in entries],
        "token_logprobs": [e.logprob for e in entries],
        "top_logprobs": [_top_map(e) for e in entries],
        "text_offset": offsets,
    }


def _top_map(entry: TokenLogprob) -> dict[str, float] | None:
    if entry.logprob is None:
        return None
    return {entry.token: entry.logprob} | {top.token: top.logprob for top in entry.top}


def text_length(entries: list[TokenLogprob] | None) -> int:
    """Characters these tokens span, for the next chunk's `text_offset`."""
    return sum(len(e.token) for e in entries or [])
