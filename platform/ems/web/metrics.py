"""Prometheus metrics of the HTTP layer, served at ``/metrics``.

Labels use the route's endpoint name, never the raw path: a path carries tenant
slugs and object ids, which would explode the series count.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter(
    "ems_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"]
)
LATENCY = Histogram(
    "ems_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def observe(request: Request, response: Response, seconds: float) -> None:
    """Count one answered request."""
    endpoint = request.endpoint or "unmatched"
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    LATENCY.labels(endpoint).observe(seconds)


def register(app: Flask) -> None:
    """Serve ``/metrics`` (outside the versioned API and its OpenAPI document)."""

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
