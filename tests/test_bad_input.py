"""Bad input answers 4xx in the error format, writes nothing, logs no traceback."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_error, credit

GOOD_TENANT = {
    "slug": "delta-works",
    "name": "DELTA 工厂",
    "credit_code": credit("91530100MA6K1X2Y1"),
    "region_code": "530100",
    "industry_code": "C3110",
}


def counts(app: Any, world: Any) -> tuple[int, int, int, int]:
    from ems.sites.models import Site
    from ems_tenants.models import Tenant, User

    db = app.extensions["ems"].db
    with db.session(world.tenants["alpha"].schema_name) as s:
        return (
            s.scalar(select(func.count()).select_from(Tenant)) or 0,
            s.scalar(select(func.count()).select_from(User)) or 0,
            s.scalar(select(func.count()).select_from(Site)) or 0,
            s.scalar(select(func.count()).where(Tenant.slug == "delta-works")) or 0,
        )


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


def with_(**changes: Any) -> dict[str, Any]:
    return {**GOOD_TENANT, **changes}


TENANT_CASES = [
    ("wrong type", with_(name=123), "name"),
    ("missing field", {k: v for k, v in GOOD_TENANT.items() if k != "credit_code"}, "credit_code"),
    ("over-long name", with_(name="厂" * 201), "name"),
    ("over-long slug", with_(slug="a" * 41), "slug"),
    ("slug crafted as SQL", with_(slug="x'; DROP SCHEMA control CASCADE; --"), "slug"),
    ("region crafted as SQL", with_(region_code="1' OR"), "region_code"),
    ("region of no province", with_(region_code="990100"), "region_code"),
    (
        "invalid credit code check",
        with_(credit_code=GOOD_TENANT["credit_code"][:17] + "0"),
        "credit_code",
    ),
    ("credit code with letter O", with_(credit_code="91530100MA6K1X2O10"), "credit_code"),
    ("unknown time zone", with_(timezone="Mars/Olympus"), "timezone"),
    ("bad industry code", with_(industry_code="Z99"), "industry_code"),
    ("unknown plan", with_(plan="platinum"), "plan"),
    ("unknown field", with_(is_admin=True), "is_admin"),
]


@pytest.mark.parametrize(("case", "body", "field"), TENANT_CASES, ids=[c[0] for c in TENANT_CASES])
def test_admin_create_tenant_rejects(
    app: Any, world: Any, client_for: Any, no_tracebacks: Any, case: str, body: Any, field: str
) -> None:
    admin = client_for("admin")
    before = counts(app, world)
    error = assert_error(admin.post("/api/v1/admin/tenants", json=body), 422)
    assert field in error["fields"], error
    assert counts(app, world) == before


@pytest.mark.parametrize(("case", "body", "field"), TENANT_CASES, ids=[c[0] for c in TENANT_CASES])
def test_signup_rejects(
    app: Any, world: Any, client_for: Any, no_tracebacks: Any, case: str, body: Any, field: str
) -> None:
    anonymous = client_for()
    before = counts(app, world)
    admin = {"email": "new-admin@example.com", "name": "管理员", "password": "long-enough-pw"}
    error = assert_error(
        anonymous.post("/api/v1/signup", json={"tenant": body, "admin": admin}), 422
    )
    assert any(k.startswith("tenant.") or k == field for k in error["fields"]), error
    assert counts(app, world) == before


def test_malformed_json(app: Any, world: Any, client_for: Any, no_tracebacks: Any) -> None:
    mona = client_for("mona")
    before = counts(app, world)
    r = mona.post(
        "/api/v1/tenants/alpha-works/sites",
        data=b'{"code": "J1", "name": ',
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 400, "bad_request")
    r = mona.post(
        "/api/v1/tenants/alpha-works/sites",
        data=b"\xff\xfe",
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 400)
    r = mona.post("/api/v1/tenants/alpha-works/sites", json=["not", "an", "object"])
    assert_error(r, 422)
    assert counts(app, world) == before


def test_site_field_errors_name_the_field(
    app: Any, world: Any, client_for: Any, no_tracebacks: Any
) -> None:
    mona = client_for("mona")
    before = counts(app, world)
    for body, field in (
        ({"name": "no code"}, "code"),
        ({"code": "S 1; DROP", "name": "x"}, "code"),
        ({"code": "OK", "name": "x" * 201}, "name"),
        ({"code": "OK", "name": "x", "timezone": "Nowhere/City"}, "timezone"),
        ({"code": "OK", "name": "x", "region_code": 530100}, "region_code"),
    ):
        error = assert_error(mona.post("/api/v1/tenants/alpha-works/sites", json=body), 422)
        assert field in error["fields"], (body, error)
    assert counts(app, world) == before


def test_duplicate_site_code_conflicts(
    app: Any, world: Any, client_for: Any, no_tracebacks: Any
) -> None:
    mona = client_for("mona")
    before = counts(app, world)
    error = assert_error(
        mona.post("/api/v1/tenants/alpha-works/sites", json={"code": "S1", "name": "dup"}), 409
    )
    assert "code" in error["fields"]
    assert counts(app, world) == before


def test_slug_in_url_crafted_as_sql(client_for: Any, no_tracebacks: Any) -> None:
    alice = client_for("alice")
    for slug in ("alpha-works'--", "alpha-works' OR '1'='1", "t_alpha_works", "control", "tenant"):
        assert_error(alice.get(f"/api/v1/tenants/{slug}/sites"), 404)


def test_query_parameters_are_validated(client_for: Any, no_tracebacks: Any) -> None:
    alice = client_for("alice")
    error = assert_error(alice.get("/api/v1/tenants/alpha-works/sites?page=abc"), 422)
    assert "query.page" in error["fields"]
    assert_error(alice.get("/api/v1/tenants/alpha-works/sites?page_size=100000"), 422)
    admin = client_for("admin")
    assert_error(admin.get("/api/v1/admin/tenants?region_code=1%27%20OR%201=1"), 422)


def test_body_too_large(client_for: Any, no_tracebacks: Any) -> None:
    mona = client_for("mona")
    r = mona.post(
        "/api/v1/tenants/alpha-works/sites",
        data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 413)


def test_unknown_route_and_method(client_for: Any) -> None:
    c = client_for("alice")
    assert_error(c.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(c.open("PATCH", "/api/v1/tenants/alpha-works/sites"), 405, "method_not_allowed")


def test_an_id_past_the_integer_range_is_invalid_input_not_a_crash(client_for: Any) -> None:
    # PostgreSQL's integer ends at 2^31 - 1; an id past it cannot exist, and says so.
    client = client_for("alice")
    for url in (
        "/api/v1/tenants/alpha-works/meters/99999999999",
        "/api/v1/tenants/alpha-works/personnel/99999999999",
        "/api/v1/tenants/alpha-works/equipment/99999999999",
    ):
        assert_error(client.get(url), 422, "invalid_input")
