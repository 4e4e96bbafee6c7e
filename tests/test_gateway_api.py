"""Gateway routes: registration with secrets shown once, the broker's files, rotation,
revocation, bad input, the plan's gateway limit, roles and the audit log."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import PASSWORD, ApiClient, assert_error, credit

ALPHA = "/api/v1/tenants/alpha-works"
GATEWAYS = f"{ALPHA}/gateways"
SECRETS = {"password", "password_hash", "signing_key", "username", "agent_config"}

# A minimal bus, so the agent configuration the platform hands out can be validated
# by the agent's own parser (it refuses a configuration without points).
BUSES = """
buses:
  - name: compressors
    kind: modbus-tcp
    host: 192.168.10.20
    port: 502
    meters:
      - id: MB001
        name: compressor 1
        unit_id: 1
        points:
          - id: MB001.ep
            energy_type: electricity
            kind: cumulative
            unit: kWh
            interval: 15min
            register: {function: holding, address: 0, type: float32}
"""


def unique(prefix: str = "gw") -> str:
    """A gateway name no other test uses (gateway ids are global)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def raw_public_of(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode()


def new_public_key() -> str:
    return raw_public_of(Ed25519PrivateKey.generate())


def expected_acl(gateway_id: str) -> list[str]:
    """The topic lines of one gateway, spelled out from the wire spec."""
    base = f"ems/v1/gw/{gateway_id}"
    return [
        f"topic write {base}/readings",
        f"topic write {base}/events",
        f"topic write {base}/completeness",
        f"topic write {base}/replies",
        f"topic write {base}/status",
        f"topic read {base}/commands",
        f"topic read {base}/ack/+",
    ]


def broker_files(settings: Any) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The rendered ``passwd`` (user -> hash) and ``acl`` (user -> topic lines)."""
    passwd_text = (settings.broker_dir / "passwd").read_text(encoding="utf-8")
    passwd = dict(line.split(":", 1) for line in passwd_text.splitlines() if line)
    acl: dict[str, list[str]] = {}
    user: str | None = None
    for line in (settings.broker_dir / "acl").read_text(encoding="utf-8").splitlines():
        if line.startswith("user "):
            user = line.removeprefix("user ")
            assert user not in acl, f"two ACL sections for {user}"
            acl[user] = []
        elif line.startswith("topic "):
            assert user is not None, "a topic line before any user line"
            acl[user].append(line)
    return passwd, acl


def gateway_row(database: Any, gateway_id: str) -> Any:
    from ems_tenants.models import Gateway

    with database.session() as session:
        row = session.get(Gateway, gateway_id)
        if row is not None:
            session.expunge(row)
        return row


def register(client: ApiClient, name: str, base: str = GATEWAYS, **extra: Any) -> dict[str, Any]:
    response = client.post(base, json={"name": name, **extra})
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


@dataclass
class FreshTenant:
    """A tenant made for one test, with its tenant administrator."""

    slug: str
    schema: str
    tenant_id: int
    admin_email: str


def make_tenant(database: Any, settings: Any, plan: str) -> FreshTenant:
    """A provisioned tenant on ``plan`` (unique slug) and a tenant admin for it."""
    from ems_tenants import members, services

    tag = uuid.uuid4().hex[:8]
    with database.transaction() as session:
        tenant = services.create_tenant(
            session,
            services.TenantDraft(
                slug=f"quota-{tag}",
                name=f"配额 {tag}",
                credit_code=credit(f"91530100{int(tag, 16) % 10**9:09d}"),
                region_code="440300",  # outside the Yunnan regulator's region
                industry_code="C3110",
                plan=plan,
            ),
        )
        services.provision(session, database.engine, settings.migrations_dir, tenant)
        email = f"admin-{tag}@example.com"
        members.create_user(session, email=email, name=f"admin {tag}", password=PASSWORD)
        members.add_member(session, tenant, email, "tenant_admin")
        assert tenant.schema_name is not None
        return FreshTenant(tenant.slug, tenant.schema_name, tenant.id, email)


def login(app: Any, email: str) -> ApiClient:
    client = ApiClient(app.test_client())
    response = client.login(email)
    assert response.status_code == 200, response.get_json()
    return client


def near(value: str | None, expected: datetime, slack: timedelta = timedelta(minutes=1)) -> bool:
    assert value is not None
    return abs(datetime.fromisoformat(value) - expected) < slack


# -- registration --------------------------------------------------------------------------


def test_register_shows_the_secrets_once_in_a_config_the_agent_accepts(
    client_for: Any, database: Any, settings: Any, world: Any
) -> None:
    from ems_edge.config import parse_config
    from ems_tenants.broker import verify_password
    from ems_tenants.models import DataCentre

    alice = client_for("alice")
    name = unique()
    body = register(alice, name, site_code="S1")
    gateway_id = f"alpha-works-{name}"

    assert body["id"] == body["username"] == gateway_id
    assert (body["name"], body["site_code"], body["status"]) == (name, "S1", "active")
    assert body["rotated_at"] is None and body["revoked_at"] is None
    assert body["telemetry"] is None  # nothing heard from it yet
    assert near(body["created_at"], datetime.now(UTC))
    password = body["password"]
    assert isinstance(password, str) and len(password) >= 24
    seed = base64.b64decode(body["signing_key"], validate=True)
    assert len(seed) == 32
    private = Ed25519PrivateKey.from_private_bytes(seed)
    assert raw_public_of(private) == body["public_key"]

    with database.session() as session:
        dc = session.get(DataCentre, settings.dc_name)
        assert dc is not None
        assert body["data_centre_key"] == dc.public_key

    # The agent configuration, as YAML and as the agent itself reads it.
    document = yaml.safe_load(body["agent_config"])
    assert document["gateway"] == {"id": gateway_id, "signing_key": body["signing_key"]}
    (centre,) = document["data_centres"]
    host, _, port = settings.mqtt_public.rpartition(":")
    assert centre == {
        "name": settings.dc_name,
        "host": host,
        "port": int(port),
        "username": gateway_id,
        "password": password,
        "key": body["data_centre_key"],
    }
    config = parse_config(body["agent_config"] + BUSES)
    assert config.gateway.id == gateway_id
    assert raw_public_of(config.gateway.signing_key) == body["public_key"]
    (dc_config,) = config.data_centres
    assert (dc_config.username, dc_config.password) == (gateway_id, password)
    dc_raw = dc_config.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.b64encode(dc_raw).decode() == body["data_centre_key"]

    # The registry keeps the hash and the public key only.
    row = gateway_row(database, gateway_id)
    assert row.tenant_id == world.tenants["alpha"].id
    assert row.public_key == body["public_key"]
    assert verify_password(password, row.password_hash)
    assert not verify_password(password + "x", row.password_hash)
    assert password not in row.password_hash

    # The broker may let it in, into its own topics only.
    passwd, acl = broker_files(settings)
    assert passwd[gateway_id] == row.password_hash
    assert acl[gateway_id] == expected_acl(gateway_id)


def test_register_with_the_gateways_own_key_returns_no_signing_key(
    client_for: Any, database: Any
) -> None:
    public = new_public_key()
    body = register(client_for("alice"), unique(), public_key=public)
    assert body["signing_key"] is None
    assert body["public_key"] == public
    assert gateway_row(database, body["id"]).public_key == public
    document = yaml.safe_load(body["agent_config"])
    assert "signing_key" not in document["gateway"]
    assert document["gateway"]["signing_key_file"]  # points at the key the owner holds
    assert document["data_centres"][0]["password"] == body["password"]


def test_list_and_show_never_contain_secrets(client_for: Any, database: Any) -> None:
    alice = client_for("alice")
    body = register(alice, unique())
    password_hash = gateway_row(database, body["id"]).password_hash

    listed = alice.get(GATEWAYS)
    assert listed.status_code == 200
    items = {item["id"]: item for item in listed.get_json()}
    assert body["id"] in items
    shown = alice.get(f"{GATEWAYS}/{body['id']}")
    assert shown.status_code == 200
    assert shown.get_json() == items[body["id"]]
    for response in (listed, shown):
        text = response.get_data(as_text=True)
        assert body["password"] not in text and password_hash not in text
        assert body["signing_key"] not in text
    for item in items.values():
        assert not SECRETS & set(item), item
        assert "data_centre_key" not in item
    assert items[body["id"]]["public_key"] == body["public_key"]
    assert all(gid.startswith("alpha-works-") for gid in items)


def test_show_of_an_unknown_gateway_is_not_found(client_for: Any) -> None:
    alice = client_for("alice")
    assert_error(alice.get(f"{GATEWAYS}/alpha-works-no-such"), 404, "not_found")
    assert_error(alice.post(f"{GATEWAYS}/alpha-works-no-such/rotate", json={}), 404, "not_found")
    assert_error(alice.post(f"{GATEWAYS}/alpha-works-no-such/revoke"), 404, "not_found")


# -- rotation and revocation ---------------------------------------------------------------


def test_rotate_issues_new_secrets_and_keeps_the_old_key_for_a_day(
    client_for: Any, database: Any, settings: Any
) -> None:
    from ems.ingest.registry import Registry
    from ems.ingest.service import connector
    from ems_tenants.broker import verify_password

    alice = client_for("alice")
    first = register(alice, unique())
    gateway_id = first["id"]

    response = alice.post(f"{GATEWAYS}/{gateway_id}/rotate", json={})
    assert response.status_code == 200, response.get_json()
    second = response.get_json()
    assert second["id"] == second["username"] == gateway_id
    assert second["password"] != first["password"]
    assert second["signing_key"] and second["signing_key"] != first["signing_key"]
    assert second["public_key"] != first["public_key"]
    new_private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(second["signing_key"]))
    assert raw_public_of(new_private) == second["public_key"]
    assert second["data_centre_key"] == first["data_centre_key"]
    assert near(second["rotated_at"], datetime.now(UTC))
    document = yaml.safe_load(second["agent_config"])
    assert document["gateway"]["signing_key"] == second["signing_key"]
    assert document["data_centres"][0]["password"] == second["password"]

    row = gateway_row(database, gateway_id)
    assert row.public_key == second["public_key"]
    assert row.previous_public_key == first["public_key"]
    assert near(row.previous_key_valid_until.isoformat(), datetime.now(UTC) + timedelta(hours=24))
    assert verify_password(second["password"], row.password_hash)
    assert not verify_password(first["password"], row.password_hash)
    passwd, acl = broker_files(settings)
    assert passwd[gateway_id] == row.password_hash
    assert acl[gateway_id] == expected_acl(gateway_id)

    # The ingest verifies with the new key and, during the grace, the old one.
    info = Registry(connector(settings.database_url)).gateway(gateway_id)
    assert info is not None and info.active
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert [base64.b64encode(k.public_bytes(*raw)).decode() for k in info.keys] == [
        second["public_key"],
        first["public_key"],
    ]


def test_rotate_to_the_gateways_own_key_and_bad_keys(client_for: Any, database: Any) -> None:
    alice = client_for("alice")
    first = register(alice, unique())
    url = f"{GATEWAYS}/{first['id']}/rotate"
    before = gateway_row(database, first["id"])
    for bad in ("not base64!", base64.b64encode(b"\x01" * 31).decode(), "A" * 65):
        error = assert_error(alice.post(url, json={"public_key": bad}), 422, "invalid_input")
        assert "public_key" in error["fields"], error
    assert_error(alice.post(url, json={"public_key": new_public_key(), "x": 1}), 422)
    after = gateway_row(database, first["id"])
    assert (after.password_hash, after.public_key, after.rotated_at) == (
        before.password_hash,
        before.public_key,
        None,
    )

    own = new_public_key()
    response = alice.post(url, json={"public_key": own})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["signing_key"] is None and body["public_key"] == own
    assert gateway_row(database, first["id"]).previous_public_key == first["public_key"]


def test_revoke_removes_the_broker_account_and_refuses_rotation(
    client_for: Any, database: Any, settings: Any
) -> None:
    alice = client_for("alice")
    body = register(alice, unique())
    gateway_id = body["id"]
    alice.post(f"{GATEWAYS}/{gateway_id}/rotate", json={})  # a key in its grace period
    passwd, _ = broker_files(settings)
    assert gateway_id in passwd

    response = alice.post(f"{GATEWAYS}/{gateway_id}/revoke")
    assert response.status_code == 200, response.get_json()
    revoked = response.get_json()
    assert (revoked["id"], revoked["status"]) == (gateway_id, "revoked")
    assert near(revoked["revoked_at"], datetime.now(UTC))
    assert not SECRETS & set(revoked)
    row = gateway_row(database, gateway_id)
    assert row.status == "revoked"
    assert row.previous_public_key is None and row.previous_key_valid_until is None
    passwd, acl = broker_files(settings)
    assert gateway_id not in passwd and gateway_id not in acl
    assert not any(gateway_id in line for lines in acl.values() for line in lines)

    again = alice.post(f"{GATEWAYS}/{gateway_id}/revoke")
    assert again.status_code == 200
    assert again.get_json()["revoked_at"] == revoked["revoked_at"]

    hash_before = row.password_hash
    assert_error(alice.post(f"{GATEWAYS}/{gateway_id}/rotate", json={}), 409, "conflict")
    assert gateway_row(database, gateway_id).password_hash == hash_before
    passwd, acl = broker_files(settings)
    assert gateway_id not in passwd and gateway_id not in acl
    shown = alice.get(f"{GATEWAYS}/{gateway_id}").get_json()
    assert shown["status"] == "revoked"


# -- bad input -----------------------------------------------------------------------------


def _alpha_gateway_ids(database: Any, world: Any) -> set[str]:
    from sqlalchemy import select

    from ems_tenants.models import Gateway

    with database.session() as session:
        return set(
            session.scalars(
                select(Gateway.id).where(Gateway.tenant_id == world.tenants["alpha"].id)
            )
        )


def test_bad_input_names_the_field_and_changes_nothing(
    client_for: Any, database: Any, world: Any
) -> None:
    alice = client_for("alice")
    before = _alpha_gateway_ids(database, world)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "Bad_Name"}, "name"),
        ({"name": "UPPER"}, "name"),
        ({"name": "-leading-dash"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "a" * 24}, "name"),
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": 17}, "name"),
        ({"name": unique(), "public_key": "not base64!"}, "public_key"),
        ({"name": unique(), "public_key": base64.b64encode(b"k" * 31).decode()}, "public_key"),
        ({"name": unique(), "public_key": base64.b64encode(b"k" * 33).decode()}, "public_key"),
        ({"name": unique(), "public_key": "A" * 65}, "public_key"),
        ({"name": unique(), "site_code": "S" * 33}, "site_code"),
        ({"name": unique(), "colour": "red"}, "colour"),
    ]
    for payload, field in cases:
        error = assert_error(alice.post(GATEWAYS, json=payload), 422, "invalid_input")
        assert field in error.get("fields", {}), (payload, error)
    assert _alpha_gateway_ids(database, world) == before

    # The longest name that fits, and then the same name again.
    name = "a" + uuid.uuid4().hex[:22]
    assert len(name) == 23
    register(alice, name)
    error = assert_error(alice.post(GATEWAYS, json={"name": name}), 409, "conflict")
    assert "name" in error["fields"]
    assert _alpha_gateway_ids(database, world) == before | {f"alpha-works-{name}"}


def test_a_body_that_is_not_json_is_refused(client_for: Any) -> None:
    alice = client_for("alice")
    response = alice.post(GATEWAYS, data="{name: x", content_type="application/json")
    assert response.status_code in (400, 422)
    assert_error(response, response.status_code)


# -- the plan's limit ----------------------------------------------------------------------


def test_trial_plan_allows_two_active_gateways(app: Any, database: Any, settings: Any) -> None:
    from sqlalchemy import func, select

    from ems_tenants.models import Gateway

    tenant = make_tenant(database, settings, "trial")
    admin = login(app, tenant.admin_email)
    base = f"/api/v1/tenants/{tenant.slug}/gateways"
    first = register(admin, "one", base)
    register(admin, "two", base)
    error = assert_error(admin.post(base, json={"name": "three"}), 403, "quota_exceeded")
    assert "2" in error["message"]
    with database.session() as session:
        count = session.scalar(
            select(func.count()).select_from(Gateway).where(Gateway.tenant_id == tenant.tenant_id)
        )
    assert count == 2
    passwd, _ = broker_files(settings)
    assert f"{tenant.slug}-three" not in passwd
    assert admin.get(base).status_code == 200
    assert len(admin.get(base).get_json()) == 2

    # A revoked gateway no longer counts against the plan.
    assert admin.post(f"{base}/{first['id']}/revoke").status_code == 200
    third = register(admin, "three", base)
    assert third["id"] == f"{tenant.slug}-three"


# -- roles and the audit log ---------------------------------------------------------------


def test_roles(client_for: Any, database: Any) -> None:
    alice = client_for("alice")
    body = register(alice, unique())
    gateway_id = body["id"]
    before = gateway_row(database, gateway_id)
    for who in ("vera", "oscar"):
        client = client_for(who)
        name = unique(who)
        assert_error(client.post(GATEWAYS, json={"name": name}), 403, "forbidden")
        assert gateway_row(database, f"alpha-works-{name}") is None
        assert_error(client.post(f"{GATEWAYS}/{gateway_id}/rotate", json={}), 403, "forbidden")
        assert_error(client.post(f"{GATEWAYS}/{gateway_id}/revoke"), 403, "forbidden")
        listed = client.get(GATEWAYS)
        assert listed.status_code == 200
        assert gateway_id in {item["id"] for item in listed.get_json()}
        shown = client.get(f"{GATEWAYS}/{gateway_id}")
        assert shown.status_code == 200 and not SECRETS & set(shown.get_json())
    after = gateway_row(database, gateway_id)
    assert (after.status, after.password_hash, after.public_key) == (
        before.status,
        before.password_hash,
        before.public_key,
    )
    # An energy manager configures plants, gateways included.
    assert register(client_for("mona"), unique("mona"))["status"] == "active"
    # Anonymous callers get nothing.
    assert_error(client_for().get(GATEWAYS), 401, "unauthenticated")


def test_audit_log_records_registration_and_rotation_without_secrets(
    client_for: Any, database: Any, world: Any
) -> None:
    alice = client_for("alice")
    body = register(alice, unique())
    gateway_id = body["id"]
    first_hash = gateway_row(database, gateway_id).password_hash
    rotated = alice.post(f"{GATEWAYS}/{gateway_id}/rotate", json={}).get_json()
    second_hash = gateway_row(database, gateway_id).password_hash

    response = alice.get(f"{ALPHA}/audit?page_size=100")
    assert response.status_code == 200
    entries = [
        e
        for e in response.get_json()
        if e["object_type"] == "gateways" and e["object_id"] == gateway_id
    ]
    assert [e["action"] for e in entries] == ["update", "insert"]  # newest first
    update, insert = entries
    assert insert["after"]["id"] == gateway_id
    assert insert["after"]["public_key"] == body["public_key"]
    assert insert["after"]["status"] == "active"
    assert insert["actor_name"] == world.users["alice"]
    assert update["after"]["public_key"] == rotated["public_key"]
    assert update["before"]["public_key"] == body["public_key"]
    for entry in entries:
        for image in (entry["before"], entry["after"]):
            assert "password_hash" not in (image or {})
    text = json.dumps(entries)
    for secret in (
        body["password"],
        body["signing_key"],
        rotated["password"],
        rotated["signing_key"],
        first_hash,
        second_hash,
    ):
        assert secret not in text
