"""Fixtures of the meter ledger tests: request helpers, and a fresh tenant for tests that
count everything in a ledger (round trips, reminders)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import PASSWORD, ApiClient, credit

BASE = "/api/v1/tenants/alpha-works"


def tag() -> str:
    return uuid.uuid4().hex[:8].upper()


def meter_body(**changes: Any) -> dict[str, Any]:
    """A valid meter with a fresh management number."""
    return {"name": "电能表", "level": 1, "management_number": f"M-{tag()}", **changes}


def make_meter(client: Any, base: str = BASE, **changes: Any) -> dict[str, Any]:
    r = client.post(f"{base}/meters", json=meter_body(**changes))
    assert r.status_code == 201, r.get_json()
    made: dict[str, Any] = r.get_json()
    return made


def editable(made: dict[str, Any], **changes: Any) -> dict[str, Any]:
    keep = {
        k: v
        for k, v in made.items()
        if k not in ("id", "created_at", "updated_at", "next_due_overridden")
    }
    return {**keep, **changes}


def put_meter(client: Any, meter_id: int, body: dict[str, Any], base: str = BASE) -> Any:
    etag = client.get(f"{base}/meters/{meter_id}").headers["ETag"]
    return client.put(f"{base}/meters/{meter_id}", json=body, headers={"If-Match": etag})


@dataclass
class Fresh:
    """A tenant of its own: an empty ledger to count in."""

    slug: str
    schema: str
    tenant_id: int
    users: dict[str, str]  # role -> email
    client: Callable[[str], ApiClient]

    @property
    def base(self) -> str:
        return f"/api/v1/tenants/{self.slug}"


@pytest.fixture
def fresh(app: Any, database: Any, settings: Any) -> Fresh:
    """A new provisioned tenant with an administrator, an operator and a viewer."""
    return new_tenant(app, database, settings)


def new_tenant(app: Any, database: Any, settings: Any) -> Fresh:
    """Provision a tenant of its own (about a second: its migrations run)."""
    from ems_tenants import members, services

    t = tag().lower()
    users = {role: f"{role}-{t}@example.com" for role in ("tenant_admin", "operator", "viewer")}
    with database.transaction() as s:
        tenant = services.create_tenant(
            s,
            services.TenantDraft(
                slug=f"ledger-{t}",
                name=f"台账 {t}",
                credit_code=credit(f"91530100{int(t, 16) % 10**9:09d}"),
                region_code="440300",  # outside the Yunnan regulator's region
                industry_code="C3110",
                plan="enterprise",
            ),
        )
        services.provision(s, database.engine, settings.migrations_dir, tenant)
        for role, email in users.items():
            members.create_user(s, email=email, name=email, password=PASSWORD)
            members.add_member(s, tenant, email, role)
        made = (tenant.slug, tenant.schema_name, tenant.id)

    def client(role: str = "tenant_admin") -> ApiClient:
        c = ApiClient(app.test_client())
        r = c.login(users[role])
        assert r.status_code == 200, r.get_json()
        return c

    return Fresh(made[0], made[1], made[2], users, client)
