"""Key energy-using equipment (table A.3): the ledger, the monitoring items of table 4.5.3,
running state from points and inspections, and efficiency against design and target."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest

from tests.conftest import assert_error

BASE = "/api/v1/tenants/alpha-works"


def tag() -> str:
    return uuid.uuid4().hex[:6].upper()


@pytest.fixture(scope="module")
def points(database: Any, world: Any) -> dict[str, int]:
    """Alpha points an equipment can use: instantaneous and cumulative ones."""
    from ems.telemetry.models import Point

    gateway = f"alpha-works-eq{tag().lower()}"
    specs = {
        "power": ("instantaneous", "kW", "electricity"),
        "temperature": ("instantaneous", "°C", "heat"),
        "pressure_in": ("instantaneous", "MPa", "heat"),
        "pressure_out": ("instantaneous", "MPa", "heat"),
        "coal": ("cumulative", "t", "raw_coal"),
        "heat": ("cumulative", "GJ", "heat"),
        "energy": ("cumulative", "kWh", "electricity"),
    }
    made: dict[str, int] = {}
    with database.transaction(world.tenants["alpha"].schema_name) as s:
        for code, (kind, unit, energy) in specs.items():
            point = Point(
                gateway_id=gateway,
                code=code,
                name=f"锅炉 {code}",
                energy_type=energy,
                kind=kind,
                unit=unit,
            )
            s.add(point)
            s.flush()
            made[code] = point.id
    return made


def equipment_body(**fields: Any) -> dict[str, Any]:
    return {
        "department": "动力车间",
        "name": "1#燃煤锅炉",
        "number": f"GL-{tag()}",
        "model": "SZL10-1.25-AII",
        "location": "锅炉房",
        "class_code": "boiler",
        "energy_types": ["raw_coal", "electricity"],
        "rating_value": "10",
        "rating_unit": "t/h",
        "special": True,
        "attached_model": "Y280M-4",
        "attached_power_value": "90",
        "attached_power_unit": "kW",
        "remarks": "2019年改造",
        "manufacturer": "太原锅炉集团",
        **fields,
    }


def create(client: Any, **fields: Any) -> dict[str, Any]:
    r = client.post(f"{BASE}/equipment", json=equipment_body(**fields))
    assert r.status_code == 201, r.get_json()
    made: dict[str, Any] = r.get_json()
    return made


def put(client: Any, equipment: dict[str, Any], **changes: Any) -> Any:
    url = f"{BASE}/equipment/{equipment['id']}"
    body = {k: v for k, v in equipment.items() if k not in ("id", "created_at", "updated_at")}
    return client.put(
        url, json={**body, **changes}, headers={"If-Match": client.get(url).headers["ETag"]}
    )


def test_classes_carry_table_4_5_3(client_for: Any) -> None:
    classes = {c["code"]: c for c in client_for("vera").get(f"{BASE}/equipment-classes").get_json()}
    boiler = classes["boiler"]
    assert boiler["name_zh"] == "锅炉" and "4.5.3" in boiler["source"]
    items = {i["code"]: i for i in boiler["items"]}
    assert len(items) == 5
    fuel = items["boiler.fuel_consumption"]
    assert (fuel["indicate"], fuel["totalise"], fuel["record"]) == (True, True, True)
    temperature = items["boiler.supply_return_water_temperature"]
    assert (temperature["indicate"], temperature["totalise"]) == (True, False)
    assert items["boiler.feed_water_flow"]["applies_to_zh"] == "蒸汽锅炉"
    fan_power = next(
        i for i in classes["fan"]["items"] if i["code"] == "fan.electricity_consumption"
    )
    assert (fan_power["indicate"], fan_power["totalise"]) == (False, True)
    assert len(classes["transformer"]["items"]) == 6
    assert classes["chp_turbine"]["group_zh"] == "热电联产机组"
    assert classes["other"]["items"] == []
    total = sum(len(c["items"]) for c in classes.values())
    assert total == 34  # every row of the table


def test_crud_and_filters(client_for: Any) -> None:
    alice = client_for("alice")
    made = create(alice)
    expected = equipment_body(number=made["number"])
    assert {k: made[k] for k in expected} == expected
    other = create(alice, class_code="pump", energy_types=["electricity"], special=False)
    for query, wanted in (
        (f"q={made['number']}", [made["id"]]),
        ("class_code=pump&page_size=100", [other["id"]]),
        ("energy_type=raw_coal&page_size=100", [made["id"]]),
        ("special=false&page_size=100", [other["id"]]),
    ):
        found = [e["id"] for e in alice.get(f"{BASE}/equipment?{query}").get_json()]
        assert set(wanted) <= set(found), query
        assert not ({made["id"], other["id"]} - set(wanted)) & set(found), query
    r = put(alice, made, name="1#燃煤锅炉(改)", energy_types=["raw_coal"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["energy_types"] == ["raw_coal"]
    url = f"{BASE}/equipment/{made['id']}"
    assert_error(alice.delete(url), 428)
    assert (
        alice.delete(url, headers={"If-Match": alice.get(url).headers["ETag"]}).status_code == 204
    )
    assert_error(alice.get(url), 404, "not_found")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"class_code": "toaster"}, "class_code"),
        ({"energy_types": ["electricity", "moonlight"]}, "energy_types.1"),
        ({"energy_types": ["electricity", "electricity"]}, "energy_types"),
        ({"unit_id": 999_999}, "unit_id"),
        ({"rating_value": None}, "rating_unit"),
        ({"rating_unit": "12kW"}, "rating_unit"),
        ({"rating_value": "-1"}, "rating_value"),
        ({"rating_value": "1e400"}, "rating_value"),
        ({"design_efficiency": "0"}, "design_efficiency"),
        ({"target_efficiency": "101"}, "target_efficiency"),
        ({"state_threshold": 5}, "state_threshold"),
        ({"state_point_id": 999_999, "state_threshold": 5}, "state_point_id"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"special": "perhaps"}, "special"),
        ({"remarks": "a\x00b"}, "remarks"),
    ],
)
def test_bad_input_names_the_field(client_for: Any, changes: dict[str, Any], field: str) -> None:
    r = client_for("alice").post(f"{BASE}/equipment", json=equipment_body(**changes))
    assert field in assert_error(r, 422, "invalid_input")["fields"]


def test_state_point_must_be_instantaneous(client_for: Any, points: dict[str, int]) -> None:
    body = equipment_body(state_point_id=points["energy"], state_threshold=1)
    r = client_for("alice").post(f"{BASE}/equipment", json=body)
    assert "state_point_id" in assert_error(r, 422)["fields"]


def test_number_is_unique(client_for: Any) -> None:
    alice = client_for("alice")
    made = create(alice)
    r = alice.post(f"{BASE}/equipment", json=equipment_body(number=made["number"]))
    assert "number" in assert_error(r, 409, "conflict")["fields"]


def test_roles(client_for: Any) -> None:
    made = create(client_for("alice"))
    for name in ("vera", "oscar"):
        c = client_for(name)
        assert c.get(f"{BASE}/equipment/{made['id']}").status_code == 200
        assert_error(c.post(f"{BASE}/equipment", json=equipment_body()), 403, "forbidden")
        bindings = {"bindings": []}
        assert_error(c.put(f"{BASE}/equipment/{made['id']}/monitoring", json=bindings), 403)
        assert_error(
            c.put(f"{BASE}/equipment/{made['id']}/efficiency-terms", json={"terms": []}), 403
        )
    inspection = {"inspected_at": "2026-01-05T08:00:00+08:00", "state": "running"}
    url = f"{BASE}/equipment/{made['id']}/inspections"
    assert client_for("oscar").post(url, json=inspection).status_code == 201
    assert_error(client_for("vera").post(url, json=inspection), 403, "forbidden")


def test_a_unit_with_equipment_cannot_be_deleted(client_for: Any, world: Any) -> None:
    alice = client_for("alice")
    unit_body = {"site_id": world.sites["alpha"][0], "code": f"EQ{tag()}", "name": "动力车间",
                 "kind": "workshop", "role": "auxiliary_production"}  # fmt: skip
    unit = alice.post(f"{BASE}/units", json=unit_body).get_json()
    made = create(alice, unit_id=unit["id"])
    unit_url = f"{BASE}/units/{unit['id']}"
    error = assert_error(
        alice.delete(unit_url, headers={"If-Match": alice.get(unit_url).headers["ETag"]}), 409
    )
    assert "equipment" in error["message"]
    url = f"{BASE}/equipment/{made['id']}"
    alice.delete(url, headers={"If-Match": alice.get(url).headers["ETag"]})
    r = alice.delete(unit_url, headers={"If-Match": alice.get(unit_url).headers["ETag"]})
    assert r.status_code == 204


# ---------------------------------------------------------------------------
# Monitoring points of table 4.5.3


def test_monitoring_coverage(client_for: Any, points: dict[str, int]) -> None:
    alice = client_for("alice")
    made = create(alice)
    url = f"{BASE}/equipment/{made['id']}/monitoring"
    empty = alice.get(url).get_json()
    assert (empty["required"], empty["covered"], empty["coverage"]) == (5, 0, 0.0)
    pressures = [points["pressure_in"], points["pressure_out"]]
    bindings = [
        {
            "item_code": "boiler.supply_return_water_temperature",
            "point_ids": [points["temperature"]],
        },
        {"item_code": "boiler.inlet_outlet_pressure", "point_ids": pressures},
        {"item_code": "boiler.fuel_consumption", "point_ids": [points["coal"]]},
        {"item_code": "boiler.circulating_water_flow", "not_applicable": True, "note": "蒸汽锅炉"},
    ]
    r = alice.put(url, json={"bindings": bindings})
    assert r.status_code == 200, r.get_json()
    shown = client_for("vera").get(url).get_json()
    assert (shown["required"], shown["covered"], shown["coverage"]) == (5, 4, 0.8)
    items = {i["code"]: i for i in shown["items"]}
    assert [p["point_id"] for p in items["boiler.inlet_outlet_pressure"]["points"]] == [
        points["pressure_in"],
        points["pressure_out"],
    ]
    assert items["boiler.circulating_water_flow"]["not_applicable"] is True
    assert items["boiler.feed_water_flow"]["covered"] is False
    # Replacing takes the new set as a whole.
    r = alice.put(url, json={"bindings": bindings[:1]})
    assert r.get_json()["covered"] == 1
    # A new class: the old class's items no longer apply.
    r = put(alice, alice.get(f"{BASE}/equipment/{made['id']}").get_json(), class_code="pump")
    assert r.status_code == 200, r.get_json()
    pump = alice.get(url).get_json()
    assert (pump["class_code"], pump["required"], pump["covered"]) == ("pump", 2, 0)


@pytest.mark.parametrize(
    ("binding", "field"),
    [
        ({"item_code": "pump.flow", "point_ids": [1]}, "bindings.0.item_code"),
        ({"item_code": "boiler.inlet_outlet_pressure", "point_ids": ["coal"]},
         "bindings.0.point_ids.0"),
        ({"item_code": "boiler.fuel_consumption", "point_ids": [999_999]},
         "bindings.0.point_ids.0"),
        ({"item_code": "boiler.fuel_consumption"}, "bindings.0.point_ids"),
        ({"item_code": "boiler.fuel_consumption", "point_ids": ["coal"], "not_applicable": True},
         "bindings.0.point_ids"),
        ({"item_code": "boiler.fuel_consumption", "point_ids": ["coal", "coal"]},
         "bindings.0.point_ids"),
    ],
)  # fmt: skip
def test_bad_bindings_name_the_field(
    client_for: Any, points: dict[str, int], binding: dict[str, Any], field: str
) -> None:
    alice = client_for("alice")
    made = create(alice)
    ids = [points.get(p, p) if isinstance(p, str) else p for p in binding.get("point_ids", [])]
    body = {"bindings": [{**binding, "point_ids": ids}]}
    r = alice.put(f"{BASE}/equipment/{made['id']}/monitoring", json=body)
    assert field in assert_error(r, 422)["fields"], r.get_json()
    assert alice.get(f"{BASE}/equipment/{made['id']}/monitoring").get_json()["covered"] == 0


def test_an_item_listed_twice_is_refused(client_for: Any, points: dict[str, int]) -> None:
    alice = client_for("alice")
    made = create(alice)
    one = {"item_code": "boiler.fuel_consumption", "point_ids": [points["coal"]]}
    r = alice.put(f"{BASE}/equipment/{made['id']}/monitoring", json={"bindings": [one, one]})
    assert "bindings.1.item_code" in assert_error(r, 422)["fields"]


# ---------------------------------------------------------------------------
# Running state and inspections


def _latest(database: Any, world: Any, point: int, value: float, at: datetime) -> None:
    from sqlalchemy.dialects.postgresql import insert

    from ems.telemetry.models import LatestValue

    with database.transaction(world.tenants["alpha"].schema_name) as s:
        row = {"point": point, "ts": at, "value": value, "quality": 0, "received_at": at}
        stmt = insert(LatestValue).values(**row)
        s.execute(stmt.on_conflict_do_update(index_elements=["point"], set_=row))


def test_running_state_from_point_or_inspection(
    client_for: Any, database: Any, world: Any, points: dict[str, int]
) -> None:
    alice, oscar = client_for("alice"), client_for("oscar")
    made = create(alice, state_point_id=points["power"], state_threshold=5.0)
    state_url = f"{BASE}/equipment/{made['id']}/state"
    assert client_for("vera").get(state_url).get_json()["state"] == "unknown"

    now = datetime.now(UTC)
    body = {"inspected_at": (now - timedelta(hours=2)).isoformat(), "state": "fault",
            "parameters": {"蒸汽压力": {"value": "1.05", "unit": "MPa"}},
            "energy_note": "燃煤 2.1 t/h", "inspector": "王巡检"}  # fmt: skip
    r = oscar.post(f"{BASE}/equipment/{made['id']}/inspections", json=body)
    assert r.status_code == 201, r.get_json()
    inspection = r.get_json()
    assert inspection["parameters"] == {"蒸汽压力": {"value": "1.05", "unit": "MPa"}}
    assert inspection["recorded_by"] == "oscar@example.com"
    seen = alice.get(state_url).get_json()
    assert (seen["state"], seen["source"]) == ("fault", "inspection")

    _latest(database, world, points["power"], 42.5, now - timedelta(minutes=1))
    seen = alice.get(state_url).get_json()
    assert (seen["state"], seen["source"]) == ("running", "point")
    assert seen["point"]["value"] == 42.5 and seen["point"]["stale"] is False
    assert seen["inspection"]["id"] == inspection["id"]

    _latest(database, world, points["power"], 5.0, now - timedelta(minutes=1))  # at threshold
    assert alice.get(state_url).get_json()["state"] == "stopped"

    body = {"inspected_at": now.isoformat(), "state": "standby"}
    assert oscar.post(f"{BASE}/equipment/{made['id']}/inspections", json=body).status_code == 201
    seen = alice.get(state_url).get_json()
    assert (seen["state"], seen["source"]) == ("standby", "inspection")

    _latest(database, world, points["power"], 50.0, now - timedelta(days=1, minutes=-1))
    later = {"inspected_at": (now - timedelta(days=2)).isoformat(), "state": "stopped"}
    oscar.post(f"{BASE}/equipment/{made['id']}/inspections", json=later)
    listed = alice.get(f"{BASE}/equipment/{made['id']}/inspections").get_json()
    assert [i["state"] for i in listed] == ["standby", "fault", "stopped"]  # newest first
    faults = alice.get(f"{BASE}/equipment/{made['id']}/inspections?state=fault").get_json()
    assert [i["id"] for i in faults] == [inspection["id"]]


def test_a_stale_point_is_flagged(
    client_for: Any, database: Any, world: Any, points: dict[str, int]
) -> None:
    alice = client_for("alice")
    made = create(alice, state_point_id=points["power"], state_threshold=1.0)
    _latest(database, world, points["power"], 10.0, datetime.now(UTC) - timedelta(hours=3))
    seen = alice.get(f"{BASE}/equipment/{made['id']}/state").get_json()
    assert seen["source"] == "point" and seen["point"]["stale"] is True


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"state": "exploded"}, "state"),
        ({"inspected_at": "2026-01-05T08:00:00"}, "inspected_at"),  # naive
        ({"inspected_at": "2999-01-01T00:00:00+00:00"}, "inspected_at"),  # future
        ({"parameters": {"压力": {"value": "high"}}}, "parameters"),
        ({"parameters": {"": {"value": "1"}}}, "parameters"),
        ({"inspector": ""}, "inspector"),
    ],
)
def test_bad_inspections_name_the_field(
    client_for: Any, changes: dict[str, Any], field: str
) -> None:
    made = create(client_for("alice"))
    body = {"inspected_at": "2026-01-05T08:00:00+08:00", "state": "running", **changes}
    r = client_for("oscar").post(f"{BASE}/equipment/{made['id']}/inspections", json=body)
    fields = assert_error(r, 422)["fields"]
    assert any(name.startswith(field) for name in fields), fields


# ---------------------------------------------------------------------------
# Efficiency


def ratio(output_mj: Decimal, input_mj: Decimal) -> Decimal:
    return (output_mj / input_mj).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)


COAL = {"label": "原煤", "energy_type": "raw_coal", "quantity": "10", "unit": "t",
        "energy_content": "20.908", "energy_content_unit": "MJ/kg"}  # fmt: skip
HEAT = {"label": "供热量", "energy_type": "heat", "quantity": "150", "unit": "GJ"}


def test_entered_periods_against_design_and_target(client_for: Any) -> None:
    alice, oscar = client_for("alice"), client_for("oscar")
    made = create(alice, design_efficiency="0.80", target_efficiency="0.75")
    url = f"{BASE}/equipment/{made['id']}/efficiency"
    water = {"label": "给水", "quantity": "95", "unit": "t"}
    first = {"from": "2026-01-01", "to": "2026-02-01", "inputs": [COAL], "outputs": [HEAT],
             "materials": [water], "note": "1月"}  # fmt: skip
    r = oscar.post(url, json=first)
    assert r.status_code == 201, r.get_json()
    period = r.get_json()
    # By hand: 10 t x 1000 kg/t x 20.908 MJ/kg = 209080 MJ in; 150 GJ = 150000 MJ out.
    assert Decimal(period["input_energy"]) == Decimal(209080)
    assert Decimal(period["output_energy"]) == Decimal(150000)
    assert (
        Decimal(period["efficiency"])
        == ratio(Decimal(150000), Decimal(209080))
        == Decimal("0.717429")
    )
    assert period["below_target"] is True
    assert Decimal(period["vs_design"]) == Decimal("0.717429") - Decimal("0.80")
    assert period["materials"][0]["quantity"] == "95" and period["source"] == "entered"

    # February: coal plus the fans' electricity in; heat out above target.
    electricity = {"label": "鼓引风机电", "energy_type": "electricity", "quantity": "2500",
                   "unit": "kWh"}  # fmt: skip
    coal = {**COAL, "quantity": "8"}
    second = {"from": "2026-02-01", "to": "2026-03-01", "inputs": [coal, electricity],
              "outputs": [{**HEAT, "quantity": "0.14", "unit": "TJ"}]}  # fmt: skip
    assert oscar.post(url, json=second).status_code == 201
    listed = client_for("vera").get(f"{url}?from=2026-01-01&to=2026-03-01").get_json()
    assert listed["unit"] == "MJ" and listed["target_efficiency"] == "0.75"
    feb = listed["periods"][1]
    feb_in = Decimal(8000) * Decimal("20.908") + Decimal(2500) * Decimal("3.6")
    assert Decimal(feb["input_energy"]) == feb_in
    assert Decimal(feb["efficiency"]) == ratio(Decimal(140000), feb_in)
    assert feb["below_target"] is False
    summary = listed["summary"]
    assert summary["periods"] == 2 and summary["periods_below_target"] == 1
    total = ratio(Decimal(150000) + Decimal(140000), Decimal(209080) + feb_in)
    assert Decimal(summary["efficiency"]) == total
    only_feb = alice.get(f"{url}?from=2026-02-15&to=2026-02-16").get_json()
    assert [p["from"] for p in only_feb["periods"]] == ["2026-02-01"]

    # One record per period; a record can be removed (operators' data).
    assert_error(oscar.post(url, json=first), 409, "conflict")
    assert oscar.delete(f"{url}/{period['id']}").status_code == 204
    assert_error(alice.get(f"{url}/{period['id']}"), 404)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"inputs": [{**COAL, "unit": "bananas"}]}, "inputs.0.unit"),
        ({"inputs": [{**COAL, "energy_content": None}]}, "inputs.0.energy_content"),
        ({"inputs": [{**COAL, "energy_content_unit": "MJ/m3"}]}, "inputs.0.energy_content_unit"),
        ({"inputs": [{**COAL, "energy_content_unit": "kg/kg"}]}, "inputs.0.energy_content_unit"),
        ({"outputs": [{**HEAT, "energy_content": "2", "energy_content_unit": "MJ/kg"}]},
         "outputs.0.energy_content"),
        ({"inputs": [{**COAL, "energy_type": "moonlight"}]}, "inputs.0"),
        ({"inputs": [{**COAL, "quantity": "-1"}]}, "inputs.0.quantity"),
        ({"outputs": []}, "outputs"),
        ({"to": "2026-01-01"}, "to"),
        ({"from": "2026-13-01"}, "from"),
    ],
)  # fmt: skip
def test_bad_periods_name_the_field(client_for: Any, changes: dict[str, Any], field: str) -> None:
    made = create(client_for("alice"))
    body = {
        "from": "2026-01-01",
        "to": "2026-02-01",
        "inputs": [COAL],
        "outputs": [HEAT],
        **changes,
    }
    r = client_for("oscar").post(f"{BASE}/equipment/{made['id']}/efficiency", json=body)
    fields = assert_error(r, 422)["fields"]
    assert any(name.startswith(field) for name in fields), fields


def _rollups(database: Any, world: Any, point: int, days: dict[date, float]) -> None:
    from zoneinfo import ZoneInfo

    from ems.telemetry.calendar import Grain, bucket_start
    from ems.telemetry.rollup_models import PointRollup

    tz = ZoneInfo(world.tenants["alpha"].timezone)
    with database.transaction(world.tenants["alpha"].schema_name) as s:
        for day, consumption in days.items():
            start = bucket_start(
                datetime(day.year, day.month, day.day, 12, tzinfo=tz), Grain.D1, tz
            )
            s.merge(PointRollup(point=point, grain="1d", start=start, consumption=consumption,
                                count=96, flags=0))  # fmt: skip


def test_computed_from_the_points_daily_rollups(
    client_for: Any, database: Any, world: Any, points: dict[str, int]
) -> None:
    alice, oscar = client_for("alice"), client_for("oscar")
    made = create(alice, target_efficiency="0.70")
    terms = [
        {"role": "input", "label": "原煤", "energy_type": "raw_coal", "point_id": points["coal"],
         "energy_content": "20.908", "energy_content_unit": "MJ/kg"},
        {"role": "input", "label": "厂用电", "point_id": points["energy"]},
        {"role": "output", "label": "供热", "energy_type": "heat", "point_id": points["heat"]},
    ]  # fmt: skip
    r = alice.put(f"{BASE}/equipment/{made['id']}/efficiency-terms", json={"terms": terms})
    assert r.status_code == 200, r.get_json()
    assert [t["unit"] for t in r.get_json()] == ["t", "kWh", "GJ"]  # the points' units
    d = date(2027, 3, 1)
    days = [d, d + timedelta(days=1), d + timedelta(days=2)]
    _rollups(database, world, points["coal"], {days[0]: 2.5, days[1]: 3.0, days[2]: 2.0})
    _rollups(database, world, points["energy"], {days[0]: 400.0, days[1]: 420.0, days[2]: 380.0})
    _rollups(database, world, points["heat"], {days[0]: 40.0, days[1]: 45.5, days[2]: 35.0})
    # A day outside the period does not count.
    _rollups(database, world, points["heat"], {d + timedelta(days=3): 999.0})

    url = f"{BASE}/equipment/{made['id']}/efficiency"
    body = {"from": "2027-03-01", "to": "2027-03-04"}
    r = oscar.post(f"{url}/compute", json=body)
    assert r.status_code == 200, r.get_json()
    got = r.get_json()
    coal_mj = Decimal("7.5") * 1000 * Decimal("20.908")
    power_mj = Decimal(1200) * Decimal("3.6")
    heat_mj = Decimal("120.5") * 1000
    assert [line["quantity"] for line in got["inputs"]] == ["7.5", "1200.0"]
    assert Decimal(got["input_energy"]) == coal_mj + power_mj
    assert Decimal(got["efficiency"]) == ratio(heat_mj, coal_mj + power_mj)
    assert got["source"] == "computed" and got["complete"] is True
    assert got["below_target"] is False

    # A day without a figure: the record says it is incomplete. Recomputing replaces it.
    r = oscar.post(f"{url}/compute", json={"from": "2027-03-01", "to": "2027-03-05"})
    assert r.get_json()["complete"] is False
    again = oscar.post(f"{url}/compute", json={"from": "2027-03-01", "to": "2027-03-05"})
    assert again.get_json()["id"] == r.get_json()["id"]

    # A period entered by hand is not overwritten by a computation.
    entered = {"from": "2027-04-01", "to": "2027-05-01", "inputs": [COAL], "outputs": [HEAT]}
    assert oscar.post(url, json=entered).status_code == 201
    r = oscar.post(f"{url}/compute", json={"from": "2027-04-01", "to": "2027-05-01"})
    assert_error(r, 409, "conflict")


def test_compute_needs_terms_with_points(client_for: Any, points: dict[str, int]) -> None:
    alice, oscar = client_for("alice"), client_for("oscar")
    made = create(alice)
    url = f"{BASE}/equipment/{made['id']}"
    body = {"from": "2027-03-01", "to": "2027-03-04"}
    assert (
        "terms" in assert_error(oscar.post(f"{url}/efficiency/compute", json=body), 422)["fields"]
    )
    terms = [
        {"role": "input", "label": "原煤", "unit": "t", "energy_content": "20",
         "energy_content_unit": "MJ/kg"},
        {"role": "output", "label": "供热", "point_id": points["heat"]},
    ]  # fmt: skip
    assert alice.put(f"{url}/efficiency-terms", json={"terms": terms}).status_code == 200
    error = assert_error(oscar.post(f"{url}/efficiency/compute", json=body), 422)
    assert "原煤" in error["message"]
    long = {"from": "2027-01-01", "to": "2028-06-01"}
    assert "to" in assert_error(oscar.post(f"{url}/efficiency/compute", json=long), 422)["fields"]


@pytest.mark.parametrize(
    ("term", "field"),
    [
        ({"role": "input", "label": "功率", "point_id": "power"}, "terms.0.point_id"),
        ({"role": "input", "label": "煤", "point_id": "coal", "unit": "kg"}, "terms.0.unit"),
        ({"role": "input", "label": "煤", "point_id": "coal"}, "terms.0.energy_content"),
        ({"role": "input", "label": "无"}, "terms.0.unit"),
        ({"role": "input", "label": "电", "point_id": 999_999}, "terms.0.point_id"),
        ({"role": "catalyst", "label": "电", "unit": "kWh"}, "terms.0.role"),
    ],
)
def test_bad_terms_name_the_field(
    client_for: Any, points: dict[str, int], term: dict[str, Any], field: str
) -> None:
    made = create(client_for("alice"))
    if isinstance(term.get("point_id"), str):
        term = {**term, "point_id": points[term["point_id"]]}
    output = {"role": "output", "label": "热", "point_id": points["heat"]}
    r = client_for("alice").put(
        f"{BASE}/equipment/{made['id']}/efficiency-terms", json={"terms": [term, output]}
    )
    assert field in assert_error(r, 422)["fields"], r.get_json()


def test_terms_need_an_input_and_an_output(client_for: Any, points: dict[str, int]) -> None:
    made = create(client_for("alice"))
    only_output = [{"role": "output", "label": "热", "point_id": points["heat"]}]
    r = client_for("alice").put(
        f"{BASE}/equipment/{made['id']}/efficiency-terms", json={"terms": only_output}
    )
    assert "terms" in assert_error(r, 422)["fields"]


def test_writes_are_audited(client_for: Any) -> None:
    made = create(client_for("mona"))
    log = client_for("alice").get(f"{BASE}/audit?page_size=100").get_json()
    entry = next(
        e for e in log if e["object_type"] == "equipment" and e["object_id"] == str(made["id"])
    )
    assert entry["action"] == "insert" and entry["actor_name"] == "mona@example.com"
    assert entry["after"]["number"] == made["number"]
