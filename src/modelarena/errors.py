"""Errors users can act on, in OpenAI's shape: {"error": {message, type, param, code}}.

Every layer raises `APIError` (or a subclass helper below); the gateway renders it with
its status code and headers. Nothing else reaches a client as a bare 500.
"""

from __future__ import annotations

from typing import Any


class StartupError(Exception):
    """The platform cannot start as configured; the message says what to change."""


class APIError(Exception):
    """An error with an HTTP status, an OpenAI error type and an optional code/param."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        retryable: bool = False,
        backend_down: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or default_type(status)
        self.code = code
        self.param = param
        self.headers = headers or {}
        # True when another replica might succeed (the backend failed, not the request).
        self.retryable = retryable or backend_down
        # True when the backend cannot be reached at all: stop routing to it until its
        # health check passes again.
        self.backend_down = backend_down

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def default_type(status: int) -> str:
    """OpenAI's error type for a status when the raiser names none: a server's failure
    (5xx) is a `server_error`, anything else a problem with the request."""
    return "server_error" if status >= 500 else "invalid_request_error"


def invalid_request(message: str, *, param: str | None = None, code: str | None = None):
    return APIError(400, message, param=param, code=code)


def context_length_exceeded(
    prompt_tokens: int,
    max_tokens: int | None,
    limit: int,
    param: str = "messages",
    lower_bound: bool = False,
) -> APIError:
    """`lower_bound`: `prompt_tokens` is a floor counted without tokenizing (the text is
    longer than any tokenization of it could fit)."""
    where = "messages" if param == "messages" else "prompt"
    if lower_bound:
        message = (
            f"This model's maximum context length is {limit} tokens, but the {where} "
            f"{'hold' if where == 'messages' else 'holds'} at least {prompt_tokens} tokens. "
            f"Shorten the {where}."
        )
    elif max_tokens is None:
        message = (
            f"This model's maximum context length is {limit} tokens, but the prompt has "
            f"{prompt_tokens} tokens. Shorten the {where}."
        )
    else:
        message = (
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the {where}, "
            f"{max_tokens} in the completion). Shorten the {where} or lower max_tokens."
        )
    return APIError(400, message, param=param, code="context_length_exceeded")


def model_not_found(name: str, served: list[str]) -> APIError:
    listing = ", ".join(sorted(served)) or "(none)"
    return APIError(
        404,
        f"The model '{name}' is not served here. Served models: {listing}.",
        param="model",
        code="model_not_found",
    )


def no_healthy_backend(name: str, detail: str = "") -> APIError:
    extra = f" Last error: {detail}" if detail else ""
    return APIError(
        503,
        f"No healthy backend is serving '{name}' right now; retry shortly.{extra}",
        type="server_error",
        code="no_healthy_backend",
        headers={"Retry-After": "5"},
    )


def unsupported(feature: str, model: str, param: str) -> APIError:
    return APIError(
        400,
        f"'{param}' is not supported by model '{model}' ({feature}); "
        "use a model served by an upstream that accepts it.",
        param=param,
        code="unsupported_parameter",
    )
