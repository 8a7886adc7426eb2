"""The router: which backends serve which model name, and which one takes a request.

It picks the healthy backend with the fewest outstanding requests, retries another
replica when a backend fails before its first byte, and tracks health from failures and
from a periodic check. Only a transport failure (an engine's `backend_down` error) takes
a backend out of service: a request that an engine cannot handle fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from modelarena.engines.base import Completion, Embeddings, Engine, Event, GenerationRequest
from modelarena.errors import APIError, model_not_found, no_healthy_backend
from modelarena.protocol import EmbeddingRequest

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(eq=False)
class Backend:
    """One engine serving one model name."""

    id: str
    model: str
    engine: Engine
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "registry"  # "registry" or "worker"
    healthy: bool = True
    outstanding: int = 0
    blind: int = 0  # of the outstanding requests, those of blind battles
    last_error: str | None = None

    def begin(self, blind: bool) -> None:
        self.outstanding += 1
        self.blind += blind

    def end(self, blind: bool) -> None:
        self.outstanding -= 1
        self.blind -= blind


class Router:
    def __init__(self) -> None:
        self._backends: dict[str, list[Backend]] = {}
        # Why a known model has no backend now (paused, retired, loading, failed to load):
        # the error a request for it gets instead of "not served here".
        self._unavailable: dict[str, APIError] = {}

    # -- membership ---------------------------------------------------------------------

    def add(self, backend: Backend) -> None:
        self._backends.setdefault(backend.model, []).append(backend)

    def remove(self, backend_id: str) -> Backend | None:
        for model, backends in list(self._backends.items()):
            for backend in backends:
                if backend.id == backend_id:
                    backends.remove(backend)
                    if not backends:
                        del self._backends[model]
                    return backend
        return None

    def set_unavailable(self, model: str, error: APIError | None) -> None:
        """What a request for `model` gets while no backend serves it (None: forget)."""
        if error is None:
            self._unavailable.pop(model, None)
        else:
            self._unavailable[model] = error

    def why_unavailable(self, model: str) -> str | None:
        """Why a known model has no backend now (None: it has one, or is unknown)."""
        error = None if model in self._backends else self._unavailable.get(model)
        return error.message if error else None

    def _missing(self, model: str) -> APIError:
        return self._unavailable.get(model) or model_not_found(model, self.model_names())

    def backends(self, model: str | None = None) -> list[Backend]:
        if model is not None:
            return list(self._backends.get(model, []))
        return [b for group in self._backends.values() for b in group]

    def model_names(self) -> list[str]:
        return sorted(self._backends)

    def metadata(self, model: str) -> dict[str, Any]:
        backends = self._backends.get(model)
        if not backends:
            raise self._missing(model)
        return backends[0].metadata

    # -- choosing -----------------------------------------------------------------------

    def pick(self, model: str, exclude: set[str] | frozenset[str] = frozenset()) -> Backend:
        backends = self._backends.get(model)
        if not backends:
            raise self._missing(model)
        healthy = [b for b in backends if b.healthy and b.id not in exclude]
        if not healthy:
            errors = [b.last_error for b in backends if b.last_error]
            raise no_healthy_backend(model, errors[-1] if errors else "")
        fewest = min(b.outstanding for b in healthy)
        return random.choice([b for b in healthy if b.outstanding == fewest])

    def _mark_failed(self, backend: Backend, error: APIError) -> None:
        backend.healthy = False
        backend.last_error = error.message
        log.warning("backend %s for %s failed: %s", backend.id, backend.model, error)

    async def _with_retry(
        self, model: str, call: Callable[[Backend], Awaitable[T]], blind: bool
    ) -> tuple[Backend, T]:
        """Run `call` on a backend; on a retryable failure, on the next one."""
        tried: set[str] = set()
        while True:
            backend = self.pick(model, tried)
            tried.add(backend.id)
            backend.begin(blind)
            done = False
            try:
                result = await call(backend)
                done = True
                return backend, result
            except APIError as exc:
                if not exc.retryable:
                    raise
                if exc.backend_down:
                    self._mark_failed(backend, exc)
                if not self._has_untried(model, tried):
                    raise
            except Exception as exc:
                # A request the engine did not expect: it fails alone, and the backend,
                # which may be serving everyone else well, stays in service.
                log.exception("backend %s for %s raised on a request", backend.id, model)
                raise APIError(
                    500,
                    f"The backend for '{model}' could not handle this request "
                    f"({type(exc).__name__}); it has been logged.",
                    code="internal_error",
                ) from exc
            finally:
                if not done:
                    backend.end(blind)

    def _has_untried(self, model: str, tried: set[str]) -> bool:
        return any(b.healthy and b.id not in tried for b in self._backends.get(model, []))

    # -- serving ------------------------------------------------------------------------

    async def stream(
        self, model: str, request: GenerationRequest, *, blind: bool = False
    ) -> AsyncGenerator[Event, None]:
        """Events from one backend. Failures before the first event move to a replica.
        `blind`: a battle's request, kept out of the public per-model metrics."""

        async def first_event(backend: Backend):
            events = backend.engine.stream(request)
            try:
                return events, await anext(events)
            except BaseException:
                await events.aclose()
                raise

        backend, (events, first) = await self._with_retry(model, first_event, blind)
        try:
            yield first
            async for event in events:
                yield event
        finally:
            backend.end(blind)
            await events.aclose()

    async def complete(self, model: str, request: GenerationRequest) -> Completion:
        backend, result = await self._with_retry(model, lambda b: b.engine.complete(request), False)
        backend.end(False)
        return result

    async def embed(self, model: str, request: EmbeddingRequest) -> Embeddings:
        backend, result = await self._with_retry(model, lambda b: b.engine.embed(request), False)
        backend.end(False)
        return result

    # -- health -------------------------------------------------------------------------

    async def check_health(self, timeout: float = 5.0) -> None:
        """Ask every backend whether it is alive; a recovered one serves again."""

        async def check(backend: Backend) -> None:
            try:
                ok = await asyncio.wait_for(backend.engine.healthy(), timeout)
            except Exception as exc:
                log.warning("health check of %s for %s failed: %r", backend.id, backend.model, exc)
                ok, backend.last_error = False, "health check failed"
            if ok and not backend.healthy:
                log.info("backend %s for %s is healthy again", backend.id, backend.model)
            if not ok and backend.healthy:
                backend.last_error = backend.last_error or "health check failed"
                log.warning("backend %s for %s is unhealthy", backend.id, backend.model)
            backend.healthy = ok

        await asyncio.gather(*(check(b) for b in self.backends()))
