"""Metering and energy balance networks: figures by level and item, GB/T 2589 comprehensive
consumption, node balances, equipping rates, the SVG diagram and the API.

The fixture plant (tenant alpha, Asia/Shanghai, March 2026, 31 days):

    电网 SUP-E --F1 electricity L1 [E_IN 1000 kWh/day]--> 输配 DIST
    DIST --F2 electricity L2 [E_WS 700/day]--> 炼钢车间 WS   (main production)
    DIST --F3 electricity L2 [E_DORM 100/day]--> 职工宿舍 DORM (living)
    DIST --F4 electricity L2 [E_LEASE 150/day]--> 出租厂房 LEASE (outside the boundary)
    DIST --F7 electricity L2 [no meter]--> 锅炉房 BOILER (conversion)
    燃气公司 SUP-G --F5 natural gas L1 [G_IN 200 m3/day]--> BOILER
    BOILER --F6 low-pressure steam L2 [S_WS 1.5 t/day]--> WS

Electricity has a tenant coefficient override of 0.1300 kgce/kWh from 16 March, so days
1-15 count at GB/T 2589's 0.1229 and days 16-31 at 0.1300. The daily rollup rows are written
directly: they are this module's input (the rollup code is tested on its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from ems.energy.models import CoefficientOverride
from ems.errors import Conflict, InvalidInput
from ems.networks import figures, services, svg
from ems.networks.models import NetworkFlow, NetworkNode
from ems.org.models import Unit
from ems.telemetry.models import Point
from ems.telemetry.rollup_models import PointRollup
from tests.conftest import assert_error

D = Decimal
TZ = ZoneInfo("Asia/Shanghai")
MARCH, APRIL = date(2026, 3, 1), date(2026, 4, 1)
BASE = "/api/v1/tenants/alpha-works"


@pytest.fixture
def session(database: Any, world: Any) -> Iterator[Any]:
    """Alpha's tenant session; nothing is committed."""
    s = database.session(world.tenants["alpha"].schema_name)
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def point(s: Any, code: str, energy_type: str, unit: str) -> Point:
    row = Point(
        gateway_id="alpha-works-net",
        code=code,
        name=code,
        energy_type=energy_type,
        kind="cumulative",
        unit=unit,
        interval_s=900,
    )
    s.add(row)
    s.flush()
    return row


def daily(s: Any, p: Point, per_day: float, start: date = MARCH, end: date = APRIL) -> None:
    day = start
    while day < end:
        s.add(
            PointRollup(
                point=p.id,
                grain="1d",
                start=datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC),
                consumption=per_day,
                count=96,
                flags=0,
            )
        )
        day += timedelta(days=1)
    s.flush()


def unit(s: Any, site: int, code: str, name: str, role: str, inside: bool = True) -> Unit:
    row = Unit(
        site_id=site,
        code=code,
        name=name,
        kind="workshop",
        role=role,
        inside_boundary=inside,
        is_key_unit=True,
    )
    s.add(row)
    s.flush()
    return row


def node(s: Any, code: str, kind: str, **extra: Any) -> NetworkNode:
    return services.create_node(s, {"code": code, "name": code, "kind": kind, **extra})


def flow(s: Any, energy: str, a: NetworkNode, b: NetworkNode, level: int, p: Point | None) -> Any:
    return services.create_flow(
        s,
        {
            "energy_type": energy,
            "from_node_id": a.id,
            "to_node_id": b.id,
            "level": level,
            "point_id": p.id if p else None,
        },
    )


@pytest.fixture
def plant(session: Any, world: Any) -> dict[str, Any]:
    s = session
    site = world.sites["alpha"][0]
    ws = unit(s, site, "NET-WS", "炼钢车间", "main_production")
    dorm = unit(s, site, "NET-DORM", "职工宿舍", "living")
    lease = unit(s, site, "NET-LEASE", "出租厂房", "ancillary_production", inside=False)
    pts = {
        "E_IN": point(s, "E_IN", "electricity", "kWh"),
        "E_WS": point(s, "E_WS", "electricity", "kWh"),
        "E_DORM": point(s, "E_DORM", "electricity", "kWh"),
        "E_LEASE": point(s, "E_LEASE", "electricity", "kWh"),
        "E_BOIL": point(s, "E_BOIL", "electricity", "kWh"),
        "G_IN": point(s, "G_IN", "natural_gas_field", "m3"),
        "S_WS": point(s, "S_WS", "steam_low_pressure", "t"),
    }
    for code, per_day in (
        ("E_IN", 1000),
        ("E_WS", 700),
        ("E_DORM", 100),
        ("E_LEASE", 150),
        ("E_BOIL", 30),
        ("G_IN", 200),
        ("S_WS", 1.5),
    ):
        daily(s, pts[code], per_day)
    s.add(
        CoefficientOverride(
            energy_type="electricity",
            basis="equivalent",
            value=D("0.1300"),
            unit="kgce/kWh",
            valid_from=date(2026, 3, 16),
            reason="supplier's measured figure",
            recorded_by="alice@example.com",
        )
    )
    n = {
        "SUP-E": node(s, "SUP-E", "supplier"),
        "SUP-G": node(s, "SUP-G", "supplier"),
        "DIST": node(s, "DIST", "distribution"),
        "BOILER": node(s, "BOILER", "conversion"),
        "WS": node(s, "WS", "unit", unit_id=ws.id),
        "DORM": node(s, "DORM", "unit", unit_id=dorm.id),
        "LEASE": node(s, "LEASE", "unit", unit_id=lease.id),
    }
    f = {
        "F1": flow(s, "electricity", n["SUP-E"], n["DIST"], 1, pts["E_IN"]),
        "F2": flow(s, "electricity", n["DIST"], n["WS"], 2, pts["E_WS"]),
        "F3": flow(s, "electricity", n["DIST"], n["DORM"], 2, pts["E_DORM"]),
        "F4": flow(s, "electricity", n["DIST"], n["LEASE"], 2, pts["E_LEASE"]),
        "F5": flow(s, "natural_gas_field", n["SUP-G"], n["BOILER"], 1, pts["G_IN"]),
        "F6": flow(s, "steam_low_pressure", n["BOILER"], n["WS"], 2, pts["S_WS"]),
        "F7": flow(s, "electricity", n["DIST"], n["BOILER"], 2, None),
    }
    return {"points": pts, "nodes": n, "flows": f}


def electricity_tce(per_day: int) -> Decimal:
    """15 days at 0.1229 and 16 days at 0.1300 kgce/kWh, in tce."""
    return (15 * per_day * D("0.1229") + 16 * per_day * D("0.1300")) / 1000


def by_type(sums: dict[str, Any]) -> dict[str, Decimal]:
    return {row["energy_type"]: row["quantity"] for row in sums["by_energy_type"]}


def test_levels_items_and_comprehensive_consumption(session: Any, plant: Any) -> None:
    result = figures.enterprise_figures(session, MARCH, APRIL, TZ, "440300")
    gas_tce = 31 * 200 * D("1.2143") / 1000  # 7.52866
    steam_tce = D("46.5") * 1000 * D("0.1286") / 1000  # 5.9799 (kgce/kg, 46.5 t)

    level1 = result["level1"]
    assert by_type(level1["in"]) == {"electricity": 31000, "natural_gas_field": 6200}
    assert level1["in"]["tce"] == electricity_tce(1000) + gas_tce == D("11.45216")
    # The leased building is outside the boundary: its supply is energy sent out.
    assert by_type(level1["out"]) == {"electricity": 4650}
    assert level1["out"]["tce"] == electricity_tce(150)

    items = result["items"]
    assert by_type(items["purchase_storage"]) == by_type(level1["in"])
    assert by_type(items["external_sale"]) == {"electricity": 4650}
    assert by_type(items["production_use"]) == {
        "electricity": 21700,
        "steam_low_pressure": D("46.5"),
    }
    assert items["production_use"]["tce"] == electricity_tce(700) + steam_tce
    assert by_type(items["living_use"]) == {"electricity": 3100}
    # The boiler's gas is bought straight in and converted; its electricity has no meter.
    assert by_type(items["conversion"]) == {"natural_gas_field": 6200}
    assert items["conversion"]["complete"] is False
    assert items["conversion"]["unmetered_flows"] == [plant["flows"]["F7"].id]
    assert by_type(items["own_use"]) == {"electricity": 31000 - 4650, "natural_gas_field": 6200}

    # GB/T 2589: in - out - living; the steam made from the gas is not counted again.
    comprehensive = result["comprehensive"]
    expected = electricity_tce(1000) + gas_tce - electricity_tce(150) - electricity_tce(100)
    assert expected == D("10.471285")
    assert comprehensive == {
        "tce": expected,
        "complete": True,
        "unmetered_flows": [],
        "tce_missing": [],
        "rule": comprehensive["rule"],
    }

    level2 = {row["code"]: row for row in result["level2"]}
    assert set(level2) == {"WS", "DORM"}  # LEASE is outside, so it is level 1 out
    assert by_type(level2["WS"]["in"]) == {"electricity": 21700, "steam_low_pressure": D("46.5")}


def test_a_missing_required_meter_makes_comprehensive_incomplete(session: Any, plant: Any) -> None:
    f1 = plant["flows"]["F1"]
    services.update_flow(
        session, f1, {**{k: getattr(f1, k) for k in services.FLOW_FIELDS}, "point_id": None}
    )
    comprehensive = figures.enterprise_figures(session, MARCH, APRIL, TZ, "440300")["comprehensive"]
    assert comprehensive["tce"] is None
    assert comprehensive["complete"] is False
    assert comprehensive["unmetered_flows"] == [f1.id]


def test_balances_in_equals_out_plus_loss(session: Any, plant: Any) -> None:
    nodes = {row["code"]: row for row in figures.balances(session, MARCH, APRIL, TZ, "440300")}
    assert set(nodes) == {"DIST", "BOILER"}
    (dist,) = nodes["DIST"]["by_energy_type"]
    # F7 has no meter: the distribution balance cannot close.
    assert (dist["in"], dist["complete"], dist["loss"]) == (31000, False, None)

    f7 = plant["flows"]["F7"]
    services.update_flow(
        session,
        f7,
        {
            **{k: getattr(f7, k) for k in services.FLOW_FIELDS},
            "point_id": plant["points"]["E_BOIL"].id,
        },
    )
    nodes = {row["code"]: row for row in figures.balances(session, MARCH, APRIL, TZ, "440300")}
    (dist,) = nodes["DIST"]["by_energy_type"]
    # 1000 in, 700 + 100 + 150 + 30 out: 20 kWh a day lost in distribution.
    assert (dist["in"], dist["out"], dist["loss"]) == (31000, 30380, 620)
    assert dist["loss_rate"] == D("2.00")
    boiler = nodes["BOILER"]["tce"]
    tce_in = 31 * 200 * D("1.2143") / 1000 + electricity_tce(30)
    tce_out = D("46.5") * D("0.1286")
    assert (boiler["in"], boiler["out"], boiler["loss"]) == (tce_in, tce_out, tce_in - tce_out)
    assert boiler["loss_rate"] == ((tce_in - tce_out) * 100 / tce_in).quantize(D("0.01"))
    assert boiler["loss_rate"] == D("21.79")


def test_equipping_rates_against_gb17167(session: Any, plant: Any) -> None:
    rates = {
        (r["energy_type"], r["level"]): r
        for r in figures.equipping_rates(session, date(2025, 6, 1))
    }
    electricity_l2 = rates[("electricity", 2)]
    assert (electricity_l2["required"], electricity_l2["equipped"]) == (4, 3)
    assert electricity_l2["rate"] == D("75.00")
    assert electricity_l2["missing_flows"] == [plant["flows"]["F7"].id]
    assert (electricity_l2["required_rate"], electricity_l2["meets"]) == (100, False)
    assert electricity_l2["standard"] == "GB 17167-2006"
    assert electricity_l2["superseded"] is False
    steam = rates[("steam_low_pressure", 2)]
    assert (steam["rate"], steam["required_rate"], steam["meets"]) == (100, 80, True)
    assert rates[("natural_gas_field", 1)]["meets"] is True
    # After 2026-02-01 the 2006 edition is superseded by 2025's, whose tables are not loaded.
    later = figures.equipping_rates(session, date(2026, 6, 1), "electricity")
    assert {r["superseded"] for r in later} == {True}


def test_coefficient_missing_is_reported_not_guessed(session: Any, plant: Any) -> None:
    from ems.energy.models import EnergySettings

    settings = session.scalar(select(EnergySettings))
    if settings is None:
        settings = EnergySettings(electricity_basis="equal_value")
        session.add(settings)
    settings.electricity_basis = "equal_value"
    session.flush()
    result = figures.enterprise_figures(session, MARCH, APRIL, TZ, "440300")
    # The override is on the equivalent basis; no equal-value coefficient exists.
    assert result["level1"]["in"]["tce"] is None
    assert result["level1"]["in"]["tce_missing"] == ["electricity"]
    assert result["comprehensive"]["tce"] is None


def test_graph_rules(session: Any, plant: Any, world: Any) -> None:
    n, p = plant["nodes"], plant["points"]
    with pytest.raises(InvalidInput) as caught:
        flow(session, "electricity", n["DIST"], n["WS"], 1, None)
    assert "level" in caught.value.fields
    with pytest.raises(InvalidInput) as caught:
        flow(session, "fresh_water", n["SUP-E"], n["LEASE"], 2, None)
    assert "to_node_id" in caught.value.fields  # both ends outside the enterprise
    with pytest.raises(InvalidInput) as caught:
        flow(session, "fresh_water", n["DIST"], n["WS"], 2, p["E_WS"])
    assert "point_id" in caught.value.fields  # an electricity meter on a water flow
    with pytest.raises(Conflict):
        flow(session, "electricity", n["DIST"], n["WS"], 2, None)  # exists
    with pytest.raises(Conflict):
        flow(session, "electricity", n["WS"], n["DORM"], None, p["E_WS"])  # point in use
    gauge = point(session, "P_KW", "electricity", "kW")
    gauge.kind = "instantaneous"
    with pytest.raises(InvalidInput) as caught:
        flow(session, "electricity", n["WS"], n["DORM"], None, gauge)
    assert "point_id" in caught.value.fields
    with pytest.raises(Conflict):
        services.delete_node(session, n["DIST"])
    with pytest.raises(InvalidInput) as caught:
        node(session, "X", "unit")
    assert "unit_id" in caught.value.fields
    from ems.org import services as org

    ws_unit = session.get(Unit, n["WS"].unit_id)
    with pytest.raises(Conflict, match="network node"):
        org.delete_unit(session, ws_unit)


def test_default_build_adds_only_what_is_missing(session: Any, world: Any) -> None:
    from ems.meters.models import Meter, MeterPoint

    site = world.sites["alpha"][0]
    key = unit(session, site, "NET-KEY", "轧钢车间", "main_production")
    counter = point(session, "E_KEY", "electricity", "kWh")
    intake = point(session, "E_SITE", "electricity", "kWh")
    for number, level, where, p in (
        ("NET-M2", 2, {"unit_id": key.id}, counter),
        ("NET-M1", 1, {"site_id": site}, intake),
    ):
        meter = Meter(
            name="电能表",
            level=level,
            management_number=number,
            energy_type="electricity",
            state="normal",
            **where,
        )
        session.add(meter)
        session.flush()
        session.add(MeterPoint(point_id=p.id, meter_id=meter.id, linked_by="manual"))
    session.flush()
    nodes, flows = services.default_build(session, ["electricity", "fresh_water"])
    metered = {(f.level, f.point_id, f.label) for f in flows if f.point_id is not None}
    assert metered == {(2, counter.id, "NET-M2"), (1, intake.id, "NET-M1")}
    codes = {node.code for node in nodes}
    assert {"SUP-electricity", "SUP-fresh_water", "UNIT-NET-KEY"} <= codes
    levels = sorted(
        (f.energy_type, f.level)
        for f in flows
        if f.to_node_id in {n.id for n in nodes if n.code == "UNIT-NET-KEY"}
    )
    assert levels == [("electricity", 2), ("fresh_water", 2)]
    again_nodes, again_flows = services.default_build(session, ["electricity"])
    assert (again_nodes, again_flows) == ([], [])
    with pytest.raises(InvalidInput):
        services.default_build(session, ["unobtainium"])


def test_svg_marks_equipped_and_missing_meters(session: Any, plant: Any) -> None:
    nodes = list(session.scalars(select(NetworkNode)))
    flows = list(session.scalars(select(NetworkFlow)))
    e_in = plant["points"]["E_IN"].id
    text = svg.render(
        nodes, flows, title="电力计量网络图", live={e_in: {"value": 1234.5, "unit": "kWh"}}
    )
    assert text.startswith("<svg") and text.endswith("</svg>")
    assert text.count('class="meter equipped"') == 6
    assert text.count('class="meter missing"') == 1
    assert "缺配" in text and "电力计量网络图" in text and "1,234.5 kWh" in text
    assert "Noto Sans CJK SC" in text
    import xml.dom.minidom

    xml.dom.minidom.parseString(text)  # noqa: S318 (our own output) - well-formed


@pytest.fixture
def clean_network(database: Any, world: Any) -> Iterator[None]:
    yield
    with database.transaction(world.tenants["alpha"].schema_name) as s:
        s.execute(delete(NetworkFlow))
        s.execute(delete(NetworkNode))
        s.execute(delete(Unit).where(Unit.code.like("NETAPI-%")))


def test_api_round_trip_roles_and_bad_input(
    client_for: Any, world: Any, clean_network: None
) -> None:
    alice, vera = client_for("alice"), client_for("vera")
    made = alice.post(
        f"{BASE}/network/nodes", json={"code": "G", "name": "电网", "kind": "supplier"}
    )
    assert made.status_code == 201, made.get_json()
    grid = made.get_json()
    assert grid["stage"] == "purchase_storage"
    bus = alice.post(
        f"{BASE}/network/nodes", json={"code": "B", "name": "母线", "kind": "distribution"}
    ).get_json()
    body = {
        "energy_type": "electricity",
        "from_node_id": grid["id"],
        "to_node_id": bus["id"],
        "level": 1,
    }
    created = alice.post(f"{BASE}/network/flows", json=body)
    assert created.status_code == 201, created.get_json()
    flow_id = created.get_json()["id"]
    assert alice.get(f"{BASE}/network/flows?energy_type=electricity").get_json()[0]["id"] == flow_id

    assert_error(vera.post(f"{BASE}/network/flows", json=body), 403, "forbidden")
    assert vera.get(f"{BASE}/network/figures?from=2026-03-01&to=2026-04-01").status_code == 200

    rates = alice.get(f"{BASE}/network/equipping-rates?on=2025-01-01").get_json()["rates"]
    assert rates == [
        {
            **rates[0],
            "energy_type": "electricity",
            "level": 1,
            "required": 1,
            "equipped": 0,
            "rate": "0",
            "meets": False,
            "required_rate": "100",
        }
    ]
    figures_ = alice.get(f"{BASE}/network/figures?from=2026-03-01&to=2026-04-01").get_json()
    assert figures_["comprehensive"]["unmetered_flows"] == [flow_id]
    svg_resp = alice.get(f"{BASE}/network/diagram.svg?energy_type=electricity&live=true")
    assert svg_resp.status_code == 200 and svg_resp.mimetype == "image/svg+xml"
    assert "电力能源计量网络图" in svg_resp.get_data(as_text=True)
    live = alice.get(f"{BASE}/network/live").get_json()["flows"]
    assert live == [
        {
            "flow_id": flow_id,
            "energy_type": "electricity",
            "level": 1,
            "point_id": None,
            "latest": None,
        }
    ]
    requirements = alice.get(f"{BASE}/metering-requirements").get_json()
    assert {r["edition"] for r in requirements} == {"2006"}
    assert all(r["source"] for r in requirements)

    etag = alice.get(f"{BASE}/network/nodes/{bus['id']}").headers["ETag"]
    assert_error(alice.delete(f"{BASE}/network/nodes/{bus['id']}", headers={"If-Match": etag}), 409)
    flow_etag = alice.get(f"{BASE}/network/flows/{flow_id}").headers["ETag"]
    gone = alice.delete(f"{BASE}/network/flows/{flow_id}", headers={"If-Match": flow_etag})
    assert gone.status_code == 204
    assert (
        alice.delete(f"{BASE}/network/nodes/{bus['id']}", headers={"If-Match": etag}).status_code
        == 204
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/network/nodes", {"code": "A", "name": "x", "kind": "castle"}, "kind"),
        ("POST", "/network/nodes", {"code": "A B", "name": "x", "kind": "supplier"}, "code"),
        ("POST", "/network/nodes", {"code": "A", "name": "x", "kind": "unit"}, "unit_id"),
        (
            "POST",
            "/network/nodes",
            {"code": "A", "name": "x", "kind": "unit", "unit_id": 999999},
            None,
        ),
        (
            "POST",
            "/network/nodes",
            {"code": "A", "name": "x", "kind": "supplier", "stage": "x"},
            "stage",
        ),
        (
            "POST",
            "/network/nodes",
            {"code": "A", "name": "x", "kind": "supplier", "equipment_id": 5},
            "equipment_id",
        ),
        (
            "POST",
            "/network/flows",
            {"energy_type": "electricity", "from_node_id": 999998, "to_node_id": 999999},
            "from_node_id",
        ),
        (
            "POST",
            "/network/flows",
            {"energy_type": "unobtainium", "from_node_id": 1, "to_node_id": 2},
            "energy_type",
        ),
        (
            "POST",
            "/network/flows",
            {"energy_type": "electricity", "from_node_id": 1, "to_node_id": 1},
            "to_node_id",
        ),
        (
            "POST",
            "/network/flows",
            {"energy_type": "electricity", "from_node_id": 1, "to_node_id": 2, "level": 4},
            "level",
        ),
        ("POST", "/network/default-build", {"energy_types": []}, "energy_types"),
        ("POST", "/network/default-build", {"energy_types": ["unobtainium"]}, "energy_type"),
        ("GET", "/network/figures?from=2026-04-01&to=2026-03-01", None, "to"),
        ("GET", "/network/figures?from=2025-01-01&to=2026-03-01", None, "to"),
        ("GET", "/network/figures?from=yesterday", None, "from"),
        ("GET", "/network/figures?energy_type=unobtainium", None, "energy_type"),
        ("GET", "/network/balance?to=1999-01-01", None, "to"),
        ("GET", "/network/equipping-rates?on=soon", None, "on"),
        ("GET", "/network/diagram.svg?energy_type=unobtainium", None, "energy_type"),
        ("GET", "/network/diagram.svg?live=maybe", None, "live"),
    ],
)
def test_bad_input_names_the_field(
    client_for: Any, method: str, path: str, body: Any, field: str | None, clean_network: None
) -> None:
    r = client_for("alice").open(method, BASE + path, json=body)
    if field is None:
        assert_error(r, 404)
        return
    payload = assert_error(r, 422)
    fields = payload.get("fields", {})
    flat = set(fields) | {k.split(".")[0] for k in fields}
    assert any(field in key for key in flat), (path, payload)


def quarter(s: Any, p: Point, start: datetime, consumption: float) -> None:
    s.add(
        PointRollup(point=p.id, grain="15m", start=start, consumption=consumption, count=1, flags=0)
    )
    s.flush()


def test_realtime_views_sum_the_latest_quarter_hours(session: Any, plant: Any, world: Any) -> None:
    from ems.networks import realtime

    s, n, p = session, plant["nodes"], plant["points"]
    process = Unit(
        site_id=world.sites["alpha"][0],
        code="NET-PROC",
        name="转炉工序",
        kind="process",
        role="main_production",
    )
    s.add(process)
    s.flush()
    proc = node(s, "PROC", "unit", unit_id=process.id)
    oven = node(s, "OVEN", "equipment", unit_id=process.id)
    p_proc = point(s, "E_PROC", "electricity", "kWh")
    p_oven = point(s, "E_OVEN", "electricity", "MWh")
    flow(s, "electricity", n["WS"], proc, 2, p_proc)
    flow(s, "electricity", n["DIST"], oven, 3, p_oven)
    now = datetime(2026, 3, 10, 8, 7, tzinfo=UTC)
    q = datetime(2026, 3, 10, 7, 45, tzinfo=UTC)  # the last quarter hour that has ended
    quarter(s, p["E_IN"], q - timedelta(minutes=15), 999.0)  # older: not the latest
    quarter(s, p["E_IN"], q, 250.0)
    quarter(s, p["E_LEASE"], q, 25.0)
    quarter(s, p["G_IN"], q, 12.5)
    quarter(s, p["E_WS"], q, 100.0)
    quarter(s, p_proc, q, 40.0)
    quarter(s, p_oven, q, 0.02)  # MWh: 20 kWh
    quarter(s, p["E_DORM"], q - timedelta(hours=2), 10.0)  # two hours old: stale
    result = realtime.views(s, now)

    def rates(view: dict[str, Any]) -> dict[str, Any]:
        return {r["energy_type"]: (r["rate"], r["unit"]) for r in view["by_energy_type"]}

    enterprise = result["enterprise"]
    # (250 - 25) kWh in 15 minutes = 900 kW; 12.5 m3 in 15 minutes = 50 m3/h.
    assert rates(enterprise) == {
        "electricity": (900, "kWh/h"),
        "natural_gas_field": (50, "m3/h"),
    }
    assert enterprise["as_of"] == "2026-03-10T08:00:00+00:00"
    (site,) = result["sites"]
    # Final use: WS 400 kW (E_WS) + the oven 80 kW; the dorm has no recent quarter.
    assert rates(site)["electricity"] == (480, "kWh/h")
    assert plant["flows"]["F3"].id in site["stale_flows"]
    (process_view,) = result["processes"]
    assert rates(process_view) == {"electricity": (160, "kWh/h")}
    (equipment_view,) = result["equipment"]
    assert rates(equipment_view) == {"electricity": (80, "kWh/h")}


def test_series_by_day_with_period_on_period_change(session: Any, plant: Any) -> None:
    from ems.actuals.periods import Period, plan

    spans = plan(Period.DAY, date(2026, 3, 15), date(2026, 3, 17), TZ, datetime.now(UTC))
    fifteenth, sixteenth = figures.series(session, spans, TZ, "440300")
    # in (electricity 1000 kWh + gas 200 m3) - out (lease 150 kWh) - living (dorm 100 kWh)
    before = (1000 - 150 - 100) * D("0.1229") / 1000 + 200 * D("1.2143") / 1000
    after = (1000 - 150 - 100) * D("0.1300") / 1000 + 200 * D("1.2143") / 1000
    assert fifteenth["tce"]["comprehensive"] == before == D("0.335035")
    assert sixteenth["tce"]["comprehensive"] == after
    change = sixteenth["period_on_period"]
    assert change["from"] == date(2026, 3, 15)
    assert (
        change["change_pct"]["comprehensive"]
        == ((after - before) * 100 / before).quantize(D("0.01"))
        == D("1.59")
    )
    # A year earlier nothing was metered: the base is 0 and no percentage is given.
    assert sixteenth["year_on_year"]["tce"]["comprehensive"] == 0
    assert sixteenth["year_on_year"]["change_pct"]["comprehensive"] is None


def test_series_route(client_for: Any, clean_network: None) -> None:
    alice = client_for("alice")
    r = alice.get(f"{BASE}/network/figures/series?period=month&from=2026-01-01&to=2026-04-01")
    assert r.status_code == 200, r.get_json()
    assert [b["label"] for b in r.get_json()["buckets"]] == ["2026-01", "2026-02", "2026-03"]
    assert_error(alice.get(f"{BASE}/network/figures/series?period=shift"), 422)
    assert_error(alice.get(f"{BASE}/network/figures/series?period=month&from=2026-01-02"), 422)


def test_live_diagram_shows_values_and_meter_alarms(
    client_for: Any, database: Any, world: Any, clean_network: None
) -> None:
    from ems.meters.models import Meter, MeterPoint
    from ems.telemetry.models import LatestValue

    schema = world.tenants["alpha"].schema_name
    with database.transaction(schema) as s:
        grid, bus = node(s, "LIVE-G", "supplier"), node(s, "LIVE-B", "distribution")
        p = point(s, "LIVE_E", "electricity", "kWh")
        meter = Meter(name="电能表", level=1, management_number="LIVE-M1",
                      energy_type="electricity", state="faulty")  # fmt: skip
        s.add(meter)
        s.flush()
        s.add(MeterPoint(point_id=p.id, meter_id=meter.id, linked_by="manual"))
        s.add(LatestValue(point=p.id, ts=datetime(2026, 3, 1, tzinfo=UTC), value=4321.5,
                          quality=0, received_at=datetime(2026, 3, 1, tzinfo=UTC)))  # fmt: skip
        flow(s, "electricity", grid, bus, 1, p)
        ids = (p.id, meter.id)
    try:
        alice = client_for("alice")
        (live,) = alice.get(f"{BASE}/network/live?energy_type=electricity").get_json()["flows"]
        assert live["latest"]["value"] == 4321.5
        assert (live["latest"]["meter_state"], live["latest"]["alarm"]) == ("faulty", True)
        text = alice.get(f"{BASE}/network/diagram.svg?live=true").get_data(as_text=True)
        assert "4,321.5 kWh" in text and 'fill="#c62828">4,321.5' in text
    finally:
        with database.transaction(schema) as s:
            s.execute(delete(NetworkFlow))
            s.execute(delete(MeterPoint).where(MeterPoint.point_id == ids[0]))
            s.execute(delete(Meter).where(Meter.id == ids[1]))
            s.execute(delete(LatestValue).where(LatestValue.point == ids[0]))
            s.execute(delete(Point).where(Point.id == ids[0]))
