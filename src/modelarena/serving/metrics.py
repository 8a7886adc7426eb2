"""Prometheus metrics of the gateway: requests, tokens, latency, time to first token,
and at scrape time the queue depth and healthy backends of every model.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from modelarena.serving.router import Router

disable_created_metrics()  # the *_created series only double the scrape size

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, router: Router) -> None:
        self._router = router
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "modelarena_requests", "API requests by model, endpoint and status",
            ["model", "endpoint", "status"], registry=r,
        )
        self.tokens = Counter(
            "modelarena_tokens", "Tokens processed by model and kind (prompt, completion)",
            ["model", "kind"], registry=r,
        )
        self.latency = Histogram(
            "modelarena_request_duration_seconds", "Time from request to last byte",
            ["model", "endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.ttft = Histogram(
            "modelarena_time_to_first_token_seconds", "Time from request to first text",
            ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.in_flight = Gauge(
            "modelarena_requests_in_flight", "Requests being served, per model",
            ["model"], registry=r,
        )
        self.queue_depth = Gauge(
            "modelarena_engine_queue_depth", "Sequences queued or decoding inside engines",
            ["model"], registry=r,
        )
        self.healthy = Gauge(
            "modelarena_backends_healthy", "Healthy backends per model", ["model"], registry=r,
        )

    def label(self, model: str) -> str:
        """Only served names become label values, so a flood of bad names adds no series."""
        return model if model in self._router.model_names() else "(unknown)"

    def count_tokens(self, model: str, prompt: int, completion: int) -> None:
        self.tokens.labels(model, "prompt").inc(prompt)
        self.tokens.labels(model, "completion").inc(completion)

    def render(self) -> bytes:
        for gauge in (self.in_flight, self.queue_depth, self.healthy):
            gauge.clear()
        for model in self._router.model_names():
            backends = self._router.backends(model)
            self.in_flight.labels(model).set(sum(b.outstanding for b in backends))
            self.queue_depth.labels(model).set(sum(b.engine.load() for b in backends))
            self.healthy.labels(model).set(sum(1 for b in backends if b.healthy))
        return generate_latest(self.registry)
