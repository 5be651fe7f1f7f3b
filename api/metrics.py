"""Prometheus metrics of the HTTP service and the ``/metrics`` rendering.

The app counts requests and their latency by method, route template and status in a registry
of its own, rendered after the registry passed to :func:`api.app.create_app` (the ingestion
daemon's), so one scrape shows both and no metric is ever registered twice.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpMetrics:
    """Request counters and latency histograms of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "partymap_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "partymap_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response starts), by route template.",
            ("method", "route"),
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
            registry=self.registry,
        )

    def render(self, *registries: CollectorRegistry) -> bytes:
        return b"".join(generate_latest(r) for r in (*registries, self.registry))


class MetricsMiddleware:
    """Pure ASGI (streamed responses such as SSE pass through untouched)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception escaping the app is answered 500 by the server

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.metrics.latency.labels(scope["method"], _route(scope)).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    # The template ("/api/v1/members/{member_id}"), never the raw path: one series per route.
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
