"""Prometheus metrics: requests, latency, pool sizes, fallbacks, reloads.

With several worker processes (`PROMETHEUS_MULTIPROC_DIR` set by `run_server`), each
worker writes its samples to that folder and /metrics aggregates them all.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUESTS = Counter("xp_http_requests_total", "HTTP requests by endpoint and status code", ["endpoint", "status"])
LATENCY = Histogram("xp_http_request_seconds", "Time in the service per request", ["endpoint"], buckets=LATENCY_BUCKETS)
POOL = Histogram(
    "xp_cart_pool_size",
    "Candidates in a cart's pool (after the cap)",
    buckets=(0, 10, 30, 60, 100, 150, 200, 250, 300, 500),
)
CART_PATH = Counter("xp_cart_requests_total", "Cart requests by candidate path and ranker", ["candidates", "ranker"])
FALLBACKS = Counter("xp_fallbacks_total", "Fallbacks taken", ["kind"])
RELOADS = Counter("xp_state_reloads_total", "State (re)loads by outcome", ["outcome"])
RANKER_BATCH = Histogram(
    "xp_ranker_batch_size",
    "Carts scored per trained-ranker call (micro-batching)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
READY = Gauge("xp_ready", "1 when this worker serves a loaded state", multiprocess_mode="livemin")

ENDPOINTS = {
    "/v1/cart/recommend": "cart",
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
    "/admin/reload": "reload",
}


def endpoint_of(path: str) -> str:
    if path.startswith("/v1/items/"):
        return "item_xp"
    return ENDPOINTS.get(path, "other")


def render() -> tuple[bytes, str]:
    if MULTIPROC:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task or body copy): counts and times every request."""

    def __init__(self, app):
        self.app = app
        self._children: dict = {}

    def _observe(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, status)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (REQUESTS.labels(endpoint, str(status)), LATENCY.labels(endpoint))
        pair[0].inc()
        pair[1].observe(seconds)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._observe(endpoint_of(scope["path"]), status, time.perf_counter() - started)
