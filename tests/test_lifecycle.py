"""Tenant life cycle: signup and approval, plans and rate limits, export and deletion, audit."""

from __future__ import annotations

import tarfile
from typing import Any

from sqlalchemy import text

from tests.conftest import assert_error, credit


def test_signup_then_approval_then_login(app: Any, client_for: Any) -> None:
    anonymous = client_for()
    body = {
        "tenant": {
            "slug": "epsilon-cement",
            "name": "EPSILON 水泥",
            "credit_code": credit("91530100MA6K1X2Y7"),
            "region_code": "530100",
            "industry_code": "C3011",
        },
        "admin": {"email": "eps-admin@example.com", "name": "张三", "password": "long-enough-pw"},
    }
    r = anonymous.post("/api/v1/signup", json=body)
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["status"] == "pending"
    applicant = client_for()
    assert applicant.login("eps-admin@example.com", "long-enough-pw").status_code == 200
    assert applicant.get("/api/v1/me").get_json()["tenants"] == []
    assert_error(applicant.get("/api/v1/tenants/epsilon-cement/sites"), 404)
    # The same enterprise cannot apply twice.
    body["tenant"]["slug"] = "epsilon-two"
    body["admin"]["email"] = "other@example.com"
    assert_error(anonymous.post("/api/v1/signup", json=body), 409)

    admin = client_for("admin")
    pending = admin.get("/api/v1/admin/tenants?status=pending").get_json()
    assert "epsilon-cement" in [t["slug"] for t in pending]
    approved = admin.post("/api/v1/admin/tenants/epsilon-cement/approve")
    assert approved.status_code == 200 and approved.get_json()["status"] == "active"
    me = applicant.get("/api/v1/me").get_json()
    assert [(t["slug"], t["role"]) for t in me["tenants"]] == [("epsilon-cement", "tenant_admin")]
    assert applicant.get("/api/v1/tenants/epsilon-cement/sites").get_json() == []


def test_rate_limit_follows_the_plan(app: Any, client_for: Any) -> None:
    admin = client_for("admin")
    created = admin.post(
        "/api/v1/admin/tenants",
        json={
            "slug": "zeta-glass",
            "name": "ZETA 玻璃",
            "credit_code": credit("91530100MA6K1X2Y8"),
            "region_code": "530100",
            "industry_code": "C3041",
            "plan": "trial",
        },
    )
    assert created.status_code == 201, created.get_json()
    limit = next(p for p in admin.get("/api/v1/admin/plans").get_json() if p["code"] == "trial")[
        "api_requests_per_minute"
    ]
    from ems_tenants import members, services

    db = app.extensions["ems"].db
    with db.transaction() as s:
        members.add_member(s, services.get_tenant(s, "zeta-glass"), "nobody@example.com", "viewer")
    zeta = client_for("nobody")
    alice = client_for("alice")
    statuses = [zeta.get("/api/v1/tenants/zeta-glass/sites").status_code for _ in range(limit + 5)]
    assert statuses.count(200) <= limit
    assert statuses[-1] == 429
    limited = zeta.get("/api/v1/tenants/zeta-glass/sites")
    assert_error(limited, 429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    # Another tenant's budget is its own.
    assert alice.get("/api/v1/tenants/alpha-works/sites").status_code == 200


def test_plan_change(client_for: Any) -> None:
    admin = client_for("admin")
    r = admin.put("/api/v1/admin/tenants/gamma-works/plan", json={"plan": "standard"})
    assert r.status_code == 200 and r.get_json()["plan"] == "standard"
    assert_error(admin.put("/api/v1/admin/tenants/gamma-works/plan", json={"plan": "gold"}), 422)
    admin.put("/api/v1/admin/tenants/gamma-works/plan", json={"plan": "enterprise"})


def test_export_then_delete(app: Any, client_for: Any, settings: Any) -> None:
    admin = client_for("admin")
    created = admin.post(
        "/api/v1/admin/tenants",
        json={
            "slug": "eta-paper",
            "name": "ETA 造纸",
            "credit_code": credit("91530100MA6K1X2Y9"),
            "region_code": "530100",
            "industry_code": "C2221",
        },
    )
    assert created.status_code == 201
    from ems_tenants import members, services

    db = app.extensions["ems"].db
    with db.transaction() as s:
        members.add_member(
            s, services.get_tenant(s, "eta-paper"), "mona@example.com", "energy_manager"
        )
    mona = client_for("mona")
    for i in range(3):
        r = mona.post(
            "/api/v1/tenants/eta-paper/sites", json={"code": f"E{i}", "name": f"ETA 厂区 {i}"}
        )
        assert r.status_code == 201

    # Deletion needs suspension, an export after it, and the slug repeated.
    assert_error(admin.delete("/api/v1/admin/tenants/eta-paper?confirm=eta-paper"), 409)
    admin.post("/api/v1/admin/tenants/eta-paper/suspend")
    assert_error(admin.delete("/api/v1/admin/tenants/eta-paper?confirm=eta-paper"), 409)
    exported = admin.post("/api/v1/admin/tenants/eta-paper/exports")
    assert exported.status_code == 201, exported.get_json()
    assert exported.get_json()["row_counts"]["sites"] == 3
    assert_error(admin.delete("/api/v1/admin/tenants/eta-paper?confirm=eta"), 422)

    path = next((settings.data_dir / "exports" / "eta-paper").glob("*.tar.gz"))
    with tarfile.open(path) as tar:
        names = tar.getnames()
        sites_csv = tar.extractfile("schema/sites.csv").read().decode()  # type: ignore[union-attr]
    assert "manifest.json" in names and "control/memberships.json" in names
    assert sites_csv.count("ETA 厂区") == 3

    assert admin.delete("/api/v1/admin/tenants/eta-paper?confirm=eta-paper").status_code == 204
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT to_regnamespace('t_eta_paper')")).scalar() is None
    assert admin.get("/api/v1/admin/tenants/eta-paper").get_json()["status"] == "deleted"
    assert_error(mona.get("/api/v1/tenants/eta-paper/sites"), 404)


def test_every_write_is_audited(app: Any, client_for: Any) -> None:
    mona = client_for("mona")
    created = mona.post(
        "/api/v1/tenants/alpha-works/sites", json={"code": "AU1", "name": "审计 before"}
    )
    site = created.get_json()
    etag = mona.get(f"/api/v1/tenants/alpha-works/sites/{site['id']}").headers["ETag"]
    updated = mona.put(
        f"/api/v1/tenants/alpha-works/sites/{site['id']}",
        json={"code": "AU1", "name": "审计 after"},
        headers={"If-Match": etag, "X-Request-ID": "audit-test-1"},
    )
    assert updated.status_code == 200
    log = client_for("alice").get("/api/v1/tenants/alpha-works/audit?page_size=50").get_json()
    update = next(
        e
        for e in log
        if e["object_type"] == "sites"
        and e["action"] == "update"
        and e["object_id"] == str(site["id"])
    )
    # Only what changed, with its old and new value.
    assert update["before"] == {"name": "审计 before"}
    assert update["after"] == {"name": "审计 after"}
    assert update["actor_name"] == "mona@example.com" and update["actor_kind"] == "user"
    assert update["request_id"] == "audit-test-1"
    insert = next(
        e
        for e in log
        if e["object_type"] == "sites"
        and e["action"] == "insert"
        and e["object_id"] == str(site["id"])
    )
    assert insert["after"]["code"] == "AU1"
    # Nobody else's writes are in alpha's log.
    assert all(e["actor_name"] != "bob@example.com" for e in log)


def test_secrets_never_reach_the_audit_log(app: Any) -> None:
    db = app.extensions["ems"].db
    with db.engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT after::text FROM control.audit_log "
                    "WHERE object_type IN ('users', 'oauth_clients')"
                )
            )
            .scalars()
            .all()
        )
    assert rows
    assert not any(
        "argon2" in (r or "") or "password_hash" in (r or "") or "secret_hash" in (r or "")
        for r in rows
    )


def test_etag_is_required_and_checked(client_for: Any) -> None:
    mona = client_for("mona")
    site = mona.post(
        "/api/v1/tenants/alpha-works/sites", json={"code": "ET1", "name": "etag"}
    ).get_json()
    url = f"/api/v1/tenants/alpha-works/sites/{site['id']}"
    assert_error(mona.put(url, json={"code": "ET1", "name": "x"}), 428, "precondition_required")
    assert_error(
        mona.put(url, json={"code": "ET1", "name": "x"}, headers={"If-Match": '"stale"'}), 412
    )
    etag = mona.get(url).headers["ETag"]
    assert (
        mona.put(url, json={"code": "ET1", "name": "x"}, headers={"If-Match": etag}).status_code
        == 200
    )
    # The old ETag no longer matches after the change.
    assert_error(mona.delete(url, headers={"If-Match": etag}), 412)
    assert mona.delete(url, headers={"If-Match": mona.get(url).headers["ETag"]}).status_code == 204


def test_member_management(client_for: Any) -> None:
    alice = client_for("alice")
    members = alice.get("/api/v1/tenants/alpha-works/members").get_json()
    vera = next(m for m in members if m["email"] == "vera@example.com")
    url = f"/api/v1/tenants/alpha-works/members/{vera['id']}"
    etag = alice.get(url).headers.get("ETag")
    assert etag
    r = alice.put(url, json={"role": "operator"}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.get_json()["role"] == "operator"
    etag = alice.get(url).headers["ETag"]
    assert alice.put(url, json={"role": "viewer"}, headers={"If-Match": etag}).status_code == 200
    assert_error(
        alice.post(
            "/api/v1/tenants/alpha-works/members",
            json={"email": "pat@example.com", "role": "viewer"},
        ),
        409,
    )
    error = assert_error(
        alice.post(
            "/api/v1/tenants/alpha-works/members",
            json={"email": "nobody@example.com", "role": "provider_engineer"},
        ),
        422,
    )
    assert "role" in error["fields"]
