"""What the OpenAPI document promises, kept true: the error statuses each group of routes
can answer (in OpenAI's error shape), the media types of streams and files, and no 422
(validation errors are 400s here). Each HTTP surface describes its own bodies with these.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

DESCRIPTIONS = {
    400: "The request is invalid: a bad field, body or host name. The message names it.",
    401: "A key or token is missing or wrong.",
    403: "The caller may not do this (terms not accepted, cross-site request, feature off).",
    404: "No such model, route or record.",
    409: "The request conflicts with the record's state (already voted, busy).",
    413: "The request body is larger than this endpoint accepts.",
    429: "Too many requests; `Retry-After` says when to come back.",
    502: "The model's backend failed.",
    503: "Nothing can serve this right now (no healthy backend, shared state unreachable); "
    "retry later.",
    504: "The model's backend timed out.",
}


class Open(BaseModel):
    """A documented body: fields beyond those listed are allowed."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(Open):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(Open):
    """Every error, as OpenAI writes it."""

    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses` for these error statuses."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses
    }


# One server-sent event, as OpenAPI 3.1 describes a stream: its `data` is a JSON chunk
# (or `[DONE]` at the end of a /v1 stream).
SSE_EVENT = {"type": "object", "properties": {"data": {"type": "string"}}, "required": ["data"]}


def events(what: str) -> dict[int | str, dict[str, Any]]:
    """A 200 that is a stream of server-sent events."""
    return {200: {"description": what, "content": {"text/event-stream": {"schema": SSE_EVENT}}}}


def content(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    """A 200 whose body is not JSON."""
    return {200: {"description": what, "content": {media_type: {"schema": {"type": "string"}}}}}


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, without FastAPI's 422 responses (this server answers
    validation errors with 400 in OpenAI's shape, which every operation documents), and
    without the empty JSON body FastAPI adds beside a stream's or a file's media type."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        for path in document.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                responses.pop("422", None)
                ok = responses.get("200", {}).get("content", {})
                if len(ok) > 1 and ok.get("application/json") == {"schema": {}}:
                    del ok["application/json"]
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
    return app.openapi_schema
