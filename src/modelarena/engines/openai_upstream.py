"""An engine that forwards to any OpenAI-compatible server (vLLM, SGLang, llama.cpp's
server, Ollama, commercial APIs, our own workers) over one pooled HTTP client.

Requests pass through with every field the client sent (tools, response_format, vendor
extensions); upstream errors come back as ours, marked retryable when another replica
might succeed. The client is aiohttp: through the gateway it costs a fraction of what
httpx costs per request (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import aiohttp
import orjson

from modelarena.engines.base import (
    Choice,
    Completion,
    Embeddings,
    Engine,
    Event,
    GenerationRequest,
    TextDelta,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from modelarena.errors import APIError
from modelarena.protocol import ChatCompletionRequest, EmbeddingRequest

log = logging.getLogger(__name__)


class UpstreamConfigError(Exception):
    """The upstream cannot be used as configured (e.g. its key variable is unset)."""


class OpenAIUpstreamEngine(Engine):
    kind = "openai"

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        upstream_model: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 600.0,
        supports_tools: bool = True,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.upstream_model = upstream_model or name
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._headers = dict(headers or {})
        self._timeout = timeout_s
        self._supports_tools = supports_tools
        self._session: aiohttp.ClientSession | None = None
        self._in_flight = 0
        self._stopped = 0  # streams closed before their end: the upstream's generation stops

    async def start(self) -> None:
        key = self._api_key
        if key is None and self._api_key_env:
            key = os.environ.get(self._api_key_env)
            if not key:
                raise UpstreamConfigError(
                    f"model '{self.name}': environment variable {self._api_key_env} "
                    "(its upstream API key) is not set"
                )
        headers = {"Content-Type": "application/json", **self._headers}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self._timeout, sock_connect=5.0),
            connector=aiohttp.TCPConnector(limit=1000, ttl_dns_cache=300),
        )

    async def close(self) -> None:
        if self._session:
            await self._session.close()
            self._session = None

    def load(self) -> int:
        return self._in_flight

    def stopped(self) -> int:
        return self._stopped

    async def healthy(self) -> bool:
        try:
            async with self._http.get(
                self.base_url + "/models", timeout=aiohttp.ClientTimeout(total=5.0)
            ) as response:
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise APIError(
                503, f"upstream for '{self.name}' is closed", type="server_error", backend_down=True
            )
        return self._session

    # -- generation ---------------------------------------------------------------------

    def _body(self, request: GenerationRequest | EmbeddingRequest, **changes) -> bytes:
        wants_tools = isinstance(request, ChatCompletionRequest) and request.tools
        if wants_tools and not self._supports_tools:
            raise APIError(
                400,
                f"model '{self.name}' does not support tools",
                param="tools",
                code="unsupported_parameter",
            )
        body = request.model_dump(exclude_unset=True, exclude_none=True)
        if "max_completion_tokens" in body:
            body.pop("max_tokens", None)
        body["model"] = self.upstream_model
        body.update(changes)
        return orjson.dumps(body)

    def _url(self, request: GenerationRequest) -> str:
        chat = isinstance(request, ChatCompletionRequest)
        return self.base_url + ("/chat/completions" if chat else "/completions")

    async def complete(self, request: GenerationRequest) -> Completion:
        raw = await self._post_json(self._url(request), self._body(request, stream=False))
        usage = raw.get("usage") or {}
        choices = []
        for item in raw.get("choices") or []:
            message = item.get("message") or {}
            text = message.get("content") if "message" in item else item.get("text")
            choices.append(
                Choice(
                    item.get("index", 0),
                    text or "",
                    item.get("finish_reason"),
                    message.get("tool_calls"),
                )
            )
        return Completion(
            choices,
            Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            raw=raw,
        )

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Event, None]:
        stream_options = {
            **(request.stream_options.model_dump() if request.stream_options else {}),
            "include_usage": True,
        }
        body = self._body(request, stream=True, stream_options=stream_options)
        parser = _StreamParser(self.name, isinstance(request, ChatCompletionRequest))
        self._in_flight += 1
        try:
            with _translated_errors(self.name):
                async with self._http.post(self._url(request), data=body) as response:
                    if response.status >= 400:
                        raise _upstream_error(
                            self.name,
                            response.status,
                            await response.read(),
                            response.headers.get("retry-after"),
                        )
                    # Read to the end even after [DONE], so the connection is reused.
                    async for data in response.content.iter_any():
                        for event in parser.feed(data):
                            yield event
            for event in parser.end():
                yield event
            yield parser.usage
        except (asyncio.CancelledError, GeneratorExit):
            # Leaving the `async with` closed the connection mid-answer, which tells the
            # upstream to stop generating.
            self._stopped += 1
            raise
        finally:
            self._in_flight -= 1

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        raw = await self._post_json(self.base_url + "/embeddings", self._body(request))
        vectors = [item.get("embedding") for item in raw.get("data") or []]
        return Embeddings(vectors, (raw.get("usage") or {}).get("prompt_tokens", 0), raw=raw)

    async def _post_json(self, url: str, body: bytes) -> dict[str, Any]:
        self._in_flight += 1
        try:
            with _translated_errors(self.name):
                async with self._http.post(url, data=body) as response:
                    content = await response.read()
                    if response.status >= 400:
                        raise _upstream_error(
                            self.name, response.status, content, response.headers.get("retry-after")
                        )
        finally:
            self._in_flight -= 1
        return _json_object(self.name, content)


class _StreamParser:
    """Server-sent events from an upstream, read by read, into engine events."""

    def __init__(self, name: str, is_chat: bool) -> None:
        self._name = name
        self._is_chat = is_chat
        self._pending = b""
        self.done = False
        self.usage = Usage(0, 0)
        self._open: set[int] = set()  # choices seen without their finish reason yet
        self._seen = False

    def feed(self, data: bytes) -> list[TextDelta]:
        if self.done:
            return []
        *lines, self._pending = (self._pending + data).split(b"\n")
        events: list[TextDelta] = []
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                break
            chunk = _json_object(self._name, payload)
            if chunk.get("error"):
                log.warning("upstream for %s failed mid-stream: %r", self._name, payload[:2000])
                raise APIError(
                    502,
                    f"upstream for '{self._name}' failed mid-stream: {_message(chunk)}",
                    type="server_error",
                )
            if chunk.get("usage"):
                usage = chunk["usage"]
                self.usage = Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
            events += _deltas(chunk, self._is_chat)
        for event in events:
            self._seen = True
            if event.finish_reason:
                self._open.discard(event.index)
            else:
                self._open.add(event.index)
        return _coalesce(events)

    def end(self) -> list[TextDelta]:
        """Called when the upstream closed the stream. Without `[DONE]` every choice must
        have finished, or the answer was cut off: an error, not a complete answer. After
        `[DONE]`, a choice the upstream left open is finished as `stop`."""
        if self.done:
            return [TextDelta(index, "", "stop") for index in sorted(self._open)]
        if self._open or not self._seen:
            raise APIError(
                502,
                f"the upstream for '{self._name}' ended the stream before the answer was complete",
                code="upstream_incomplete",
                retryable=not self._seen,
            )
        return []


def _deltas(chunk: dict[str, Any], is_chat: bool) -> list[TextDelta]:
    out = []
    for item in chunk.get("choices") or []:
        delta = (item.get("delta") or {}) if is_chat else item
        text = delta.get("content") if is_chat else delta.get("text")
        tool_calls = delta.get("tool_calls") if is_chat else None
        finish = item.get("finish_reason")
        try:
            logprobs = _logprobs(item.get("logprobs"), is_chat)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise APIError(
                502, f"the upstream sent malformed logprobs ({exc!r})", type="server_error"
            ) from None
        if text or finish or tool_calls or logprobs:
            out.append(TextDelta(item.get("index", 0), text or "", finish, tool_calls, logprobs))
    return out


def _logprobs(raw: Any, is_chat: bool) -> list[TokenLogprob] | None:
    """A streamed chunk's log-probabilities, from OpenAI's chat or completions shape."""
    if not isinstance(raw, dict):
        return None
    if is_chat:
        return [
            TokenLogprob(
                e["token"],
                _token_bytes(e),
                e["logprob"],
                [
                    TopLogprob(t["token"], _token_bytes(t), t["logprob"])
                    for t in e.get("top_logprobs") or []
                ],
            )
            for e in raw.get("content") or []
        ]
    tops = raw.get("top_logprobs") or [None] * len(raw.get("tokens") or [])
    return [
        TokenLogprob(
            token,
            token.encode(),
            logprob,
            [TopLogprob(t, t.encode(), p) for t, p in (top or {}).items() if t != token],
        )
        for token, logprob, top in zip(
            raw.get("tokens") or [], raw.get("token_logprobs") or [], tops, strict=False
        )
    ]


def _token_bytes(entry: dict[str, Any]) -> bytes:
    return bytes(entry.get("bytes") or entry["token"].encode())


def _coalesce(events: list[TextDelta]) -> list[TextDelta]:
    """Merge text deltas of one choice that arrived in the same network read: the client
    gets the same text, sooner, in fewer chunks. Tool-call fragments are kept as sent."""
    merged: list[TextDelta] = []
    for event in events:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.index == event.index
            and last.finish_reason is None
            and not last.tool_calls
            and not event.tool_calls
            and (last.logprobs is None) == (event.logprobs is None)
        ):
            last.text += event.text
            last.finish_reason = event.finish_reason
            if last.logprobs is not None and event.logprobs is not None:
                last.logprobs += event.logprobs
        else:
            merged.append(event)
    return merged


def _message(body: Any) -> str:
    """The upstream's error message, redacted for our clients (the log keeps it whole)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _redacted(str(error["message"]))
        if isinstance(error, str):
            return _redacted(error)
        if body.get("message"):
            return _redacted(str(body["message"]))
    return _redacted(str(body)[:500])


# What an upstream's error text may carry that our clients must not see: where the
# upstream lives, and anything that looks like a credential.
_SECRETS = [
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "[address]"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "[address]"),
    (re.compile(r"\[[0-9a-f:]*:[0-9a-f:]*\](?::\d+)?", re.I), "[address]"),
    (re.compile(r"\b[\w-]+(?:\.[\w-]+)*:\d{1,5}\b"), "[address]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;]+"), r"\1 [redacted]"),
    (
        re.compile(
            r"(?i)\b((?:api[_-]?)?key|token|secret|password|passwd|pwd|auth\w*)"
            r"(\s*[:=]\s*)[^\s,;&]+"
        ),
        r"\1\2[redacted]",
    ),
    (
        re.compile(
            r"\b(?:sk|pk|rk|hf|gh[pousr]|xox[bpas]|AKIA)[-_][A-Za-z0-9_-]{6,}"
            r"|\bAKIA[A-Z0-9]{12,}"
        ),
        "[redacted]",
    ),
    (
        re.compile(r"\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{32,}\b"),
        "[redacted]",
    ),
]


def _redacted(message: str) -> str:
    """`message` without addresses (URLs, IPs, host:port) and credential-like strings."""
    for pattern, replacement in _SECRETS:
        message = pattern.sub(replacement, message)
    return message


@contextlib.contextmanager
def _translated_errors(name: str) -> Iterator[None]:
    """Turn the HTTP client's timeouts and connection failures into our errors. Clients
    learn which model failed, never the upstream's address; the log has the detail."""
    try:
        yield
    except TimeoutError as exc:
        raise APIError(
            504,
            f"the upstream for '{name}' timed out",
            type="server_error",
            code="upstream_timeout",
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        log.warning("cannot connect to the upstream for %s: %s", name, exc)
        raise APIError(
            502,
            f"cannot connect to the upstream for '{name}'",
            type="server_error",
            code="upstream_unreachable",
            backend_down=True,
        ) from exc
    except aiohttp.ClientError as exc:  # e.g. a kept-alive connection the upstream closed
        log.warning("connection to the upstream for %s failed: %r", name, exc)
        raise APIError(
            502,
            f"the connection to the upstream for '{name}' failed",
            type="server_error",
            code="upstream_connection_error",
            retryable=True,
        ) from exc


def _json_object(name: str, content: bytes) -> dict[str, Any]:
    """An upstream's JSON object, or a clear 502 when it sent anything else."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        log.warning("upstream for %s sent an invalid body: %r", name, content[:200])
        raise APIError(
            502,
            f"the upstream for '{name}' sent an invalid response",
            type="server_error",
            code="bad_upstream_response",
            retryable=True,
        )
    return body


def _upstream_error(name: str, status: int, content: bytes, retry_after: str | None) -> APIError:
    """Map an upstream error status to ours, keeping its error fields and its message
    (redacted: the log has it in full)."""
    log.warning("upstream for %s answered %d: %r", name, status, content[:2000])
    try:
        body: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = content.decode("utf-8", errors="replace")
    message = _message(body)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    if status in (401, 403):
        return APIError(
            502,
            f"the upstream for '{name}' rejected the gateway's credentials: {message}",
            type="server_error",
            code="upstream_auth_failed",
            retryable=True,
        )
    if status == 429:
        return APIError(
            429,
            f"the upstream for '{name}' is rate limited: {message}",
            type="rate_limit_error",
            code="upstream_rate_limited",
            headers={"Retry-After": retry_after or "1"},
            retryable=True,
        )
    if status >= 500:
        return APIError(
            502,
            f"the upstream for '{name}' failed ({status}): {message}",
            type="server_error",
            code="upstream_error",
            retryable=True,
        )
    return APIError(
        400 if status in (400, 413, 422) else status,
        message,
        type=error.get("type") or "invalid_request_error",
        code=error.get("code"),
        param=error.get("param"),
    )
