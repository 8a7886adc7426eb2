"""A stream of server-sent events that ends its producer as soon as the client leaves.

Starlette's `StreamingResponse` notices a departed client only if the server reports the
disconnect while it streams (ASGI before 2.4) or a write fails (2.4; uvicorn drops writes
to a closed connection silently), and it leaves a producer suspended between two events
to the garbage collector. `EventStream` listens for the disconnect itself for the whole
stream, and always closes its generator when it ends, so the generator's cleanup
(cancelling a generation, freeing an engine's slot, recording a stopped answer) runs at
once, whatever the server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class EventStream(StreamingResponse):
    """`text/event-stream` from an async generator of encoded events."""

    def __init__(
        self, events: AsyncGenerator[bytes, None], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(
            events,
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no", **(headers or {})},
        )
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(_until_disconnected, receive, group.cancel_scope)
                # A server on ASGI 2.4 raises OSError when the client has gone.
                with contextlib.suppress(OSError):
                    await self.stream_response(send)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()


async def _until_disconnected(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
