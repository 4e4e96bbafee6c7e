"""Two tenants with colliding primary keys: nothing crosses.

The routes are enumerated from the app's URL map, not listed by hand: a new
tenant route is covered the moment it exists, and fails here until the table
below knows how to name one of beta's objects in it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

TENANT_PREFIX = "/api/v1/tenants/<slug>"

# For each path parameter: how to name an object that exists in beta only.
BETA_ONLY_IDS = {
    "site_id": lambda ctx: ctx["beta_site_2"],
    "membership_id": lambda ctx: ctx["beta_membership"],
    "client_id": lambda ctx: ctx["beta_client"],
}

# A valid body per (endpoint, method), so that the lookup (not validation) decides.
BODIES: dict[tuple[str, str], Any] = {
    ("sites.Sites", "POST"): {"code": "X1", "name": "cross-tenant"},
    ("sites.SiteById", "PUT"): {"code": "X2", "name": "cross-tenant"},
    ("tenant.Members", "POST"): {"email": "vera@example.com", "role": "viewer"},
    ("tenant.MemberById", "PUT"): {"role": "viewer"},
    ("tenant.Clients", "POST"): {"name": "cross", "scopes": ["tenant:read"]},
}


def tenant_routes(app: Any) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(TENANT_PREFIX):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.rule, rule.endpoint, method))
    return routes


def fill(rule: str, slug: str, ctx: dict[str, Any]) -> str:
    def param(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[-1]
        if name == "slug":
            return slug
        if name not in BETA_ONLY_IDS:
            pytest.fail(f"{rule}: add {name!r} to BETA_ONLY_IDS in {__name__}")
        return str(BETA_ONLY_IDS[name](ctx))

    return re.sub(r"<([^>]+)>", param, rule)


@pytest.fixture(scope="module")
def beta_objects(app: Any, world: Any) -> dict[str, Any]:
    """Objects that exist in beta under ids alpha does not have."""
    from sqlalchemy import select

    from ems_tenants.models import Membership

    bob = app.test_client()
    bob.post(
        "/api/v1/auth/login",
        json={"email": world.users["bob"], "password": "correct-horse-battery"},
    )
    csrf = bob.get("/api/v1/me").get_json()["csrf_token"]
    made = bob.post(
        "/api/v1/tenants/beta-works/api-clients",
        json={"name": "BETA exchange", "scopes": ["tenant:read"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201, made.get_json()
    db = app.extensions["ems"].db
    with db.session() as s:
        beta_membership = s.scalar(
            select(Membership.id).where(Membership.tenant_id == world.tenants["beta"].id)
        )
    return {
        "beta_site_2": world.sites["beta"][1],
        "beta_membership": beta_membership,
        "beta_client": made.get_json()["client_id"],
    }


def _beta_state(app: Any, world: Any) -> tuple[Any, ...]:
    from sqlalchemy import func, select

    from ems.sites.models import Site
    from ems_tenants.models import Membership, OAuthClient

    db = app.extensions["ems"].db
    with db.session(world.tenants["beta"].schema_name) as s:
        sites = tuple(s.execute(select(Site.id, Site.code, Site.name).order_by(Site.id)).all())
        memberships = tuple(
            s.execute(
                select(Membership.id, Membership.role)
                .where(Membership.tenant_id == world.tenants["beta"].id)
                .order_by(Membership.id)
            ).all()
        )
        clients = s.scalar(
            select(func.count()).where(
                OAuthClient.tenant_id == world.tenants["beta"].id, OAuthClient.revoked_at.is_(None)
            )
        )
    return sites, memberships, clients


def test_routes_are_enumerated(app: Any) -> None:
    routes = tenant_routes(app)
    endpoints = {endpoint for _, endpoint, _ in routes}
    # Guard against the enumeration silently matching nothing.
    assert {"sites.Sites", "sites.SiteById", "tenant.Members", "tenant.audit_log"} <= endpoints
    assert len(routes) >= 12


def test_alpha_user_cannot_reach_beta(
    app: Any, world: Any, client_for: Any, beta_objects: Any
) -> None:
    alice = client_for("alice")
    before = _beta_state(app, world)
    checked = 0
    for rule, endpoint, method in tenant_routes(app):
        body = BODIES.get((endpoint, method))
        headers = {"If-Match": '"0"'} if method in ("PUT", "DELETE") else {}
        # 1. beta's slug in the URL: beta does not exist for alice.
        url = fill(rule, "beta-works", beta_objects)
        r = alice.open(method, url, json=body, headers=headers)
        assert r.status_code == 404, (method, url, r.status_code, r.get_json())
        assert r.get_json()["error"]["code"] == "not_found"
        # 2. alpha's slug with an id that exists only in beta.
        if "<" in rule[len(TENANT_PREFIX) :]:
            url = fill(rule, "alpha-works", beta_objects)
            r = alice.open(method, url, json=body, headers=headers)
            assert r.status_code == 404, (method, url, r.status_code, r.get_json())
        checked += 1
    assert checked == len(tenant_routes(app))
    assert _beta_state(app, world) == before, "a request as alice changed beta"


def test_missing_and_foreign_answer_identically(client_for: Any, beta_objects: Any) -> None:
    alice = client_for("alice")
    foreign = alice.get(f"/api/v1/tenants/alpha-works/sites/{beta_objects['beta_site_2']}")
    missing = alice.get("/api/v1/tenants/alpha-works/sites/999999")
    assert foreign.status_code == missing.status_code == 404
    strip = lambda r: {k: v for k, v in r.get_json()["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(foreign) == strip(missing)
    no_tenant = alice.get("/api/v1/tenants/no-such-tenant/sites")
    foreign_tenant = alice.get("/api/v1/tenants/beta-works/sites")
    assert strip(no_tenant) == strip(foreign_tenant)


def test_lists_never_show_beta_rows(app: Any, client_for: Any, beta_objects: Any) -> None:
    alice = client_for("alice")
    lists = [
        (rule, endpoint)
        for rule, endpoint, method in tenant_routes(app)
        if method == "GET" and "<" not in rule[len(TENANT_PREFIX) :]
    ]
    assert len(lists) >= 5
    for rule, _ in lists:
        r = alice.get(rule.replace("<slug>", "alpha-works"))
        assert r.status_code == 200, (rule, r.get_json())
        text = r.get_data(as_text=True)
        assert "BETA" not in text and "bob@example.com" not in text, rule
        assert beta_objects["beta_client"] not in text, rule


def test_colliding_ids_resolve_to_own_rows(client_for: Any, world: Any) -> None:
    site_id = world.sites["alpha"][0]
    assert site_id == world.sites["beta"][0]
    alpha_view = client_for("alice").get(f"/api/v1/tenants/alpha-works/sites/{site_id}")
    beta_view = client_for("bob").get(f"/api/v1/tenants/beta-works/sites/{site_id}")
    assert alpha_view.get_json()["name"].startswith("ALPHA")
    assert beta_view.get_json()["name"].startswith("BETA")
