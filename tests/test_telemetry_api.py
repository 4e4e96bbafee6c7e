"""Telemetry routes: points (limits, uniqueness, the plan's limit), real-time values fed by
the real ingest core, the quarantine with its reasons and filters, and who may do what."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ems_edge import wire
from tests.conftest import ApiClient, assert_error
from tests.test_gateway_api import login, make_tenant, register, unique

ALPHA = "/api/v1/tenants/alpha-works"
POINTS = f"{ALPHA}/points"


def point_body(gateway_id: str, code: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "gateway_id": gateway_id,
        "code": code,
        "name": f"{code} 名称",
        "energy_type": "electricity",
        "kind": "instantaneous",
        "unit": "kW",
    }
    body.update(extra)
    return body


def create_point(client: ApiClient, body: dict[str, Any], base: str = POINTS) -> dict[str, Any]:
    response = client.post(base, json=body)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def alpha_points(client: ApiClient, gateway_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{POINTS}?gateway_id={gateway_id}&page_size=100")
    assert response.status_code == 200, response.get_json()
    points: list[dict[str, Any]] = response.get_json()
    return points


def utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@pytest.fixture
def ingestor(database: Any, settings: Any) -> Iterator[Any]:
    """The real ingest core on the test database, as this data centre."""
    from ems.ingest.core import Ingestor
    from ems.ingest.registry import Registry
    from ems.ingest.service import connector
    from ems_tenants import gateways

    with database.transaction() as session:
        row = gateways.data_centre(session, settings.dc_name, settings.secret_key)
        dc_key = gateways.data_centre_key(row, settings.secret_key)
    connect = connector(settings.database_url)
    ing = Ingestor(Registry(connect), settings.dc_name, dc_key, connect)
    yield ing
    ing.close()


# -- points --------------------------------------------------------------------------------


def test_points_create_show_list_replace(client_for: Any) -> None:
    alice = client_for("alice")
    gateway_id = register(alice, unique())["id"]
    energy = create_point(
        alice,
        point_body(
            gateway_id,
            "M1.energy",
            kind="cumulative",
            unit="kWh",
            meter_code="M1",
            min_value=0,
            rollover_max=99_999_999.99,
        ),
    )
    assert isinstance(energy["id"], int)
    assert {k: energy[k] for k in ("gateway_id", "code", "kind", "unit", "meter_code")} == {
        "gateway_id": gateway_id,
        "code": "M1.energy",
        "kind": "cumulative",
        "unit": "kWh",
        "meter_code": "M1",
    }
    assert (energy["min_value"], energy["max_value"], energy["rollover_max"]) == (
        0.0,
        None,
        99_999_999.99,
    )
    # Defaults.
    assert (energy["interval_s"], energy["fill_gaps"], energy["in_category_total"]) == (
        900,
        False,
        True,
    )
    assert energy["created_at"] and energy["updated_at"]

    power = create_point(alice, point_body(gateway_id, "M1.power", min_value=-5, max_value=800))
    shown = alice.get(f"{POINTS}/{energy['id']}")
    assert shown.status_code == 200
    assert shown.get_json() == energy
    assert [p["id"] for p in alpha_points(alice, gateway_id)] == [energy["id"], power["id"]]

    replaced = alice.put(
        f"{POINTS}/{power['id']}",
        json=point_body(
            gateway_id,
            "M1.power",
            name="1#进线 有功功率",
            min_value=None,
            max_value=900,
            interval_s=60,
        ),
    )
    assert replaced.status_code == 200, replaced.get_json()
    after = alice.get(f"{POINTS}/{power['id']}").get_json()
    assert after == replaced.get_json()
    assert (after["name"], after["max_value"], after["interval_s"]) == ("1#进线 有功功率", 900, 60)
    assert after["min_value"] is None  # cleared by an explicit null
    assert after["id"] == power["id"] and after["created_at"] == power["created_at"]
    assert datetime.fromisoformat(after["updated_at"]) >= datetime.fromisoformat(
        power["updated_at"]
    )

    # The same code on another gateway is another point.
    other_gateway = register(alice, unique())["id"]
    twin = create_point(alice, point_body(other_gateway, "M1.power"))
    assert twin["id"] not in (energy["id"], power["id"])
    assert [p["id"] for p in alpha_points(alice, other_gateway)] == [twin["id"]]


# What POST refuses (min > max, a rollover on an instantaneous point) must not be reachable
# through PUT by leaving the stored field that contradicts the new one out of the body.


def test_a_replacement_cannot_leave_the_minimum_above_the_maximum(client_for: Any) -> None:
    alice = client_for("alice")
    gateway_id = register(alice, unique())["id"]
    limited = create_point(alice, point_body(gateway_id, "L1", min_value=5))
    url = f"{POINTS}/{limited['id']}"
    response = alice.put(url, json=point_body(gateway_id, "L1", max_value=3))
    stored = alice.get(url).get_json()
    if response.status_code == 200:
        assert stored["min_value"] is None or stored["min_value"] <= stored["max_value"], stored
    else:
        error = assert_error(response, 422, "invalid_input")
        assert "min_value" in error["fields"]
        assert stored == limited


def test_a_replacement_cannot_leave_a_rollover_on_an_instantaneous_point(
    client_for: Any,
) -> None:
    alice = client_for("alice")
    gateway_id = register(alice, unique())["id"]
    counter = create_point(
        alice, point_body(gateway_id, "C1", kind="cumulative", unit="kWh", rollover_max=1e6)
    )
    url = f"{POINTS}/{counter['id']}"
    response = alice.put(url, json=point_body(gateway_id, "C1", kind="instantaneous"))
    stored = alice.get(url).get_json()
    if response.status_code == 200:
        assert stored["kind"] != "instantaneous" or stored["rollover_max"] is None, stored
    else:
        error = assert_error(response, 422, "invalid_input")
        assert "rollover_max" in error["fields"]
        assert stored == counter


def test_point_conflicts(client_for: Any) -> None:
    alice = client_for("alice")
    gateway_id = register(alice, unique())["id"]
    first = create_point(alice, point_body(gateway_id, "P1"))
    second = create_point(alice, point_body(gateway_id, "P2"))

    error = assert_error(alice.post(POINTS, json=point_body(gateway_id, "P1")), 409, "conflict")
    assert "code" in error["fields"]
    error = assert_error(
        alice.put(f"{POINTS}/{second['id']}", json=point_body(gateway_id, "P1")), 409, "conflict"
    )
    assert "code" in error["fields"]
    # Keeping its own code is no conflict.
    kept = alice.put(f"{POINTS}/{first['id']}", json=point_body(gateway_id, "P1", name="renamed"))
    assert kept.status_code == 200, kept.get_json()
    assert [(p["code"], p["name"]) for p in alpha_points(alice, gateway_id)] == [
        ("P1", "renamed"),
        ("P2", second["name"]),
    ]


def test_point_bad_input_names_the_field(client_for: Any) -> None:
    alice = client_for("alice")
    gateway_id = register(alice, unique())["id"]
    bob = client_for("bob")
    beta_gateway = register(bob, unique(), "/api/v1/tenants/beta-works/gateways")["id"]
    valid = point_body(gateway_id, "OK1")
    cases: list[tuple[dict[str, Any], str]] = [
        ({**valid, "gateway_id": "alpha-works-no-such-gw"}, "gateway_id"),
        ({**valid, "gateway_id": beta_gateway}, "gateway_id"),
        ({**valid, "min_value": 10, "max_value": 5}, "min_value"),
        ({**valid, "rollover_max": 1000}, "rollover_max"),  # instantaneous
        ({**valid, "kind": "cumulative", "rollover_max": 0}, "rollover_max"),
        ({**valid, "kind": "bogus"}, "kind"),
        ({**valid, "interval_s": 0}, "interval_s"),
        ({**valid, "code": ""}, "code"),
        ({**valid, "colour": "red"}, "colour"),
        ({k: v for k, v in valid.items() if k != "unit"}, "unit"),
    ]
    for payload, field in cases:
        error = assert_error(alice.post(POINTS, json=payload), 422, "invalid_input")
        assert field in error.get("fields", {}), (payload, error)
    # Not-a-number and infinities are no limits (JSON as Python writes it).
    for literal in ("NaN", "Infinity", "-Infinity"):
        for field in ("min_value", "max_value"):
            raw = json.dumps(valid)[:-1] + f', "{field}": {literal}}}'
            response = alice.post(POINTS, data=raw, content_type="application/json")
            error = assert_error(response, 422, "invalid_input")
            assert field in error.get("fields", {}), (raw, error)
    # A foreign gateway is refused exactly like a missing one.
    missing = alice.post(POINTS, json={**valid, "gateway_id": "alpha-works-no-such-gw"})
    foreign = alice.post(POINTS, json={**valid, "gateway_id": beta_gateway})
    strip = lambda r: {k: v for k, v in r.get_json()["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(missing) == strip(foreign)
    assert alpha_points(alice, gateway_id) == []

    # The same checks guard a replacement.
    point = create_point(alice, valid)
    for payload, field in cases[:5]:
        error = assert_error(alice.put(f"{POINTS}/{point['id']}", json=payload), 422)
        assert field in error.get("fields", {}), (payload, error)
    assert alpha_points(alice, gateway_id) == [point]
    assert_error(alice.get(f"{POINTS}/987654321"), 404, "not_found")
    assert_error(alice.put(f"{POINTS}/987654321", json=valid), 404, "not_found")


def test_trial_plan_point_limit(app: Any, database: Any, settings: Any) -> None:
    from sqlalchemy import func, select

    from ems.telemetry.models import Point

    tenant = make_tenant(database, settings, "trial")  # 500 points
    admin = login(app, tenant.admin_email)
    base = f"/api/v1/tenants/{tenant.slug}/points"
    gateway_id = register(admin, "gw1", f"/api/v1/tenants/{tenant.slug}/gateways")["id"]
    with database.transaction(tenant.schema) as session:
        session.add_all(
            Point(
                gateway_id=gateway_id,
                code=f"P{i}",
                name=f"P{i}",
                energy_type="electricity",
                kind="instantaneous",
                unit="kW",
            )
            for i in range(499)
        )
    last = create_point(admin, point_body(gateway_id, "P499"), base)
    error = assert_error(admin.post(base, json=point_body(gateway_id, "P500")), 403)
    assert error["code"] == "quota_exceeded" and "500" in error["message"]
    with database.session(tenant.schema) as session:
        assert session.scalar(select(func.count()).select_from(Point)) == 500
    # Replacing an existing point is not a new point.
    replaced = admin.put(f"{base}/{last['id']}", json=point_body(gateway_id, "P499", name="x"))
    assert replaced.status_code == 200, replaced.get_json()


# -- real-time values and the quarantine, fed by the ingest ------------------------------------


def test_realtime_and_quarantine_after_the_ingest(client_for: Any, ingestor: Any) -> None:
    from ems.ingest.core import Message

    alice = client_for("alice")
    gateway = register(alice, unique())
    gateway_id = gateway["id"]
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(gateway["signing_key"]))
    energy = create_point(alice, point_body(gateway_id, "M1.energy", kind="cumulative", unit="kWh"))
    power = create_point(alice, point_body(gateway_id, "M1.power"))
    flow = create_point(
        alice,
        point_body(
            gateway_id, "M2.flow", energy_type="water", unit="m3/h", min_value=0, max_value=500
        ),
    )
    assert alice.get(f"{ALPHA}/realtime?gateway_id={gateway_id}").get_json() == []

    now = int(time.time() * 1000)
    rows = [
        (1, "M1.energy", now - 120_000, 100.5),
        (2, "M1.power", now - 120_000, 7.0),
        (3, "M1.energy", now - 60_000, 101.25),
        (4, "M1.power", now - 60_000, 7.25),
        (5, "M2.flow", now - 60_000, 612.5),  # above the point's maximum
    ]
    payload = wire.encode_batch(gateway_id, "cfg1", rows, now, key)
    topic = wire.topic(gateway_id, wire.Channel.READINGS)
    outcome = ingestor.handle([Message(topic, payload)])
    assert (outcome.inserted, outcome.quarantined) == (4, 1)
    # A batch signed with a key the gateway does not have: refused whole.
    forged = wire.encode_batch(
        gateway_id, "cfg1", [(6, "M1.power", now, 9.0)], now, Ed25519PrivateKey.generate()
    )
    outcome = ingestor.handle([Message(topic, forged)])
    assert (outcome.inserted, outcome.quarantined) == (0, 1)

    # The gateway's page shows what the cloud last heard from it.
    heard = alice.get(f"{ALPHA}/gateways/{gateway_id}").get_json()["telemetry"]
    assert (heard["last_seq"], heard["config_version"]) == (5, "cfg1")
    last_batch_at = datetime.fromisoformat(heard["last_batch_at"])
    assert abs((last_batch_at - datetime.now(UTC)).total_seconds()) < 60

    response = alice.get(f"{ALPHA}/realtime?gateway_id={gateway_id}")
    assert response.status_code == 200, response.get_json()
    latest = response.get_json()
    assert [(v["point_id"], v["code"], v["value"], v["quality"]) for v in latest] == [
        (energy["id"], "M1.energy", 101.25, "valid"),
        (power["id"], "M1.power", 7.25, "valid"),
    ]
    for value in latest:
        assert datetime.fromisoformat(value["ts"]) == utc_ms(now - 60_000)
        assert value["gateway_id"] == gateway_id
        received = datetime.fromisoformat(value["received_at"])
        assert abs((received - datetime.now(UTC)).total_seconds()) < 60
    assert (latest[0]["unit"], latest[0]["name"]) == ("kWh", energy["name"])
    everything = alice.get(f"{ALPHA}/realtime").get_json()
    assert [v for v in everything if v["gateway_id"] == gateway_id] == latest
    assert flow["id"] not in {v["point_id"] for v in everything}

    url = f"{ALPHA}/quarantine?gateway_id={gateway_id}"
    response = alice.get(url)
    assert response.status_code == 200, response.get_json()
    assert json.loads(response.headers["X-Pagination"])["total"] == 2
    network, business = response.get_json()  # newest first
    assert (network["layer"], network["channel"], network["gateway_id"]) == (
        "network",
        "readings",
        gateway_id,
    )
    assert "signature" in network["reason"]
    assert network["payload_size"] == len(forged)
    assert network["point_code"] is None and network["seq"] is None
    assert (business["layer"], business["channel"], business["point_code"]) == (
        "business",
        "readings",
        "M2.flow",
    )
    assert (business["seq"], business["value"]) == (5, 612.5)
    assert datetime.fromisoformat(business["ts"]) == utc_ms(now - 60_000)
    assert "612.5" in business["reason"] and "maximum" in business["reason"]
    for entry in (network, business):
        assert "payload" not in entry  # the raw bytes are not sent back

    only_business = alice.get(f"{url}&layer=business").get_json()
    assert [e["id"] for e in only_business] == [business["id"]]
    only_network = alice.get(f"{url}&layer=network").get_json()
    assert [e["id"] for e in only_network] == [network["id"]]
    assert alice.get(f"{url}&layer=communication").get_json() == []
    error = assert_error(alice.get(f"{url}&layer=bogus"), 422, "invalid_input")
    assert "query.layer" in error["fields"]
    page = alice.get(f"{url}&page_size=1&page=2")
    assert [e["id"] for e in page.get_json()] == [business["id"]]

    # A viewer reads all of it and changes none of it.
    vera = client_for("vera")
    assert vera.get(f"{ALPHA}/realtime?gateway_id={gateway_id}").get_json() == latest
    assert vera.get(url).get_json() == [network, business]
    assert vera.get(f"{POINTS}/{flow['id']}").get_json() == flow
    assert_error(vera.post(POINTS, json=point_body(gateway_id, "V1")), 403, "forbidden")
    assert_error(
        vera.put(f"{POINTS}/{flow['id']}", json=point_body(gateway_id, "M2.flow")),
        403,
        "forbidden",
    )
    assert alice.get(f"{POINTS}/{flow['id']}").get_json() == flow


def test_operator_reads_but_does_not_configure_points(client_for: Any) -> None:
    alice = client_for("alice")
    gateway_id = register(alice, unique())["id"]
    point = create_point(alice, point_body(gateway_id, "OP1"))
    oscar = client_for("oscar")
    assert oscar.get(f"{POINTS}/{point['id']}").get_json() == point
    assert_error(oscar.post(POINTS, json=point_body(gateway_id, "OP2")), 403, "forbidden")
    assert_error(
        oscar.put(f"{POINTS}/{point['id']}", json=point_body(gateway_id, "OP1", name="x")),
        403,
        "forbidden",
    )
    assert alpha_points(alice, gateway_id) == [point]
