"""Issue 5 acceptance: a fixture plant, from meter readings to the figures, checked by hand.

A new tenant (Asia/Shanghai) with four counters read every 15 minutes from local
2026-03-14 00:00 to 2026-03-18 00:00 (four days, 385 readings each), stored as the ingest
stores them and rolled up by the real rollup code:

    E_IN    electricity at the boundary     +10   kWh a quarter hour ->   960 kWh a day
    E_WS    electricity to the steel shop   +8    kWh                ->   768 kWh a day
    E_DORM  electricity to the dormitory    +1.5  kWh                ->   144 kWh a day
    G_IN    natural gas (gas field)         +0.5  m3                 ->    48 m3 a day

Only E_IN and G_IN count in the category totals (the others are sub-meters). The network:

    SUP-E --L1 E_IN--> DIST --L2 E_WS--> WS (main production) --L3 no meter--> FURNACE
                       DIST --L2 E_DORM--> DORM (living)
    SUP-G --L1 G_IN--> WS

Electricity has a tenant override of 0.1300 kgce/kWh from 2026-03-16, so the 14th and
15th count at GB/T 2589's 0.1229 and the 16th and 17th at 0.1300: a coefficient change in
the middle of the month. 100 t of clinker were produced over the four days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ems.actuals.intensity import IntensityQuery, Numerator
from ems.actuals.intensity import report as intensity_report
from ems.actuals.models import Product, ProductOutput
from ems.actuals.periods import Period
from ems.actuals.reports import ActualsQuery, actuals_report
from ems.energy.models import CoefficientOverride
from ems.networks import figures, services
from ems.org.models import Unit
from ems.sites.models import Site
from ems.telemetry.models import Point
from tests.ingest import conftest as ingest_fixtures
from tests.telemetry.test_rollups import Connect, roll, write

make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect
D = Decimal
TZ = ZoneInfo("Asia/Shanghai")
FOUR = D("0.0001")  # reports show tce to 4 places, rounded half up
FIRST, END = date(2026, 3, 14), date(2026, 3, 18)
COUNTERS = (
    ("E_IN", "cumulative", "kWh", None, None),
    ("E_WS", "cumulative", "kWh", None, None),
    ("E_DORM", "cumulative", "kWh", None, None),
    ("G_IN", "cumulative", "m3", None, None),
)
STEPS = {"E_IN": 10.0, "E_WS": 8.0, "E_DORM": 1.5, "G_IN": 0.5}

# By hand. tce = kgce / 1000; 0.1229 before the 16th, 0.1300 from it; gas 1.2143 kgce/m3.
E_DAY = {d: 960 * (D("0.1229") if d < 16 else D("0.1300")) / 1000 for d in (14, 15, 16, 17)}
GAS_DAY = 48 * D("1.2143") / 1000  # 0.0582864
TOTAL = sum(E_DAY.values(), D(0)) + 4 * GAS_DAY  # 0.7187136
LIVING = (2 * 144 * D("0.1229") + 2 * 144 * D("0.1300")) / 1000  # 0.0728352
COMPREHENSIVE = TOTAL - LIVING  # nothing leaves the boundary


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)


def build(database: Any, connect: Connect, make_plant: Any) -> Any:
    plant = make_plant(points=COUNTERS)
    start = midnight(FIRST)
    for code, step in STEPS.items():
        readings = [
            (start + timedelta(minutes=15 * i), 1000.0 + step * i) for i in range(4 * 96 + 1)
        ]
        write(connect, plant.schema, plant.points[code], readings)
    with database.transaction(plant.schema) as s:
        for code in STEPS:
            point = s.get(Point, plant.points[code])
            point.energy_type = "natural_gas_field" if code == "G_IN" else "electricity"
            point.in_category_total = code in ("E_IN", "G_IN")
        site = Site(code="S1", name="一厂")
        s.add(site)
        s.flush()
        ws = Unit(site_id=site.id, code="WS", name="炼钢车间", kind="workshop",
                  role="main_production", is_key_unit=True)  # fmt: skip
        dorm = Unit(site_id=site.id, code="DORM", name="职工宿舍", kind="workshop",
                    role="living", is_key_unit=True)  # fmt: skip
        s.add_all([ws, dorm])
        s.flush()
        s.add(
            CoefficientOverride(
                energy_type="electricity",
                basis="equivalent",
                value=D("0.1300"),
                unit="kgce/kWh",
                valid_from=date(2026, 3, 16),
                reason="grid company's published figure",
                recorded_by="energy.manager@example.com",
            )
        )
        node = {
            code: services.create_node(s, {"code": code, "name": code, "kind": kind, **extra})
            for code, kind, extra in (
                ("SUP-E", "supplier", {}),
                ("SUP-G", "supplier", {}),
                ("DIST", "distribution", {}),
                ("WS", "unit", {"unit_id": ws.id}),
                ("DORM", "unit", {"unit_id": dorm.id}),
                ("FURNACE", "equipment", {"unit_id": ws.id}),
            )
        }
        for energy, a, b, level, code in (
            ("electricity", "SUP-E", "DIST", 1, "E_IN"),
            ("electricity", "DIST", "WS", 2, "E_WS"),
            ("electricity", "DIST", "DORM", 2, "E_DORM"),
            ("natural_gas_field", "SUP-G", "WS", 1, "G_IN"),
            ("electricity", "WS", "FURNACE", 3, None),
        ):
            services.create_flow(
                s,
                {
                    "energy_type": energy,
                    "from_node_id": node[a].id,
                    "to_node_id": node[b].id,
                    "level": level,
                    "point_id": plant.points[code] if code else None,
                },
            )
        product = Product(code="CLK", name="熟料", unit="t")
        s.add(product)
        s.flush()
        s.add(
            ProductOutput(
                product_id=product.id,
                period_from=FIRST,
                period_to=END,
                quantity=D(100),
                source="entered",
                entered_by="energy.manager@example.com",
            )
        )
    # Changing the points' categories marks nothing (no rollups yet); the readings' own
    # dirty ranges make this run compute every bucket.
    roll(database, plant.schema, "Asia/Shanghai")
    return plant


def test_fixture_plant_figures_match_the_hand_computation(
    database: Any, connect: Connect, make_plant: Any
) -> None:
    plant = build(database, connect, make_plant)
    now = datetime(2026, 3, 20, tzinfo=UTC)
    with database.session(plant.schema) as s:
        # Energy actuals by category, day by day, across the coefficient change.
        report = actuals_report(
            s, TZ, "440300", ActualsQuery(period=Period.DAY, start=FIRST, end=END), now
        )
        days = report["buckets"]
        assert [b["label"] for b in days] == [
            "2026-03-14",
            "2026-03-15",
            "2026-03-16",
            "2026-03-17",
        ]
        for bucket, day in zip(days, (14, 15, 16, 17), strict=True):
            lines = {line["energy_type"]: line for line in bucket["energy"]}
            assert D(lines["electricity"]["quantity"]) == 960
            assert D(lines["electricity"]["tce"]) == E_DAY[day].quantize(FOUR, ROUND_HALF_UP)
            (used,) = lines["electricity"]["coefficients"]
            assert D(used["value"]) == (D("0.1229") if day < 16 else D("0.1300"))
            assert D(lines["natural_gas_field"]["quantity"]) == 48
            assert D(lines["natural_gas_field"]["tce"]) == GAS_DAY.quantize(FOUR, ROUND_HALF_UP)
        # The whole span at once: each day still at its own coefficient.
        (span,) = actuals_report(
            s,
            TZ,
            "440300",
            ActualsQuery(period=Period.CUSTOM, start=FIRST, end=END, compare=False),
            now,
        )["buckets"]
        assert D(span["total_tce"]) == TOTAL.quantize(FOUR, ROUND_HALF_UP) == D("0.7187")

        # Levels, items and GB/T 2589 comprehensive consumption from the network.
        result = figures.enterprise_figures(s, FIRST, END, TZ, "440300")
        level1_in = {
            r["energy_type"]: r["quantity"] for r in result["level1"]["in"]["by_energy_type"]
        }
        assert level1_in == {"electricity": 3840, "natural_gas_field": 192}
        assert result["level1"]["in"]["tce"] == TOTAL
        assert result["items"]["living_use"]["tce"] == LIVING
        assert result["comprehensive"]["tce"] == COMPREHENSIVE == D("0.6458784")

        # Balance of the distribution bus: 960 in, 768 + 144 out, 48 kWh a day lost.
        balance = {n["code"]: n for n in figures.balances(s, FIRST, END, TZ, "440300")}
        (bus,) = balance["DIST"]["by_energy_type"]
        assert (bus["in"], bus["out"], bus["loss"], bus["loss_rate"]) == (
            3840,
            3648,
            192,
            D("5.00"),
        )

        # Equipping rates: every level 1 and 2 flow metered, the furnace's level 3 meter missing.
        rates = {
            (r["energy_type"], r["level"]): r for r in figures.equipping_rates(s, date(2025, 6, 1))
        }
        assert {k: (r["equipped"], r["required"]) for k, r in rates.items()} == {
            ("electricity", 1): (1, 1),
            ("electricity", 2): (2, 2),
            ("electricity", 3): (0, 1),
            ("natural_gas_field", 1): (1, 1),
        }
        assert rates[("electricity", 3)]["meets"] is False  # 0 % against 95 %
        assert rates[("electricity", 2)]["meets"] is True

        # Unit-product consumption: of the enterprise total, and of the comprehensive figure.
        query = IntensityQuery(period=Period.CUSTOM, start=FIRST, end=END)
        (bucket,) = intensity_report(s, TZ, "440300", query, now)["buckets"]
        (clinker,) = bucket["products"]
        assert D(clinker["output"]) == 100
        assert D(clinker["unit_consumption"]) == (TOTAL * 1000 / 100).quantize(FOUR, ROUND_HALF_UP)
        key = (midnight(FIRST), midnight(END))
        comprehensive = {key: Numerator(tce=COMPREHENSIVE, scope="comprehensive")}
        (bucket,) = intensity_report(s, TZ, "440300", query, now, energy=comprehensive)["buckets"]
        (clinker,) = bucket["products"]
        assert D(clinker["unit_consumption"]) == D("6.4588")  # 645.8784 kgce / 100 t
