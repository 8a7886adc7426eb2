"""Chat calls to any OpenAI-compatible endpoint through the official `openai` client:
at most N requests in flight, transient failures retried with exponential backoff."""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import httpx
import openai

from modelarena.judge.transport import AiohttpTransport

# Failures worth another try: the network, timeouts, rate limits, server errors.
RETRYABLE = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
# Failures that every later request would meet too: stop the whole run.
FATAL = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
MAX_DELAY_S = 30.0


class CallError(Exception):
    """One request failed for good (retries exhausted, or an error not worth retrying)."""


class FatalCallError(CallError):
    """The endpoint refuses every request (bad key, unknown model): the run cannot go on."""


def gateway_endpoint() -> str:
    """This machine's modelarena gateway, at the host and port its settings give
    (`MODELARENA_PORT`, the config file): where `modelarena serve` listens."""
    from modelarena.config import load_settings

    settings = load_settings()
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/v1"


def api_key_from_env(variable: str | None) -> str:
    """The API key held in `variable`; endpoints that need none get a placeholder."""
    if variable is None:
        return "unused"
    value = os.environ.get(variable)
    if not value:
        raise ValueError(f"environment variable {variable} (--api-key-env) is not set")
    return value


class ChatClient:
    """An AsyncOpenAI client with a concurrency limit and retries; create it inside the
    event loop that uses it, and `close()` it there."""

    def __init__(
        self,
        base_url: str,
        api_key: str = "unused",
        *,
        concurrency: int = 8,
        retries: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 600.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"endpoint {base_url!r} must be an http:// or https:// URL, "
                "e.g. http://127.0.0.1:8000/v1"
            )
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,
            timeout=timeout_s,
            http_client=httpx.AsyncClient(  # type: ignore[arg-type]  # the SDK types its own alias
                transport=AiohttpTransport(concurrency), timeout=timeout_s
            ),
        )
        self._slots = asyncio.Semaphore(concurrency)
        self.base_url = base_url
        self.retries = retries
        self.backoff_s = backoff_s

    async def chat(self, model: str, messages: list[dict[str, str]], **params: Any) -> str:
        """The text of the first choice (empty when the model said nothing)."""
        for attempt in range(self.retries + 1):
            async with self._slots:
                try:
                    reply = await self._client.chat.completions.create(
                        model=model,
                        messages=messages,  # type: ignore[arg-type]  # plain role/content dicts
                        **params,
                    )
                    if not reply.choices:
                        raise CallError("the endpoint answered with no choices")
                    return reply.choices[0].message.content or ""
                except FATAL as exc:
                    raise FatalCallError(_describe(exc)) from exc
                except RETRYABLE as exc:
                    if attempt == self.retries:
                        raise self._gave_up(exc, attempt + 1) from exc
                    delay = self._delay(attempt, exc)
                except openai.APIError as exc:
                    raise CallError(_describe(exc)) from exc
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _gave_up(self, exc: Exception, attempts: int) -> CallError:
        """The error after the last retry: fatal when the endpoint cannot be reached at all
        (every other request would wait through its retries for nothing)."""
        tries = f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}"
        if isinstance(exc.__cause__, httpx.ConnectError):
            return FatalCallError(
                f"cannot connect to {self.base_url} ({exc.__cause__}; "
                f"{tries}); is a server running there?"
            )
        return CallError(f"{_describe(exc)} ({tries})")

    def _delay(self, attempt: int, exc: Exception) -> float:
        """Exponential backoff with jitter, or the server's Retry-After when it gives one."""
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after is not None:
            try:
                return min(float(retry_after), MAX_DELAY_S)
            except ValueError:
                pass
        return min(self.backoff_s * 2**attempt, MAX_DELAY_S) * random.uniform(0.75, 1.25)

    async def close(self) -> None:
        await self._client.close()


def _describe(exc: Exception) -> str:
    """The endpoint's own error message when it sent one (OpenAI's error shape), or the
    network's (what the `openai` client calls just "Connection error.")."""
    if isinstance(exc, openai.APIConnectionError) and exc.__cause__ is not None:
        return f"{exc} ({exc.__cause__})" if str(exc.__cause__) else str(exc)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            status = getattr(exc, "status_code", None)
            return f"{status}: {error['message']}" if status else str(error["message"])
    return str(exc) or type(exc).__name__
