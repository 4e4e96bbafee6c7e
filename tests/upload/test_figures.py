"""Figures of mapped codes: readings -> the real rollups -> :func:`figures.compute`,
checked against hand arithmetic in Decimal.

The reading plant (a fresh tenant, Asia/Shanghai = UTC+8) has, from local
2026-01-31 23:00 to 2026-02-01 01:00, one reading per quarter hour (9 each):

    M1.energy  electricity kWh, cumulative   1000 + 2.5 i   (2.5 kWh per quarter)
    M1.big     electricity MWh, cumulative     10 + 0.25 i  (0.25 MWh = 250 kWh per quarter)
    M2.water   fresh water t,   cumulative     50 + 0.5 i   (0.5 t per quarter)
    M1.power   kW, instantaneous: 10 at 00:00, 20 (estimated) at 00:05, 30 at 00:20

Each step is booked in the quarter of its earlier reading; the quarter of the last
reading (local 01:00) holds 0. So local 31 January has the quarters 23:00-23:45 and
1 February 00:00-00:45 (+ a zero at 01:00): 4 steps each.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ems.actuals.models import ManualQuantity, OutputValue, Product, ProductOutput
from ems.networks import services as network
from ems.org.models import Unit
from ems.telemetry.intervals import Flag, Quality
from ems.telemetry.models import Point
from ems.telemetry.rollup_models import PointRollup
from ems.upload import figures
from ems.upload.figures import Figure
from ems.upload.models import StatType, UploadCode
from tests.ingest import conftest as ingest_fixtures
from tests.telemetry.test_rollups import every, roll, set_point, write

make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect

D = Decimal
TZ = ZoneInfo("Asia/Shanghai")
ESTIMATED, GAP, MANUAL = int(Flag.ESTIMATED), int(Flag.GAP), int(Flag.MANUAL)
POINTS = (
    ("M1.energy", "cumulative", "kWh", None, None),
    ("M1.big", "cumulative", "MWh", None, None),
    ("M1.power", "instantaneous", "kW", None, None),
    ("M2.water", "cumulative", "t", None, None),
)


def local(*args: int) -> datetime:
    """A local Shanghai wall-clock time as the UTC instant."""
    return datetime(*args, tzinfo=TZ).astimezone(UTC)  # type: ignore[misc]


def code(id_: int, source: str, **refs: Any) -> UploadCode:
    """A mapping as compute sees it (never stored: compute only reads its fields)."""
    return UploadCode(id=id_, registration_id=1, code="0" * 16, name=source, scope=1,
                      source=source, **refs)  # fmt: skip


# --- units ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        ("1234.5", "kWh", "万kWh", "0.12345"),
        ("2", "MWh", "kWh", "2000"),
        ("1.5", "10^4 kWh", "kWh", "15000"),
        ("25000", "m3", "万m3", "2.5"),
        ("3", "万t", "t", "30000"),
        ("2500", "kg", "t", "2.5"),
        ("1.2", "GJ", "MJ", "1200"),
        ("0.1229", "tce", "kgce", "122.9"),
        ("5000", "元", "万元", "0.5"),
        ("38.099", "kgce/t", "tce/t", "0.038099"),
        ("38.099", "kgce/t", "kgce/kg", "0.038099"),
        ("7", "t", "t", "7"),
        ("7", "kW·h", "kWh", "7"),
    ],
)
def test_convert_by_scale(value: str, source: str, target: str, expected: str) -> None:
    assert figures.convert(D(value), source, target) == D(expected)


@pytest.mark.parametrize(
    ("source", "target"),
    [("kWh", "GJ"), ("t", "tce"), ("m3", "t"), ("kW", "kWh"), ("kgce/t", "kgce"), ("x", "x2")],
)
def test_convert_refuses_anything_else(source: str, target: str) -> None:
    assert figures.convert(D(1), source, target) is None


def test_convert_passes_none_through() -> None:
    assert figures.convert(None, "kWh", "MWh") is None
    assert figures.convert(D(1), None, "MWh") is None
    assert figures.convert(D(1), "kWh", None) is None


# --- category and point ---------------------------------------------------------------------


@pytest.fixture
def plant(make_plant: Any, connect: Any, database: Any) -> Iterator[Any]:
    """The reading plant of the module docstring, rolled up; yields a session of it."""
    built = make_plant(POINTS)
    p = built.points
    set_point(connect, built.schema, p["M2.water"], energy_type="fresh_water")
    start = local(2026, 1, 31, 23)
    steps = {"M1.energy": (1000.0, 2.5), "M1.big": (10.0, 0.25), "M2.water": (50.0, 0.5)}
    for name, (base, step) in steps.items():
        write(
            connect,
            built.schema,
            p[name],
            [(t, base + i * step) for i, t in enumerate(every(start, 9))],
        )
    midnight = local(2026, 2, 1)
    write(
        connect,
        built.schema,
        p["M1.power"],
        [
            (midnight, 10.0),
            (midnight + timedelta(minutes=5), 20.0, Quality.ESTIMATED),
            (midnight + timedelta(minutes=20), 30.0),
        ],
    )
    roll(database, built.schema, "Asia/Shanghai")
    session = database.session(built.schema)
    try:
        yield session, p
    finally:
        session.rollback()
        session.close()


def values(
    session: Any, codes: list[UploadCode], stat_type: StatType, starts: list[datetime], **kw: Any
) -> dict[tuple[int, datetime], Figure]:
    return figures.compute(session, codes, stat_type, starts, tz=TZ, **kw)


def test_category_and_point_figures(plant: Any) -> None:
    session, p = plant
    mapped = [
        code(1, "category", energy_type="electricity"),
        code(2, "category", energy_type="fresh_water"),
        code(3, "point", point_id=p["M1.energy"]),
        code(4, "point", point_id=p["M1.power"]),
        code(5, "category", energy_type="natural_gas_field"),
    ]
    midnight, one, three = local(2026, 2, 1), local(2026, 2, 1, 1), local(2026, 2, 1, 3)

    quarter = values(session, mapped, StatType.REALTIME, [midnight, three])
    # kWh and MWh counters of one type: put in the catalogue unit, 2.5 + 0.25 x 1000.
    assert quarter[(1, midnight)] == Figure(D("252.5"), "kWh", 0, None)
    assert quarter[(2, midnight)] == Figure(D("0.5"), "t", 0, None)
    assert quarter[(3, midnight)] == Figure(D("2.5"), "kWh", 0, None)
    assert quarter[(4, midnight)] == Figure(D(15), "kW", ESTIMATED, None)  # (10 + 20) / 2
    assert quarter[(5, midnight)].value is None and quarter[(5, midnight)].reason
    assert quarter[(3, three)] == Figure(None, None, 0, "the point has no readings in this period")

    half = values(session, mapped, StatType.REALTIME, [midnight, one], minutes=30)
    assert half[(1, midnight)] == Figure(D("505.0"), "kWh", 0, None)
    assert half[(3, midnight)] == Figure(D("5.0"), "kWh", 0, None)
    # 00:00 has 2 samples (mean 15), 00:15 one (30): (15 x 2 + 30) / 3 = 20.
    assert half[(4, midnight)] == Figure(D(20), "kW", ESTIMATED, None)
    # 01:00 has its zero row, 01:15 nothing: half the period is missing.
    assert half[(3, one)] == Figure(D(0), "kWh", GAP, None)

    hour = values(
        session, mapped, StatType.REALTIME, [local(2026, 1, 31, 23), midnight], minutes=60
    )
    assert hour[(1, local(2026, 1, 31, 23))] == Figure(D(1010), "kWh", 0, None)  # 4 x 252.5
    assert hour[(3, midnight)] == Figure(D(10), "kWh", 0, None)

    jan31, feb1 = local(2026, 1, 31), local(2026, 2, 1)
    day = values(session, mapped, StatType.DAY, [jan31, feb1])
    for start in (jan31, feb1):
        assert day[(1, start)] == Figure(D(1010), "kWh", 0, None)
        assert day[(2, start)] == Figure(D(2), "t", 0, None)
        assert day[(3, start)] == Figure(D(10), "kWh", 0, None)
    assert day[(4, feb1)] == Figure(D(20), "kW", ESTIMATED, None)  # (10 + 20 + 30) / 3

    january, february = local(2026, 1, 1), local(2026, 2, 1)
    month = values(session, mapped, StatType.MONTH, [january, february])
    assert month[(3, january)] == Figure(D(10), "kWh", 0, None)
    assert month[(3, february)] == Figure(D(10), "kWh", 0, None)
    assert month[(1, february)] == Figure(D(1010), "kWh", 0, None)

    # Two months of rows in the year: their sum, no GAP for the others (see figures).
    year = values(session, mapped, StatType.YEAR, [local(2026, 1, 1)])
    y = local(2026, 1, 1)
    assert year[(1, y)] == Figure(D(2020), "kWh", 0, None)
    assert year[(2, y)] == Figure(D(4), "t", 0, None)
    assert year[(3, y)] == Figure(D(20), "kWh", 0, None)
    assert year[(4, y)] == Figure(D(20), "kW", ESTIMATED, None)
    assert year[(5, y)].value is None


def test_reactive_energy_in_the_electricity_category_is_not_consumption(
    make_plant: Any, connect: Any, database: Any
) -> None:
    """A kvarh counter counted in the electricity category (as the demo plant's meters
    are) is left out of the kWh figure rather than failing it."""
    built = make_plant(
        (
            ("M1.kwh", "cumulative", "kWh", None, None),
            ("M1.kvarh", "cumulative", "kvarh", None, None),
        )
    )
    start = local(2026, 2, 1)
    for name, step in (("M1.kwh", 4.0), ("M1.kvarh", 1.5)):
        write(
            connect,
            built.schema,
            built.points[name],
            [(t, 100 + i * step) for i, t in enumerate(every(start, 5))],
        )
    roll(database, built.schema, "Asia/Shanghai")
    with database.session(built.schema) as session:
        got = values(
            session, [code(1, "category", energy_type="electricity")], StatType.REALTIME, [start]
        )
    assert got[(1, start)] == Figure(D(4), "kWh", 0, None)


def test_manual_quantities_and_the_comprehensive_fallback(plant: Any) -> None:
    session, _ = plant
    # 10 t of fresh water over local 31 January and 1 February, entered by hand: 5 t a day.
    session.add(
        ManualQuantity(
            energy_type="fresh_water",
            unit="t",
            quantity=D(10),
            period_from=date(2026, 1, 31),
            period_to=date(2026, 2, 2),
            reason="water bill",
            entered_by="alice@example.com",
        )
    )
    session.flush()
    mapped = [code(1, "category", energy_type="fresh_water"), code(2, "comprehensive")]
    jan31 = local(2026, 1, 31)
    day = values(session, mapped, StatType.DAY, [jan31])
    assert day[(1, jan31)] == Figure(D(7), "t", MANUAL, None)  # 2 metered + 5 entered
    # No network: the category actuals' total, each type at its GB/T 2589 coefficient:
    # 1010 kWh x 0.1229 kgce/kWh + 7 t x 0.0857 kgce/t, in tce.
    tce = (1010 * D("0.1229") + 7 * D("0.0857")) / 1000
    assert tce == D("0.1247289")
    assert day[(2, jan31)] == Figure(tce, "tce", MANUAL, None)
    quarter = values(session, mapped, StatType.REALTIME, [local(2026, 2, 1)])
    assert quarter[(1, local(2026, 2, 1))].value == D("0.5")  # no manual share in real time
    assert quarter[(2, local(2026, 2, 1))].value is None


def test_periods_not_made_of_quarter_hours_are_refused(plant: Any) -> None:
    session, p = plant
    found = values(session, [code(1, "point", point_id=p["M1.energy"])], StatType.REALTIME,
                   [local(2026, 2, 1)], minutes=20)  # fmt: skip
    assert found[(1, local(2026, 2, 1))].value is None
    assert values(session, [], StatType.DAY, [local(2026, 2, 1)]) == {}


# --- comprehensive consumption from the network, output and unit consumption ----------------


@pytest.fixture
def alpha(database: Any, world: Any) -> Iterator[tuple[Any, int]]:
    s = database.session(world.tenants["alpha"].schema_name)
    try:
        yield s, world.sites["alpha"][0]
    finally:
        s.rollback()
        s.close()


def test_network_output_and_unit_consumption(alpha: Any) -> None:
    """Supplier --electricity L1 [E_IN: 1000 kWh a day in March 2026]--> steelworks."""
    s, site = alpha
    works = Unit(site_id=site, code="UPF-WS", name="炼钢", kind="workshop", role="main_production")
    meter = Point(gateway_id="alpha-upf", code="UPF.E", name="UPF.E", energy_type="electricity",
                  kind="cumulative", unit="kWh", in_category_total=False)  # fmt: skip
    steel = Product(code="UPF-STEEL", name="粗钢", unit="t")
    s.add_all([works, meter, steel])
    s.flush()
    supplier = network.create_node(s, {"code": "UPF-SUP", "name": "电网", "kind": "supplier"})
    target = network.create_node(
        s, {"code": "UPF-WS", "name": "炼钢", "kind": "unit", "unit_id": works.id}
    )
    network.create_flow(
        s,
        {"energy_type": "electricity", "from_node_id": supplier.id, "to_node_id": target.id,
         "level": 1, "point_id": meter.id},
    )  # fmt: skip
    for day in range(1, 32):
        s.add(PointRollup(point=meter.id, grain="1d", start=local(2026, 3, day), consumption=1000.0,
                          count=96, flags=MANUAL if day == 5 else 0))  # fmt: skip
    s.add(ProductOutput(product_id=steel.id, period_from=date(2026, 3, 1),
                        period_to=date(2026, 4, 1), quantity=D(100), source="entered",
                        entered_by="alice@example.com"))  # fmt: skip
    s.add(OutputValue(kind="output_value", price_basis="current", period_from=date(2026, 3, 1),
                      period_to=date(2026, 4, 1), amount=D(500),
                      entered_by="alice@example.com"))  # fmt: skip
    s.flush()
    mapped = [
        code(1, "comprehensive"),
        code(2, "output", product_id=steel.id),
        code(3, "unit_consumption", product_id=steel.id),
        code(4, "output_value"),
        code(5, "value_added"),
    ]
    region = {"region_code": "440300"}
    march5, march6 = local(2026, 3, 5), local(2026, 3, 6)
    day = values(s, mapped, StatType.DAY, [march5, march6], **region)
    assert day[(1, march5)] == Figure(D("0.1229"), "tce", MANUAL, None)  # 1000 x 0.1229 / 1000
    assert day[(1, march6)] == Figure(D("0.1229"), "tce", 0, None)
    assert day[(2, march5)] == Figure(
        None, None, 0, "a record spans beyond this bucket (never prorated)"
    )
    assert day[(3, march5)].value is None
    assert day[(4, march5)].value is None

    march = local(2026, 3, 1)
    month = values(s, mapped, StatType.MONTH, [march], **region)
    tce = 31 * 1000 * D("0.1229") / 1000
    assert tce == D("3.8099")
    assert month[(1, march)] == Figure(tce, "tce", MANUAL, None)
    assert month[(2, march)] == Figure(D(100), "t", 0, None)
    # 3.8099 tce x 1000 / 100 t = 38.099 kgce/t
    assert month[(3, march)] == Figure(D("38.099"), "kgce/t", MANUAL, None)
    assert month[(4, march)] == Figure(D(500), "万元", 0, None)
    assert month[(5, march)] == Figure(None, None, 0, "no value added recorded for this period")

    year = values(s, mapped, StatType.YEAR, [local(2026, 1, 1)], **region)
    assert year[(1, local(2026, 1, 1))] == Figure(tce, "tce", MANUAL, None)
    assert year[(2, local(2026, 1, 1))].value is None  # March's record covers part of the year
    assert "records cover" in (year[(2, local(2026, 1, 1))].reason or "")
    quarter = values(s, mapped, StatType.REALTIME, [march5], **region)
    assert all(quarter[(i, march5)].value is None for i in range(1, 6))
    # A day without metered flows has no figure (not a zero).
    empty = values(s, mapped[:1], StatType.DAY, [local(2026, 4, 1)], **region)
    assert empty[(1, local(2026, 4, 1))] == Figure(
        None, None, 0, "no metered network flow in this period"
    )
