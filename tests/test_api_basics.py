"""Health, readiness, request ids, metrics, pagination, local Swagger UI."""

from __future__ import annotations

from typing import Any

from tests.conftest import assert_error


def test_healthz_and_readyz(client_for: Any) -> None:
    c = client_for()
    assert c.get("/healthz").get_json()["status"] == "ok"
    ready = c.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_reports_a_dead_broker(app: Any, client_for: Any) -> None:
    import dataclasses

    state = app.extensions["ems"]
    real = state.settings
    state.settings = dataclasses.replace(real, broker_url="amqp://guest:guest@127.0.0.1:1/%2F")
    try:
        error = assert_error(client_for().get("/readyz"), 503, "service_unavailable")
        assert "broker unreachable" in error["message"]
    finally:
        state.settings = real


def test_request_id_is_echoed_or_made(client_for: Any) -> None:
    c = client_for()
    assert (
        c.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    )
    made = c.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert made and " " not in made
    error = assert_error(c.get("/api/v1/me", headers={"X-Request-ID": "req-42"}), 401)
    assert error["request_id"] == "req-42"


def test_metrics_count_requests_by_endpoint(client_for: Any) -> None:
    c = client_for("alice")
    c.get("/api/v1/tenants/alpha-works/sites")
    body = c.get("/metrics").get_data(as_text=True)
    assert 'ems_http_requests_total{endpoint="sites.Sites",method="GET",status="200"}' in body
    assert "alpha-works" not in body  # no slugs or ids in labels


def test_pagination_header(client_for: Any) -> None:
    admin = client_for("admin")
    r = admin.get("/api/v1/admin/users?page=2&page_size=3")
    assert r.status_code == 200
    assert len(r.get_json()) == 3
    import json

    pagination = json.loads(r.headers["X-Pagination"])
    assert pagination["page"] == 2 and pagination["total"] >= 9


def test_swagger_ui_is_served_locally(client_for: Any) -> None:
    c = client_for()
    page = c.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    with c.get("/api/v1/swagger-ui/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and len(asset.get_data()) > 100_000
