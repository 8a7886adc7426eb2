"""Prometheus metrics of the gateway: requests, tokens, latency, time to first token,
and at scrape time the requests in flight, engine queue depth, generations stopped
because their client left, and healthy backends.

Blind battles must stay blind, so the public scrape never counts their requests per
model: the moment a model's count falls would name the pane whose answer just ended.
They appear as one total; per model only in a private scrape (behind `metrics_token`).
The request counters and histograms are fed by the /v1 API alone.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from modelarena.serving.router import Router

disable_created_metrics()  # the *_created series only double the scrape size

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, router: Router) -> None:
        self._router = router
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "modelarena_requests",
            "API requests by model, endpoint and status",
            ["model", "endpoint", "status"],
            registry=r,
        )
        self.tokens = Counter(
            "modelarena_tokens",
            "Tokens processed by model and kind (prompt, completion)",
            ["model", "kind"],
            registry=r,
        )
        self.latency = Histogram(
            "modelarena_request_duration_seconds",
            "Time from request to last byte",
            ["model", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "modelarena_time_to_first_token_seconds",
            "Time from request to first text",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._gauges: dict[bool, CollectorRegistry] = {}
        for private in (False, True):
            self._gauges[private] = CollectorRegistry()
            self._gauges[private].register(_ScrapeGauges(router, private=private))

    def label(self, model: str) -> str:
        """Only served names become label values, so a flood of bad names adds no series."""
        return model if model in self._router.model_names() else "(unknown)"

    def count_tokens(self, model: str, prompt: int, completion: int) -> None:
        self.tokens.labels(model, "prompt").inc(prompt)
        self.tokens.labels(model, "completion").inc(completion)

    def render(self, private: bool = False) -> bytes:
        """The scrape; `private` adds per-model detail of blind battles."""
        return generate_latest(self.registry) + generate_latest(self._gauges[private])


class _ScrapeGauges:
    """Gauges read from the router at scrape time."""

    def __init__(self, router: Router, *, private: bool) -> None:
        self._router = router
        self._private = private

    def collect(self):
        in_flight = GaugeMetricFamily(
            "modelarena_requests_in_flight",
            "Requests being served per model, blind battles excluded",
            labels=["model"],
        )
        blind = GaugeMetricFamily(
            "modelarena_blind_requests_in_flight",
            "Requests of blind battles being served"
            + (" per model" if self._private else ", all models together"),
            labels=["model"] if self._private else None,
        )
        queue = GaugeMetricFamily(
            "modelarena_engine_queue_depth",
            "Sequences queued or decoding inside engines"
            + (" per model" if self._private else ", all models together"),
            labels=["model"] if self._private else None,
        )
        stopped = CounterMetricFamily(
            "modelarena_engine_stopped",
            "Generations engines stopped because their client left"
            + (" per model" if self._private else ", all models together"),
            labels=["model"] if self._private else None,
        )
        healthy = GaugeMetricFamily(
            "modelarena_backends_healthy", "Healthy backends per model", labels=["model"]
        )
        cache = GaugeMetricFamily(
            "modelarena_prefix_cache_tokens",
            "Prefix caching: tokens whose KV cells are kept for reuse (state kept), finished "
            "answers' tokens still to be prefilled for it (state waiting)"
            + (" per model" if self._private else ", all models together"),
            labels=["model", "state"] if self._private else ["state"],
        )
        blind_total = queue_total = stopped_total = kept_total = waiting_total = 0
        for model in self._router.model_names():
            backends = self._router.backends(model)
            blind_count = sum(b.blind for b in backends)
            depth = sum(b.engine.load() for b in backends)
            stops = sum(b.engine.stopped() for b in backends)
            caches = [b.engine.prefix_cache() for b in backends]
            kept, waiting = sum(c[0] for c in caches), sum(c[1] for c in caches)
            in_flight.add_metric([model], sum(b.outstanding - b.blind for b in backends))
            healthy.add_metric([model], sum(1 for b in backends if b.healthy))
            if self._private:
                blind.add_metric([model], blind_count)
                queue.add_metric([model], depth)
                stopped.add_metric([model], stops)
                cache.add_metric([model, "kept"], kept)
                cache.add_metric([model, "waiting"], waiting)
            blind_total += blind_count
            queue_total += depth
            stopped_total += stops
            kept_total += kept
            waiting_total += waiting
        if not self._private:
            blind.add_metric([], blind_total)
            queue.add_metric([], queue_total)
            stopped.add_metric([], stopped_total)
            cache.add_metric(["kept"], kept_total)
            cache.add_metric(["waiting"], waiting_total)
        yield from (in_flight, blind, queue, stopped, healthy, cache)
