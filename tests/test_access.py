"""Who reaches what: provider engineers, regulators, viewers, suspended tenants, CSRF."""

from __future__ import annotations

from typing import Any

from tests.conftest import assert_error


def test_provider_engineer_reaches_exactly_their_tenants(client_for: Any, world: Any) -> None:
    pat = client_for("pat")
    me = pat.get("/api/v1/me").get_json()
    assert sorted(t["slug"] for t in me["tenants"]) == ["alpha-works", "gamma-works"]
    assert {t["role"] for t in me["tenants"]} == {"provider_engineer"}
    for slug in ("alpha-works", "gamma-works"):
        assert pat.get(f"/api/v1/tenants/{slug}/sites").status_code == 200
    assert_error(pat.get("/api/v1/tenants/beta-works/sites"), 404, "not_found")
    created = pat.post("/api/v1/tenants/gamma-works/sites", json={"code": "G1", "name": "γ site"})
    assert created.status_code == 201, created.get_json()
    # Provider engineers operate plants; they do not manage a tenant's members.
    assert_error(
        pat.post(
            "/api/v1/tenants/alpha-works/members",
            json={"email": "nobody@example.com", "role": "viewer"},
        ),
        403,
        "forbidden",
    )


def test_regulator_reads_no_tenant_data(app: Any, client_for: Any) -> None:
    reggie = client_for("reggie")
    for rule in app.url_map.iter_rules():
        # Reads only: a POST-only route (an import) answers GET with 405 before any check.
        readable = "GET" in (rule.methods or ())
        if (
            readable
            and rule.rule.startswith("/api/v1/tenants/<slug>")
            and "<" not in rule.rule[23:]
        ):
            for slug in ("alpha-works", "beta-works", "gamma-works"):
                r = reggie.get(rule.rule.replace("<slug>", slug))
                assert r.status_code == 404, (rule.rule, slug, r.status_code)
    listed = reggie.get("/api/v1/regulator/enterprises")
    assert listed.status_code == 200
    names = {e["name"] for e in listed.get_json()}
    # Yunnan (530000) covers alpha (530100) and gamma (530300), not beta (Shandong, 370100).
    # (Other modules' tests may add Yunnan enterprises of their own: only the region counts.)
    assert {"ALPHA 工厂", "GAMMA 工厂"} <= names
    assert "BETA 工厂" not in names
    assert all(e["region_code"].startswith("53") for e in listed.get_json())
    assert all(
        set(e) == {"name", "credit_code", "region_code", "industry_code", "status"}
        for e in listed.get_json()
    )
    assert_error(
        reggie.post("/api/v1/tenants/alpha-works/sites", json={"code": "R", "name": "r"}), 404
    )


def test_non_regulator_cannot_use_regulator_view(client_for: Any) -> None:
    assert_error(client_for("alice").get("/api/v1/regulator/enterprises"), 403, "forbidden")


def test_viewer_cannot_write(client_for: Any) -> None:
    vera = client_for("vera")
    assert vera.get("/api/v1/tenants/alpha-works/sites").status_code == 200
    assert_error(
        vera.post("/api/v1/tenants/alpha-works/sites", json={"code": "V1", "name": "v"}), 403
    )
    site = vera.get("/api/v1/tenants/alpha-works/sites/1")
    etag = site.headers["ETag"]
    assert_error(
        vera.put(
            "/api/v1/tenants/alpha-works/sites/1",
            json={"code": "S1", "name": "changed"},
            headers={"If-Match": etag},
        ),
        403,
    )
    assert_error(
        vera.delete("/api/v1/tenants/alpha-works/sites/1", headers={"If-Match": etag}), 403
    )
    assert_error(vera.get("/api/v1/tenants/alpha-works/audit"), 403)


def test_operator_writes_data_not_configuration(client_for: Any) -> None:
    oscar = client_for("oscar")
    assert_error(
        oscar.post("/api/v1/tenants/alpha-works/sites", json={"code": "O1", "name": "o"}), 403
    )


def test_platform_admin_routes_need_platform_admin(client_for: Any) -> None:
    for name in ("alice", "pat", "reggie", "vera"):
        assert_error(client_for(name).get("/api/v1/admin/tenants"), 403, "forbidden")
    assert_error(client_for().get("/api/v1/admin/tenants"), 401, "unauthenticated")
    assert client_for("admin").get("/api/v1/admin/tenants").status_code == 200


def test_anonymous_gets_401(client_for: Any) -> None:
    anonymous = client_for()
    assert_error(anonymous.get("/api/v1/tenants/alpha-works/sites"), 401, "unauthenticated")
    assert_error(anonymous.get("/api/v1/me"), 401)


def test_cookie_writes_need_the_csrf_token(client_for: Any) -> None:
    mona = client_for("mona")
    mona.csrf = ""
    assert_error(
        mona.post("/api/v1/tenants/alpha-works/sites", json={"code": "C1", "name": "c"}), 403
    )
    mona.csrf = "forged"
    assert_error(
        mona.post("/api/v1/tenants/alpha-works/sites", json={"code": "C1", "name": "c"}), 403
    )


def test_session_cookie_flags(client_for: Any) -> None:
    c = client_for()
    response = c.login("mona@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_wrong_password_and_unknown_user_answer_alike(client_for: Any) -> None:
    c = client_for()
    wrong = assert_error(c.login("mona@example.com", "not-the-password"), 401)
    unknown = assert_error(c.login("ghost@example.com", "not-the-password"), 401)
    assert wrong["message"] == unknown["message"]


def test_suspended_tenant_answers_403_and_keeps_data(client_for: Any, world: Any) -> None:
    admin = client_for("admin")
    bob = client_for("bob")
    before = bob.get("/api/v1/tenants/beta-works/sites").get_json()
    assert admin.post("/api/v1/admin/tenants/beta-works/suspend").status_code == 200
    try:
        assert_error(bob.get("/api/v1/tenants/beta-works/sites"), 403, "tenant_suspended")
        assert_error(
            bob.post("/api/v1/tenants/beta-works/sites", json={"code": "Z", "name": "z"}), 403
        )
        # Not a member: still 404, a suspension reveals nothing to outsiders.
        assert_error(client_for("alice").get("/api/v1/tenants/beta-works/sites"), 404)
    finally:
        assert admin.post("/api/v1/admin/tenants/beta-works/resume").status_code == 200
    assert bob.get("/api/v1/tenants/beta-works/sites").get_json() == before


def test_deactivated_user_loses_access_at_once(app: Any, client_for: Any, world: Any) -> None:
    from sqlalchemy import update

    from ems_tenants.models import User

    admin = client_for("admin")
    created = admin.post(
        "/api/v1/admin/users",
        json={"email": "temp@example.com", "name": "temp", "password": "correct-horse-battery"},
    )
    assert created.status_code == 201
    alice = client_for("alice")
    assert (
        alice.post(
            "/api/v1/tenants/alpha-works/members",
            json={"email": "temp@example.com", "role": "viewer"},
        ).status_code
        == 201
    )
    temp = client_for()
    assert temp.login("temp@example.com").status_code == 200
    assert temp.get("/api/v1/tenants/alpha-works/sites").status_code == 200
    with app.extensions["ems"].db.transaction() as s:
        s.execute(update(User).where(User.email == "temp@example.com").values(is_active=False))
    assert_error(temp.get("/api/v1/tenants/alpha-works/sites"), 401)
