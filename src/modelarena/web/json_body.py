"""Request bodies parsed strictly, before any handler sees them.

A body is accepted only if every layer behind the gateway can hold it: valid UTF-8 with
no lone surrogates, no NaN or infinity (orjson refuses both), and nested at most
`MAX_DEPTH` levels, so that it can always be forwarded to an upstream (orjson writes at
most 254 levels) and stored. Integers beyond 64 bits are read as floats.
A body that breaks a rule is a 400 for its sender, never an error of a backend.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

MAX_DEPTH = 64


class BodyRejected(json.JSONDecodeError):
    """A body that parsed as JSON but breaks one of our rules. It is a JSONDecodeError so
    that FastAPI reports it like any other undecodable body (a 400 naming the problem)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "", 0)


def parse(body: bytes) -> Any:
    """The JSON value of `body`, or `json.JSONDecodeError` saying what is wrong with it."""
    value = orjson.loads(body)  # orjson.JSONDecodeError is a json.JSONDecodeError
    _check(value)
    return value


def _check(value: Any) -> None:
    """Walk the containers without recursion, refusing deep nesting. (Integers need no
    walk: orjson reads one beyond 64 bits as a float, which every layer can hold.)"""
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BodyRejected(f"the body is nested deeper than {MAX_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is read with `parse`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict
