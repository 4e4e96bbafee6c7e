"""The meter ledger (DB53/T 1026 table A.1): every column, bad input per field, roles, state
history, next due dates, verification records, links to points, the summary, guards."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_error
from tests.meters.conftest import (
    BASE,
    Fresh,
    editable,
    make_meter,
    meter_body,
    put_meter,
    tag,
)

EVERY_FIELD = {
    "name": "电能表 1#进线",
    "type_code": "1206100",
    "level": 2,
    "parameters": "有功电能 kWh",
    "model": "DTZ341 3×1.5(6)A",
    "accuracy_class": "0.5S",
    "measuring_range": "0-6 A",
    "manufacturer": "威胜集团",
    "location": "一号变电所 1#进线柜",
    "installed_by": 2,
    "installed_on": "2020-05-01",
    "connected_system": 1,
    "state": "faulty",
    "state_since": "2025-03-02",
    "verification_result": "pass",
    "verification_body": "云南省计量测试技术研究院",
    "interval_months": 24,
    "last_verified_on": "2024-06-30",
    "not_verified_reason": None,
    "energy_type": "electricity",
    "ct_ratio": "40",
    "pt_ratio": "100",
    "factory_number": "F-0001",
}


def test_every_column_is_stored_and_shown(client_for: Any, world: Any) -> None:
    alice = client_for("alice")
    made = make_meter(alice, **EVERY_FIELD, site_id=world.sites["alpha"][0])
    shown = client_for("vera").get(f"{BASE}/meters/{made['id']}")
    assert shown.status_code == 200 and shown.headers["ETag"]
    body = shown.get_json()
    for key, value in EVERY_FIELD.items():
        assert body[key] == value, key
    assert body["next_due_on"] == "2026-06-30" and body["next_due_overridden"] is False
    assert body["site_id"] == world.sites["alpha"][0] and body["unit_id"] is None
    listed = alice.get(f"{BASE}/meters?q={made['management_number']}").get_json()
    assert [m["id"] for m in listed] == [made["id"]]
    by_level = alice.get(f"{BASE}/meters?level=2&state=faulty&type_code=1206100").get_json()
    assert made["id"] in [m["id"] for m in by_level]
    assert made["id"] not in [m["id"] for m in alice.get(f"{BASE}/meters?level=3").get_json()]
    assert "query.q" in assert_error(alice.get(f"{BASE}/meters?q=a%00b"), 422)["fields"]


def test_energy_type_by_chinese_name_is_stored_as_its_code(client_for: Any) -> None:
    made = make_meter(client_for("alice"), energy_type="电力")
    assert made["energy_type"] == "electricity"


BAD_FIELDS = [
    ({"name": None}, "name", 422),
    ({"name": ""}, "name", 422),
    ({"name": "电能表\x00"}, "name", 422),  # PostgreSQL refuses NUL in text
    ({"location": "一号\x07柜"}, "location", 422),
    ({"level": 4}, "level", 422),
    ({"level": None}, "level", 422),
    ({"type_code": "12061"}, "type_code", 422),
    ({"type_code": "9999999"}, "type_code", 422),  # well-formed, not in the catalogue
    ({"energy_type": "plutonium"}, "energy_type", 422),
    ({"site_id": 999_999}, "site_id", 422),
    ({"site_id": 2**31}, "site_id", 422),
    ({"unit_id": 999_999}, "unit_id", 422),
    ({"gateway_id": "alpha-works-nope"}, "gateway_id", 422),
    ({"installed_by": 4}, "installed_by", 422),
    ({"connected_system": 3}, "connected_system", 422),
    ({"state": "broken"}, "state", 422),
    ({"state_since": "2025-02-30"}, "state_since", 422),
    ({"verification_result": "ok"}, "verification_result", 422),
    ({"interval_months": 0}, "interval_months", 422),
    ({"interval_months": 241}, "interval_months", 422),
    ({"last_verified_on": "1850-01-01"}, "last_verified_on", 422),
    (
        {"last_verified_on": "2025-01-01", "interval_months": 12, "next_due_on": "2024-12-31"},
        "next_due_on",
        422,
    ),
    ({"ct_ratio": "0"}, "ct_ratio", 422),
    ({"pt_ratio": "abc"}, "pt_ratio", 422),
    ({"accuracy_class": "x" * 33}, "accuracy_class", 422),
    ({"management_number": "x" * 65}, "management_number", 422),
    ({"unknown_field": 1}, "unknown_field", 422),
]


@pytest.mark.parametrize(("change", "field", "status"), BAD_FIELDS)
def test_bad_input_names_the_field(
    app: Any, world: Any, client_for: Any, change: dict[str, Any], field: str, status: int
) -> None:
    alice = client_for("alice")
    before = _count_meters(app, world)
    error = assert_error(alice.post(f"{BASE}/meters", json=meter_body(**change)), status)
    assert field in error["fields"], error
    assert _count_meters(app, world) == before


def _count_meters(app: Any, world: Any) -> int:
    from sqlalchemy import func, select

    from ems.meters.models import Meter

    with app.extensions["ems"].db.session(world.tenants["alpha"].schema_name) as s:
        return int(s.scalar(select(func.count()).select_from(Meter)) or 0)


def test_unit_and_site_must_agree(client_for: Any, world: Any) -> None:
    alice = client_for("alice")
    unit = alice.post(
        f"{BASE}/units",
        json={
            "site_id": world.sites["alpha"][0],
            "code": f"MU{tag()}",
            "name": "计量 车间",
            "kind": "workshop",
            "role": "main_production",
        },
    ).get_json()
    made = make_meter(alice, unit_id=unit["id"])
    assert made["site_id"] == world.sites["alpha"][0]  # follows from the unit
    error = assert_error(
        alice.post(f"{BASE}/meters", json=meter_body(unit_id=unit["id"], site_id=999_999)), 422
    )
    assert "site_id" in error["fields"]


def test_management_number_is_unique(client_for: Any) -> None:
    alice = client_for("alice")
    made = make_meter(alice)
    again = alice.post(
        f"{BASE}/meters", json=meter_body(management_number=made["management_number"])
    )
    error = assert_error(again, 409, "conflict")
    assert "management_number" in error["fields"]
    other = make_meter(alice)
    r = put_meter(alice, other["id"], editable(other, management_number=made["management_number"]))
    assert "management_number" in assert_error(r, 409)["fields"]


def test_put_replaces_and_needs_the_etag(client_for: Any) -> None:
    alice = client_for("alice")
    made = make_meter(alice, model="old", location="A")
    url = f"{BASE}/meters/{made['id']}"
    assert alice.put(url, json=editable(made)).status_code == 428
    assert_error(alice.put(url, json=editable(made), headers={"If-Match": '"stale"'}), 412)
    body = editable(made, model="new")
    body.pop("location")  # left out: cleared, as for every PUT of the API
    r = put_meter(alice, made["id"], body)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["model"] == "new" and r.get_json()["location"] is None
    etag = alice.get(url).headers["ETag"]
    assert alice.delete(url, headers={"If-Match": etag}).status_code == 204
    assert_error(alice.get(url), 404, "not_found")


def test_roles(client_for: Any) -> None:
    made = make_meter(client_for("mona"))  # energy managers edit the ledger
    url = f"{BASE}/meters/{made['id']}"
    verification = {"performed_on": "2025-01-10", "result": "pass"}
    state = {"state": "faulty", "since": "2025-02-01", "reason": "显示屏不亮"}
    vera, oscar = client_for("vera"), client_for("oscar")
    etag = vera.get(url).headers["ETag"]
    for client in (vera, oscar):
        assert_error(client.post(f"{BASE}/meters", json=meter_body()), 403, "forbidden")
        assert_error(client.put(url, json=editable(made), headers={"If-Match": etag}), 403)
        assert_error(client.delete(url, headers={"If-Match": etag}), 403)
        assert_error(client.post(f"{url}/points", json={"point_id": 1}), 403)
        assert_error(client.post(f"{BASE}/meters/auto-link"), 403)
    assert_error(vera.post(f"{url}/verifications", json=verification), 403)
    assert_error(vera.post(f"{url}/states", json=state), 403)
    # Operators record verifications and states: that is their work, not the ledger's.
    assert oscar.post(f"{url}/verifications", json=verification).status_code == 201
    assert oscar.post(f"{url}/states", json=state).status_code == 201
    assert vera.get(f"{url}/verifications").status_code == 200
    assert vera.get(f"{BASE}/meters/summary").status_code == 200


def test_state_history(client_for: Any) -> None:
    alice = client_for("alice")
    made = make_meter(alice, state_since="2024-01-01")
    url = f"{BASE}/meters/{made['id']}"
    r = put_meter(alice, made["id"], editable(made, state="faulty", state_since="2025-03-01"))
    assert r.status_code == 200, r.get_json()
    # A corrected date of the same state is a correction, not a new entry.
    r = put_meter(alice, made["id"], editable(r.get_json(), state_since="2025-03-02"))
    assert r.status_code == 200, r.get_json()
    r = client_for("oscar").post(
        f"{url}/states", json={"state": "out_of_service", "since": "2025-04-01", "reason": "拆除"}
    )
    assert r.status_code == 201, r.get_json()
    history = alice.get(f"{url}/states").get_json()
    assert [(h["state"], h["since"], h["reason"]) for h in history] == [
        ("out_of_service", "2025-04-01", "拆除"),
        ("faulty", "2025-03-02", None),
        ("normal", "2024-01-01", "建档 created"),
    ]
    assert history[0]["recorded_by"] == "oscar@example.com"
    shown = alice.get(url).get_json()
    assert (shown["state"], shown["state_since"]) == ("out_of_service", "2025-04-01")
    early = {"state": "normal", "since": "2025-03-31"}
    assert "since" in assert_error(alice.post(f"{url}/states", json=early), 422)["fields"]
    for bad, field in (({"state": "gone", "since": "2025-05-01"}, "state"), ({}, "since")):
        assert field in assert_error(alice.post(f"{url}/states", json=bad), 422)["fields"]


@pytest.mark.parametrize(
    ("last", "months", "due"),
    [
        ("2025-01-31", 1, "2025-02-28"),  # month end: clamped
        ("2024-01-31", 1, "2024-02-29"),  # leap year
        ("2024-02-29", 12, "2025-02-28"),
        ("2025-03-31", 6, "2025-09-30"),
        ("2025-11-15", 3, "2026-02-15"),  # across the year
        ("2025-05-20", 72, "2031-05-20"),
    ],
)
def test_next_due_is_last_plus_interval(client_for: Any, last: str, months: int, due: str) -> None:
    made = make_meter(client_for("alice"), last_verified_on=last, interval_months=months)
    assert (made["next_due_on"], made["next_due_overridden"]) == (due, False)


def test_next_due_override(client_for: Any) -> None:
    alice = client_for("alice")
    dates = {"last_verified_on": "2025-01-31", "interval_months": 1}
    made = make_meter(alice, **dates, next_due_on="2025-03-15")
    assert (made["next_due_on"], made["next_due_overridden"]) == ("2025-03-15", True)
    # Sending back the derived date, or none, follows last + interval again.
    r = put_meter(alice, made["id"], editable(made, next_due_on="2025-02-28"))
    assert (r.get_json()["next_due_on"], r.get_json()["next_due_overridden"]) == (
        "2025-02-28",
        False,
    )
    r = put_meter(alice, made["id"], editable(r.get_json(), interval_months=12, next_due_on=None))
    assert (r.get_json()["next_due_on"], r.get_json()["next_due_overridden"]) == (
        "2026-01-31",
        False,
    )


def test_verification_records_set_the_meter_dates(client_for: Any) -> None:
    alice = client_for("alice")
    made = make_meter(
        alice, interval_months=12, last_verified_on="2024-03-01", not_verified_reason="送检中"
    )
    url = f"{BASE}/meters/{made['id']}"
    record = {
        "performed_on": "2025-03-05",
        "kind": "calibration",
        "result": "fail",
        "body": "昆明市计量所",
        "certificate_number": "JL-2025-001",
        "note": "误差超差",
    }
    r = client_for("oscar").post(f"{url}/verifications", json=record)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["next_due_on"] == "2026-03-05"
    assert r.get_json()["recorded_by"] == "oscar@example.com"
    meter = alice.get(url).get_json()
    assert (meter["last_verified_on"], meter["next_due_on"]) == ("2025-03-05", "2026-03-05")
    assert (meter["verification_result"], meter["verification_body"]) == ("fail", "昆明市计量所")
    assert meter["not_verified_reason"] is None
    # An older record is history only.
    older = {"performed_on": "2023-03-01", "result": "pass"}
    assert alice.post(f"{url}/verifications", json=older).status_code == 201
    assert alice.get(url).get_json()["last_verified_on"] == "2025-03-05"
    # A next due date given with the record is an override.
    newer = {"performed_on": "2025-06-01", "result": "pass", "next_due_on": "2025-12-01"}
    assert alice.post(f"{url}/verifications", json=newer).status_code == 201
    meter = alice.get(url).get_json()
    assert (meter["next_due_on"], meter["next_due_overridden"]) == ("2025-12-01", True)
    listed = alice.get(f"{url}/verifications").get_json()
    assert [v["performed_on"] for v in listed] == ["2025-06-01", "2025-03-05", "2023-03-01"]
    for bad, field in (
        (
            {"performed_on": "2025-06-01", "result": "pass", "next_due_on": "2025-05-01"},
            "next_due_on",
        ),
        ({"performed_on": "2025-06-01"}, "result"),
        ({"performed_on": "2025-06-01", "result": "pass", "kind": "guess"}, "kind"),
        ({"result": "pass"}, "performed_on"),
    ):
        assert field in assert_error(alice.post(f"{url}/verifications", json=bad), 422)["fields"]
    assert_error(alice.post(f"{BASE}/meters/999999/verifications", json=older), 404)


def _gateway_and_point(client: Any, meter_code: str | None, kind: str = "cumulative") -> int:
    gateway = client.post(f"{BASE}/gateways", json={"name": f"m{tag().lower()}"})
    assert gateway.status_code == 201, gateway.get_json()
    point = client.post(
        f"{BASE}/points",
        json={
            "gateway_id": gateway.get_json()["id"],
            "code": f"P{tag()}",
            "name": "计量点",
            "meter_code": meter_code,
            "energy_type": "electricity",
            "kind": kind,
            "unit": "kWh",
        },
    )
    assert point.status_code == 201, point.get_json()
    point_id: int = point.get_json()["id"]
    return point_id


def test_points_link_by_meter_code_and_by_hand(client_for: Any) -> None:
    alice = client_for("alice")
    number = f"M-{tag()}"
    early = _gateway_and_point(alice, number)
    made = make_meter(alice, management_number=number)
    url = f"{BASE}/meters/{made['id']}/points"
    linked = alice.get(url).get_json()
    assert [(p["point_id"], p["linked_by"]) for p in linked] == [(early, "auto")]
    late = _gateway_and_point(alice, number)  # added after the meter: linked on request
    assert alice.post(f"{BASE}/meters/auto-link").get_json()["linked"] >= 1
    assert {p["point_id"] for p in alice.get(url).get_json()} == {early, late}
    loose = _gateway_and_point(alice, None)
    r = alice.post(url, json={"point_id": loose})
    assert r.status_code == 200 and loose in {p["point_id"] for p in r.get_json()}
    assert alice.post(url, json={"point_id": loose}).status_code == 200  # again: no change
    other = make_meter(alice)
    taken = alice.post(f"{BASE}/meters/{other['id']}/points", json={"point_id": loose})
    assert "point_id" in assert_error(taken, 409, "conflict")["fields"]
    assert "point_id" in assert_error(alice.post(url, json={"point_id": 999_999}), 422)["fields"]
    assert alice.delete(f"{url}/{loose}").status_code == 204
    assert_error(alice.delete(f"{url}/{loose}"), 404)
    assert loose not in {p["point_id"] for p in alice.get(url).get_json()}


def test_instrument_classes_carry_their_source(client_for: Any) -> None:
    classes = client_for("vera").get(f"{BASE}/instrument-classes").get_json()
    belt = next(c for c in classes if c["code"] == "1206100")
    assert "皮带秤" in belt["name_zh"] and "JJF 1051" in belt["source"]
    named_only = [c for c in classes if c["code"] is None]
    assert {"电能表", "水表"} <= {c["name_zh"] for c in named_only}
    assert all("not seeded" in c["note"] for c in named_only)


def test_summary_counts_by_level_code_name_energy_and_state(fresh: Fresh) -> None:
    admin = fresh.client("tenant_admin")
    base = fresh.base
    make_meter(admin, base, name="皮带秤", type_code="1206100", level=1, energy_type="raw_coal")
    make_meter(admin, base, name="电能表", level=1, energy_type="electricity")
    make_meter(admin, base, name="电能表", level=2, energy_type="electricity", state="faulty")
    make_meter(admin, base, name="水表", level=3, last_verified_on="2020-01-01", interval_months=12)
    summary = fresh.client("viewer").get(f"{base}/meters/summary").get_json()
    assert summary["total"] == 4
    assert summary["by_level"] == [
        {"level": 1, "count": 2},
        {"level": 2, "count": 1},
        {"level": 3, "count": 1},
    ]
    by_name = {e["name"]: (e["count"], e["by_level"]) for e in summary["by_name"]}
    assert by_name == {
        "电能表": (2, {"1": 1, "2": 1}),
        "皮带秤": (1, {"1": 1}),
        "水表": (1, {"3": 1}),
    }
    by_type = {e["type_code"]: (e["count"], e["type_name"]) for e in summary["by_type"]}
    assert by_type == {None: (3, None), "1206100": (1, "连续累计自动衡器(皮带秤)")}
    assert {e["energy_type"]: e["count"] for e in summary["by_energy_type"]} == {
        "electricity": 2,
        "raw_coal": 1,
        None: 1,
    }
    assert {e["state"]: e["count"] for e in summary["by_state"]} == {"normal": 3, "faulty": 1}
    assert summary["verification"]["overdue"] == 1
    assert summary["verification"]["no_due_date"] == 3
    assert summary["verification"]["lead_days"] == 30


def test_a_unit_or_site_with_meters_cannot_be_deleted(fresh: Fresh) -> None:
    admin, base = fresh.client("tenant_admin"), fresh.base
    site = admin.post(f"{base}/sites", json={"code": "S1", "name": "厂区"}).get_json()
    unit = admin.post(
        f"{base}/units",
        json={
            "site_id": site["id"],
            "code": "U1",
            "name": "车间",
            "kind": "workshop",
            "role": "main_production",
        },
    ).get_json()
    on_unit = make_meter(admin, base, unit_id=unit["id"])
    unit_url = f"{base}/units/{unit['id']}"
    etag = admin.get(unit_url).headers["ETag"]
    error = assert_error(admin.delete(unit_url, headers={"If-Match": etag}), 409, "conflict")
    assert "meters" in error["message"]
    # Moved to the site itself: now the site refuses instead.
    r = put_meter(admin, on_unit["id"], editable(on_unit, unit_id=None), base)
    assert r.status_code == 200, r.get_json()
    assert admin.delete(unit_url, headers={"If-Match": etag}).status_code == 204
    site_url = f"{base}/sites/{site['id']}"
    etag = admin.get(site_url).headers["ETag"]
    error = assert_error(admin.delete(site_url, headers={"If-Match": etag}), 409, "conflict")
    assert "meters" in error["message"]


def test_meter_writes_are_audited(client_for: Any) -> None:
    mona = client_for("mona")
    made = make_meter(mona, model="A1")
    r = put_meter(mona, made["id"], editable(made, model="B2"))
    assert r.status_code == 200, r.get_json()
    log = client_for("alice").get(f"{BASE}/audit?page_size=100").get_json()
    entries = [e for e in log if e["object_type"] == "meters" and e["object_id"] == str(made["id"])]
    update = next(e for e in entries if e["action"] == "update")
    assert update["before"]["model"] == "A1" and update["after"]["model"] == "B2"
    assert update["actor_name"] == "mona@example.com"
    assert any(e["object_type"] == "meter_states" and e["action"] == "insert" for e in log)
