"""Replacing a meter: one counter base change per cumulative point (and a dirty range, so
the rollups recompute), the ledger row and state history updated, the interval consumption
across the swap right; bad input writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_error
from tests.ingest import conftest as ingest_fixtures
from tests.meters.conftest import BASE, make_meter, tag
from tests.telemetry.test_rollups import Connect, consumption, roll, write

make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect
AT = "2026-03-10T12:20:00+08:00"


def point(client: Any, gateway: str, meter_code: str, kind: str = "cumulative") -> int:
    body = {
        "gateway_id": gateway,
        "code": f"P{tag()}",
        "name": "计量点",
        "meter_code": meter_code,
        "energy_type": "electricity",
        "kind": kind,
        "unit": "kWh" if kind == "cumulative" else "kW",
    }
    r = client.post(f"{BASE}/points", json=body)
    assert r.status_code == 201, r.get_json()
    point_id: int = r.get_json()["id"]
    return point_id


@pytest.fixture
def swap(client_for: Any) -> dict[str, Any]:
    """An alpha meter feeding two counters (import, export energy) and a power gauge."""
    alice = client_for("alice")
    gateway = alice.post(f"{BASE}/gateways", json={"name": f"r{tag().lower()}"}).get_json()["id"]
    number = f"RM-{tag()}"
    points = {
        "import": point(alice, gateway, number),
        "export": point(alice, gateway, number),
        "power": point(alice, gateway, number, "instantaneous"),
    }
    meter = make_meter(
        alice,
        management_number=number,
        factory_number="OLD-1",
        model="DTZ341",
        interval_months=24,
        state="faulty",
        state_since="2026-03-01",
    )
    return {"meter": meter, "points": points, "url": f"{BASE}/meters/{meter['id']}"}


def bases(swap: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "at": AT,
        "points": [
            {"point_id": swap["points"]["import"], "old_final": 1234.5, "new_initial": 0.0},
            {"point_id": swap["points"]["export"], "old_final": 88.0, "new_initial": 1.5},
        ],
        "note": "表计烧坏更换",
    }
    return {**body, **changes}


def counts(app: Any, world: Any) -> tuple[int, int, int, int]:
    from ems.meters.models import MeterExchange, MeterStateChange
    from ems.telemetry.models import DirtyRange
    from ems.telemetry.rollup_models import MeterReplacement

    with app.extensions["ems"].db.session(world.tenants["alpha"].schema_name) as s:
        a, b, c, d = (
            int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (MeterReplacement, DirtyRange, MeterExchange, MeterStateChange)
        )
    return a, b, c, d


def test_a_replacement_records_counter_bases_and_the_new_meter(
    app: Any, world: Any, client_for: Any, swap: dict[str, Any]
) -> None:
    from ems.telemetry.models import DirtyRange
    from ems.telemetry.rollup_models import MeterReplacement

    alice = client_for("alice")
    new_meter = {
        "factory_number": "NEW-2",
        "model": "DTZ341-G",
        "verification": {"performed_on": "2026-02-20", "result": "pass", "body": "省计量院"},
    }
    r = alice.post(f"{swap['url']}/replacements", json=bases(swap, new_meter=new_meter))
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    assert (made["old_factory_number"], made["new_factory_number"]) == ("OLD-1", "NEW-2")
    assert (made["old_model"], made["new_model"]) == ("DTZ341", "DTZ341-G")
    assert {(p["point_id"], p["old_final"], p["new_initial"]) for p in made["points"]} == {
        (swap["points"]["import"], 1234.5, 0.0),
        (swap["points"]["export"], 88.0, 1.5),
    }
    at = datetime(2026, 3, 10, 4, 20, tzinfo=UTC)
    counters = [swap["points"]["import"], swap["points"]["export"]]
    with app.extensions["ems"].db.session(world.tenants["alpha"].schema_name) as s:
        rows = s.scalars(select(MeterReplacement).where(MeterReplacement.point.in_(counters)))
        assert sorted((r.point, r.at, r.note) for r in rows) == [
            (pid, at, "表计烧坏更换") for pid in sorted(counters)
        ]
        dirty = s.scalars(select(DirtyRange).where(DirtyRange.from_ts == at)).all()
        assert sorted(d.points[0] for d in dirty if d.points[0] in counters) == sorted(counters)
    meter = alice.get(swap["url"]).get_json()
    assert (meter["factory_number"], meter["model"]) == ("NEW-2", "DTZ341-G")
    assert (meter["state"], meter["state_since"], meter["installed_on"]) == (
        "normal",
        "2026-03-10",  # the replacement's date in the tenant's zone
        "2026-03-10",
    )
    assert (meter["last_verified_on"], meter["next_due_on"]) == ("2026-02-20", "2028-02-20")
    history = alice.get(f"{swap['url']}/states").get_json()
    assert history[0]["state"] == "normal" and "OLD-1 -> NEW-2" in history[0]["reason"]
    listed = alice.get(f"{swap['url']}/replacements").get_json()
    assert [e["id"] for e in listed] == [made["id"]]


def test_bad_replacements_write_nothing(
    app: Any, world: Any, client_for: Any, swap: dict[str, Any]
) -> None:
    alice = client_for("alice")
    ids = swap["points"]
    both = bases(swap)["points"]
    other = point(alice, alice.get(f"{BASE}/gateways").get_json()[0]["id"], "elsewhere")
    cases = [
        (bases(swap, points=both[:1]), "points"),  # a counter of the meter left out
        (bases(swap, points=[*both, {**both[0], "point_id": ids["power"]}]), "points.2.point_id"),
        (bases(swap, points=[*both, {**both[0], "point_id": other}]), "points.2.point_id"),
        (bases(swap, points=[*both, both[1]]), "points.2.point_id"),  # listed twice
        (bases(swap, at="2026-03-10T12:20:00"), "at"),  # no zone
        (
            bases(swap, points=[{"point_id": ids["import"], "old_final": 1.0}]),
            "points.0.new_initial",
        ),
        (
            bases(
                swap,
                new_meter={
                    "verification": {
                        "performed_on": "2026-03-01",
                        "result": "pass",
                        "next_due_on": "2026-02-01",
                    }
                },
            ),
            "new_meter.verification.next_due_on",
        ),
    ]
    before = counts(app, world)
    for body, field in cases:
        error = assert_error(alice.post(f"{swap['url']}/replacements", json=body), 422)
        assert field in error["fields"], (field, error)
    assert counts(app, world) == before
    assert alice.get(swap["url"]).get_json()["factory_number"] == "OLD-1"
    for role in ("oscar", "vera"):
        assert_error(client_for(role).post(f"{swap['url']}/replacements", json=bases(swap)), 403)
    assert counts(app, world) == before
    # The same moment twice for a point is a conflict, not a second counter base.
    assert alice.post(f"{swap['url']}/replacements", json=bases(swap)).status_code == 201
    again = alice.post(f"{swap['url']}/replacements", json=bases(swap))
    assert "at" in assert_error(again, 409, "conflict")["fields"]


def test_interval_consumption_across_a_replacement(
    make_plant: Any, connect: Connect, database: Any
) -> None:
    from ems.context import TenantRef, current_tenant
    from ems.meters import points, replacement, services

    plant = make_plant()
    energy = plant.points["M1.energy"]

    def at(minute: int) -> datetime:
        return datetime(2026, 3, 10, 4, minute, tzinfo=UTC)

    write(connect, plant.schema, energy, [(at(0), 100.0), (at(15), 110.0), (at(30), 5.0)])
    token = current_tenant.set(TenantRef(plant.tenant_id, plant.slug, plant.schema))
    try:
        with database.transaction(plant.schema) as s:
            meter = services.save_meter(
                s, {"name": "电能表", "level": 1, "management_number": "M1"}
            )
            points.link_point(s, meter, energy)
            data = {
                "at": at(20),
                "points": [{"point_id": energy, "old_final": 112.0, "new_initial": 0.0}],
            }
            replacement.replace_meter(s, meter, data, at(20).date())
    finally:
        current_tenant.reset(token)
    roll(database, plant.schema, "Asia/Shanghai")
    days = consumption(connect, plant.schema, energy, "1d")
    # 100 -> 110 on the old meter, 110 -> 112 up to the swap, then 0 -> 5 on the new one.
    assert sum(row[0] for row in days.values()) == 10.0 + 2.0 + 5.0
