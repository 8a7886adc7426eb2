"""The OpenAI-compatible routes: /v1/models, /v1/chat/completions, /v1/completions,
/v1/embeddings, plus /health and /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable
from typing import TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from modelarena.engines.base import Event, GenerationRequest, TextDelta, Usage
from modelarena.errors import APIError
from modelarena.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
)
from modelarena.serving import shapes
from modelarena.serving.auth import ApiCaller
from modelarena.serving.openai_format import (
    SSE_DONE,
    ChunkWriter,
    completion_body,
    embeddings_body,
)
from modelarena.serving.services import Services
from modelarena.web import openapi
from modelarena.web.event_stream import EventStream
from modelarena.web.guards import bearer_matches
from modelarena.web.json_body import StrictJSONRoute
from modelarena.web.responses import JSONResponse, sse

router = APIRouter(route_class=StrictJSONRoute)
V1_ERRORS = openapi.errors(401, 404, 429, 502, 503, 504)
log = logging.getLogger(__name__)
T = TypeVar("T")


def services(request: Request) -> Services:
    return request.app.state.services


async def caller(request: Request) -> ApiCaller:
    return await services(request).auth.check(request)


@router.get(
    "/v1/models",
    dependencies=[Depends(caller)],
    responses={200: {"model": shapes.ModelList}, **V1_ERRORS},
)
async def list_models(request: Request) -> JSONResponse:
    svc = services(request)
    data = [_model_card(svc, name) for name in svc.router.model_names()]
    return JSONResponse({"object": "list", "data": data})


@router.get(
    "/v1/models/{model:path}",
    dependencies=[Depends(caller)],
    responses={200: {"model": shapes.ModelCard}, **V1_ERRORS},
)
async def get_model(model: str, request: Request) -> JSONResponse:
    return JSONResponse(_model_card(services(request), model))


def _model_card(svc: Services, name: str) -> dict:
    metadata = svc.router.metadata(name)
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": metadata.get("organization") or "modelarena",
        "metadata": metadata,
    }


@router.post(
    "/v1/chat/completions",
    responses={**shapes.stream_of(shapes.ChatCompletion, "the answer"), **V1_ERRORS},
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, _: ApiCaller = Depends(caller)
) -> Response:
    return await _generate(request, body, "chat")


@router.post(
    "/v1/completions",
    responses={**shapes.stream_of(shapes.TextCompletion, "the completion"), **V1_ERRORS},
)
async def completions(
    body: CompletionRequest, request: Request, _: ApiCaller = Depends(caller)
) -> Response:
    return await _generate(request, body, "completions")


@router.post("/v1/embeddings", responses={200: {"model": shapes.EmbeddingList}, **V1_ERRORS})
async def embeddings(
    body: EmbeddingRequest, request: Request, _: ApiCaller = Depends(caller)
) -> Response:
    svc = services(request)
    label = svc.metrics.label(body.model)
    started = time.perf_counter()
    try:
        result = await _unless_disconnected(request, svc.router.embed(body.model, body))
    except APIError as exc:
        svc.metrics.requests.labels(label, "embeddings", str(exc.status)).inc()
        raise
    svc.metrics.requests.labels(label, "embeddings", "200").inc()
    svc.metrics.latency.labels(label, "embeddings").observe(time.perf_counter() - started)
    svc.metrics.count_tokens(label, result.prompt_tokens, 0)
    return JSONResponse(embeddings_body(result, model=body.model, encoding=body.encoding_format))


async def _generate(request: Request, body: GenerationRequest, endpoint: str) -> Response:
    svc = services(request)
    label = svc.metrics.label(body.model)
    started = time.perf_counter()
    chat = endpoint == "chat"
    if not body.stream:
        try:
            result = await _unless_disconnected(request, svc.router.complete(body.model, body))
        except APIError as exc:
            svc.metrics.requests.labels(label, endpoint, str(exc.status)).inc()
            raise
        elapsed = time.perf_counter() - started
        svc.metrics.requests.labels(label, endpoint, "200").inc()
        svc.metrics.latency.labels(label, endpoint).observe(elapsed)
        svc.metrics.count_tokens(label, result.usage.prompt_tokens, result.usage.completion_tokens)
        return JSONResponse(completion_body(result, chat=chat, model=body.model))

    events = svc.router.stream(body.model, body)
    try:
        # Errors before the first byte keep their status; a client that leaves while the
        # request waits for a slot or its prompt is read cancels it there.
        first = await _unless_disconnected(request, anext(events))
    except APIError as exc:
        svc.metrics.requests.labels(label, endpoint, str(exc.status)).inc()
        raise
    writer = ChunkWriter(chat=chat, model=body.model, include_usage=body.include_usage())
    return EventStream(
        _sse(svc, writer, first, events, label, endpoint, started),
        headers={"Cache-Control": "no-cache"},
    )


async def _sse(
    svc: Services,
    writer: ChunkWriter,
    first: Event,
    events: AsyncGenerator[Event, None],
    label: str,
    endpoint: str,
    started: float,
) -> AsyncGenerator[bytes, None]:
    status = "200"
    first_text = True
    try:
        event = first
        while True:
            if isinstance(event, Usage):
                svc.metrics.count_tokens(label, event.prompt_tokens, event.completion_tokens)
                yield writer.usage(event)
            elif isinstance(event, TextDelta):
                if first_text and event.text:
                    svc.metrics.ttft.labels(label).observe(time.perf_counter() - started)
                    first_text = False
                yield writer.delta(event)
            try:
                event = await anext(events)
            except StopAsyncIteration:
                break
        yield SSE_DONE
    except (asyncio.CancelledError, GeneratorExit):  # the client left: its answer stops
        status = "499"
        raise
    except APIError as exc:  # the stream has started: report in-band, as OpenAI does
        status = str(exc.status)
        yield sse(exc.body())
    except Exception as exc:  # a bug must still end the stream with an error, not a cut
        log.exception("stream failed")
        status = "500"
        yield sse(
            APIError(
                500,
                f"Internal error ({type(exc).__name__}); it has been logged.",
                type="server_error",
                code="internal_error",
            ).body()
        )
    finally:
        await events.aclose()
        svc.metrics.requests.labels(label, endpoint, status).inc()
        svc.metrics.latency.labels(label, endpoint).observe(time.perf_counter() - started)


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client hangs up first, so that an answer nobody
    waits for stops decoding and frees its slot."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})  # its cleanup (the generation's end) runs first
    if task.cancelled():
        raise APIError(499, "The client closed the request.", code="client_closed_request")
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.get("/health", responses={200: {"model": shapes.Health}})
async def health(request: Request) -> JSONResponse:
    """Liveness for load balancers: healthy backends per model; no details leak."""
    svc = services(request)
    models = {}
    for name in svc.router.model_names():
        backends = svc.router.backends(name)
        models[name] = {"backends": len(backends), "healthy": sum(1 for b in backends if b.healthy)}
    ok = all(m["healthy"] for m in models.values())
    return JSONResponse({"status": "ok" if ok else "degraded", "models": models})


@router.get(
    "/metrics",
    responses={**openapi.content("text/plain", "Prometheus text format"), **openapi.errors(401)},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics. With `metrics_token` set they need it as a bearer token and
    include the arena's traffic per model; without, they are public and do not."""
    svc = services(request)
    token = svc.settings.metrics_token
    if token and not bearer_matches(request, token):
        raise APIError(
            401,
            "/metrics needs the metrics token (Authorization: Bearer TOKEN).",
            type="authentication_error",
            code="invalid_metrics_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(
        svc.metrics.render(private=bool(token)),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
