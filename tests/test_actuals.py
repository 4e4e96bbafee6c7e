"""Energy actuals by category, manual entry, production and unit consumption (issue 5, 6-8).

The fixture plant is a tenant of its own (Asia/Shanghai, UTC+8 all year, so a local day
starts at 16:00 UTC the day before), with users in three roles. Its category rollup rows
are inserted directly, as bench/rollup_query.py does for queries (the rollup code itself is
exercised end to end by the manual-reading test at the bottom):

- electricity (kWh), 1d rows: 1000 a day in March 2031, 800 a day in February 2031, 900 a
  day in March 2030. On 2031-03-09 and 2031-03-10 also 1h rows, 40 an hour from 00:00,
  48 from 08:00, 37 from 16:00 (24 hours = 1000), and on 2031-03-10 15m rows for the hours
  07 and 15 (10 and 12 a quarter).
- natural gas, gas field (m3): 100 a day in March 2031, 50 a day in February 2031; on the
  same two days 1h rows of 5, 5, 2.5 (= 100) and 15m rows of 1.25 for hours 07 and 15.
- a coefficient override: electricity 0.1300 kgce/kWh from 2031-03-16 to 2031-04-01, so
  March has 15 days at the national 0.1229 and 16 days at 0.1300.
- a manual quantity: 31 t of raw coal (0.7143 kgce/kg) over March 2031, 1 t a day.
- products: CLK (entered, 500 t in March 2031), CEM (read from a cumulative point whose 1d
  rollups give 20 t a day), ZERO (0 t in March 2031); output value 1000 and value added 250
  (10^4 CNY, current prices) for March 2031.

Expected figures are worked out below with Decimal arithmetic and rounded half up.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select

from tests.conftest import PASSWORD, ApiClient, assert_error, credit

D = Decimal
TZ = ZoneInfo("Asia/Shanghai")
ELEC = D("0.1229")  # kgce/kWh, GB/T 2589-2020 (seeded national row)
ELEC_OVERRIDE = D("0.1300")
GAS = D("1.2143")  # kgce/m3, natural gas from a gas field
COAL = D("0.7143")  # kgce/kg, raw coal
DIESEL = D("1.4571")  # kgce/kg

# March 2031, by hand (tce = kgce / 1000).
E_MAR = (15 * 1000 * ELEC + 16 * 1000 * ELEC_OVERRIDE) / 1000
G_MAR = 3100 * GAS / 1000
C_MAR = 31 * 1000 * COAL / 1000
T_MAR = E_MAR + G_MAR + C_MAR
E_FEB = 28 * 800 * ELEC / 1000
G_FEB = 1400 * GAS / 1000
T_FEB = E_FEB + G_FEB
E_MAR30 = 31 * 900 * ELEC / 1000


def q(value: Decimal, places: int) -> str:
    """As the API shows it: rounded half up to ``places`` decimals."""
    return str(value.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_UP))


def pct(now: Decimal, base: Decimal) -> str:
    return q((now - base) / base * 100, 2)


def local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(UTC)


def days(first: date, end: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((end - first).days)]


HOURLY = {"electricity": (40.0, 48.0, 37.0), "natural_gas_field": (5.0, 5.0, 2.5)}
QUARTER_HOURS = (7, 15)


class Plant:
    """What the fixture made."""

    def __init__(self, slug: str, schema: str) -> None:
        self.slug = slug
        self.schema = schema
        self.base = f"/api/v1/tenants/{slug}"
        self.ids: dict[str, int] = {}
        self.emails: dict[str, str] = {}
        self.clients: dict[str, ApiClient] = {}


def _category_rows() -> list[Any]:
    from ems.telemetry.rollup_models import CategoryRollup

    rows = []

    def add(energy_type: str, unit: str, grain: str, start: datetime, value: float) -> None:
        rows.append(
            CategoryRollup(
                energy_type=energy_type,
                unit=unit,
                grain=grain,
                start=start,
                consumption=value,
                points=1,
                flags=0,
            )
        )

    for day in days(date(2031, 3, 1), date(2031, 4, 1)):
        add("electricity", "kWh", "1d", local(day), 1000.0)
        add("natural_gas_field", "m3", "1d", local(day), 100.0)
    for day in days(date(2031, 2, 1), date(2031, 3, 1)):
        add("electricity", "kWh", "1d", local(day), 800.0)
        add("natural_gas_field", "m3", "1d", local(day), 50.0)
    for day in days(date(2030, 3, 1), date(2030, 4, 1)):
        add("electricity", "kWh", "1d", local(day), 900.0)
    units = {"electricity": "kWh", "natural_gas_field": "m3"}
    for energy_type, per_hour in HOURLY.items():
        for day in (date(2031, 3, 9), date(2031, 3, 10)):
            for hour in range(24):
                value = per_hour[hour // 8]
                add(energy_type, units[energy_type], "1h", local(day, hour), value)
                if day == date(2031, 3, 10) and hour in QUARTER_HOURS:
                    for quarter in range(4):
                        start = local(day, hour, 15 * quarter)
                        add(energy_type, units[energy_type], "15m", start, value / 4)
    return rows


def _tenant(database: Any, settings: Any) -> Plant:
    from ems_tenants import members, services

    tag = uuid.uuid4().hex[:6]
    with database.transaction() as session:
        tenant = services.create_tenant(
            session,
            services.TenantDraft(
                slug=f"actuals-{tag}",
                name=f"实绩 {tag}",
                credit_code=credit(f"91440300{int(tag, 16) % 10**9:09d}"),
                region_code="440300",
                industry_code="C3011",
                plan="enterprise",
            ),
        )
        services.provision(session, database.engine, settings.migrations_dir, tenant)
        plant = Plant(tenant.slug, tenant.schema_name)
        for role in ("tenant_admin", "operator", "viewer"):
            email = f"{role}-{tag}@actuals.example.com"
            members.create_user(session, email=email, name=f"{role} {tag}", password=PASSWORD)
            members.add_member(session, tenant, email, role)
            plant.emails[role] = email
    return plant


def _points_and_data(database: Any, plant: Plant) -> None:
    from ems.actuals import manual, production
    from ems.energy.models import CoefficientOverride
    from ems.telemetry.models import Point
    from ems.telemetry.rollup_models import PointRollup

    with database.transaction(plant.schema) as s:
        specs = {
            "E": ("electricity", "kWh", True),
            "G": ("natural_gas_field", "m3", True),
            "OUT": ("cement", "t", False),  # a production counter: not in any energy total
        }
        for code, (energy_type, unit, in_total) in specs.items():
            point = Point(
                gateway_id=f"{plant.slug}-gw",
                code=code,
                name=code,
                energy_type=energy_type,
                kind="cumulative",
                unit=unit,
                in_category_total=in_total,
            )
            s.add(point)
            s.flush()
            plant.ids[code] = point.id
        s.add_all(_category_rows())
        s.add_all(
            PointRollup(
                point=plant.ids["OUT"],
                grain="1d",
                start=local(day),
                consumption=20.0,
                count=96,
                flags=0,
            )
            for day in days(date(2031, 3, 1), date(2031, 4, 1))
        )
        override = CoefficientOverride(
            energy_type="electricity",
            basis="equivalent",
            value=ELEC_OVERRIDE,
            unit="kgce/kWh",
            valid_from=date(2031, 3, 16),
            valid_to=date(2031, 4, 1),
            reason="supplier's measured figure",
            recorded_by="test",
        )
        s.add(override)
        s.flush()
        plant.ids["override"] = override.id
        now = datetime.now(UTC)
        coal = manual.create_quantity(
            s,
            {
                "energy_type": "raw_coal",
                "unit": "t",
                "quantity": D(31),
                "period_from": date(2031, 3, 1),
                "period_to": date(2031, 4, 1),
                "reason": "weighbridge book, boiler house",
            },
            now,
        )
        plant.ids["coal"] = coal.id
        for code, point_id in (("CLK", None), ("CEM", plant.ids["OUT"]), ("ZERO", None)):
            product = production.create_product(
                s, {"code": code, "name": f"产品 {code}", "unit": "t", "point_id": point_id}
            )
            plant.ids[code] = product.id
        march = {"period_from": date(2031, 3, 1), "period_to": date(2031, 4, 1)}
        production.create_output(s, {"product_id": plant.ids["CLK"], "quantity": D(500), **march})
        production.create_output(s, {"product_id": plant.ids["ZERO"], "quantity": D(0), **march})
        for kind, amount in (("output_value", D(1000)), ("value_added", D(250))):
            production.create_value(
                s, {"kind": kind, "price_basis": "current", "amount": amount, **march}
            )


@pytest.fixture(scope="module")
def plant(app: Any, database: Any, settings: Any) -> Plant:
    """The fixture plant of the module docstring, with a logged-in client per role."""
    made = _tenant(database, settings)
    _points_and_data(database, made)
    for role, email in made.emails.items():
        client = ApiClient(app.test_client())
        response = client.login(email)
        assert response.status_code == 200, response.get_json()
        made.clients[role] = client
    return made


def get(plant: Plant, path: str, role: str = "viewer", **params: Any) -> Any:
    response = plant.clients[role].get(f"{plant.base}{path}", query_string=params)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    if path == "/actuals":
        # The API sends the report as the service built it: it must have the documented shape.
        from ems.actuals.schemas import ActualsSchema

        assert ActualsSchema().validate(body) == {}
    return body


def line(bucket: dict[str, Any], energy_type: str) -> dict[str, Any]:
    found = [entry for entry in bucket["energy"] if entry["energy_type"] == energy_type]
    assert len(found) == 1, bucket["energy"]
    return found[0]


# --- actuals --------------------------------------------------------------------------------


def test_month_by_category_with_a_coefficient_change_in_mid_month(plant: Plant) -> None:
    report = get(plant, "/actuals", period="month", **{"from": "2031-03-01"})
    assert report["timezone"] == "Asia/Shanghai"
    assert report["from"] == "2031-03-01T00:00:00+08:00"
    assert report["to"] == "2031-04-01T00:00:00+08:00"
    [march] = report["buckets"]
    assert march["label"] == "2031-03"

    electricity = line(march, "electricity")
    assert (electricity["quantity"], electricity["unit"]) == ("31000.000", "kWh")
    assert electricity["tce"] == q(E_MAR, 4) == "3.9235"
    assert electricity["name_zh"] == "电力"
    basis = {(c["origin"], c["value"], c["days"]) for c in electricity["coefficients"]}
    assert basis == {("national", "0.1229", 15), ("override", "0.1300", 16)}
    override = next(c for c in electricity["coefficients"] if c["origin"] == "override")
    assert override["row_id"] == plant.ids["override"]
    national = next(c for c in electricity["coefficients"] if c["origin"] == "national")
    assert "GB/T 2589-2020" in national["source"]
    assert electricity["manual"] is False and electricity["points"] == 1

    gas = line(march, "natural_gas_field")
    assert (gas["quantity"], gas["tce"]) == ("3100.000", q(G_MAR, 4))

    coal = line(march, "raw_coal")
    assert (coal["quantity"], coal["unit"], coal["tce"]) == ("31.000", "t", q(C_MAR, 4))
    assert coal["manual"] is True and "manual" in coal["flags"]
    assert coal["manual_quantities"] == [plant.ids["coal"]]

    assert march["total_tce"] == q(T_MAR, 4) == "29.8311"
    assert march["complete"] is True and march["manual"] is True


def test_year_on_year_and_period_on_period(plant: Plant) -> None:
    [march] = get(plant, "/actuals", period="month", **{"from": "2031-03-01"})["buckets"]
    yoy, mom = march["year_on_year"], march["period_on_period"]
    assert (yoy["label"], mom["label"]) == ("2030-03", "2031-02")
    assert yoy["total_tce"] == q(E_MAR30, 4)
    assert yoy["change"] == q(T_MAR - E_MAR30, 4)
    assert yoy["change_pct"] == pct(T_MAR, E_MAR30)
    assert mom["total_tce"] == q(T_FEB, 4)
    assert mom["change"] == q(T_MAR - T_FEB, 4)
    assert mom["change_pct"] == pct(T_MAR, T_FEB)

    electricity = line(march, "electricity")
    assert electricity["year_on_year"]["quantity"] == "27900.000"
    assert electricity["year_on_year"]["quantity_change"] == "3100.000"
    assert electricity["year_on_year"]["quantity_change_pct"] == pct(D(31000), D(27900))
    assert electricity["year_on_year"]["tce_change_pct"] == pct(E_MAR, E_MAR30)
    assert electricity["period_on_period"]["quantity"] == "22400.000"
    # No gas a year earlier: the change is the whole figure, the percentage has no base.
    gas_yoy = line(march, "natural_gas_field")["year_on_year"]
    assert (gas_yoy["quantity"], gas_yoy["quantity_change"]) == ("0.000", "3100.000")
    assert gas_yoy["quantity_change_pct"] is None and gas_yoy["tce_change_pct"] is None


def test_day_by_day_each_day_has_its_coefficient(plant: Plant) -> None:
    report = get(plant, "/actuals", period="day", **{"from": "2031-03-15", "to": "2031-03-17"})
    first, second = report["buckets"]
    assert (first["label"], second["label"]) == ("2031-03-15", "2031-03-16")
    assert line(first, "electricity")["tce"] == q(1000 * ELEC / 1000, 4) == "0.1229"
    assert line(second, "electricity")["tce"] == "0.1300"
    assert line(second, "raw_coal")["quantity"] == "1.000"
    assert line(second, "raw_coal")["tce"] == q(COAL, 4)
    # Period-on-period of a day is the day before; year-on-year has no 2030-03-16 gas.
    assert first["period_on_period"]["label"] == "2031-03-14"
    assert second["period_on_period"]["total_tce"] == first["total_tce"]
    expected = (1000 * ELEC_OVERRIDE + 100 * GAS + 1000 * COAL) / 1000
    assert second["total_tce"] == q(expected, 4)


def test_iso_weeks_start_on_monday(plant: Plant) -> None:
    report = get(plant, "/actuals", period="week", **{"from": "2031-03-03", "to": "2031-03-17"})
    labels = [b["label"] for b in report["buckets"]]
    assert labels == ["2031-W10", "2031-W11"]
    week11 = report["buckets"][1]
    assert week11["start"] == "2031-03-10T00:00:00+08:00"
    assert line(week11, "electricity")["quantity"] == "7000.000"
    assert line(week11, "electricity")["tce"] == q(
        (6 * 1000 * ELEC + 1000 * ELEC_OVERRIDE) / 1000, 4
    )
    assert week11["year_on_year"]["label"] == "2030-W11"
    assert week11["period_on_period"]["label"] == "2031-W10"


def test_quarters(plant: Plant) -> None:
    report = get(plant, "/actuals", period="quarter", **{"from": "2031-01-01", "to": "2031-07-01"})
    q1, q2 = report["buckets"]
    assert (q1["label"], q2["label"]) == ("2031-Q1", "2031-Q2")
    assert line(q1, "electricity")["quantity"] == "53400.000"
    assert q1["total_tce"] == q(T_MAR + T_FEB, 4)
    assert q1["year_on_year"]["total_tce"] == q(E_MAR30, 4)
    assert (q2["energy"], q2["total_tce"]) == ([], "0.0000")
    assert q2["period_on_period"]["change_pct"] == "-100.00"


def test_one_energy_type_and_no_comparisons(plant: Plant) -> None:
    report = get(
        plant,
        "/actuals",
        period="month",
        energy_type="natural_gas_field",
        compare="false",
        **{"from": "2031-03-01"},
    )
    [march] = report["buckets"]
    assert [entry["energy_type"] for entry in march["energy"]] == ["natural_gas_field"]
    assert march["total_tce"] == q(G_MAR, 4)
    assert "year_on_year" not in march and "year_on_year" not in march["energy"][0]


def test_missing_coefficient_keeps_the_quantity(plant: Plant) -> None:
    # No equal-value (等价值) electricity coefficient is seeded: the line says why.
    [march] = get(
        plant,
        "/actuals",
        period="month",
        electricity_basis="equal_value",
        **{"from": "2031-03-01"},
    )["buckets"]
    electricity = line(march, "electricity")
    assert electricity["quantity"] == "31000.000"
    assert electricity["tce"] is None and "等价值" in electricity["missing"]
    assert march["complete"] is False and march["missing"] == ["electricity"]
    assert march["total_tce"] == q(G_MAR + C_MAR, 4)


def test_custom_period_on_quarter_hours(plant: Plant) -> None:
    report = get(
        plant,
        "/actuals",
        period="custom",
        **{"from": "2031-03-10T07:30:00+08:00", "to": "2031-03-10T15:30:00+08:00"},
    )
    [span] = report["buckets"]
    # 07:30-08:00 from 15m rows, 08:00-15:00 from 1h rows, 15:00-15:30 from 15m rows.
    assert line(span, "electricity")["quantity"] == "380.000"  # 2 x 10 + 7 x 48 + 2 x 12
    assert line(span, "natural_gas_field")["quantity"] == "40.000"
    assert line(span, "raw_coal")["quantity"] == q(D(8) / 24, 3)
    assert span["period_on_period"]["start"] == "2031-03-09T23:30:00+08:00"
    assert span["period_on_period"]["end"] == "2031-03-10T07:30:00+08:00"


@pytest.fixture
def night_shifts(plant: Plant) -> Iterator[list[dict[str, Any]]]:
    """夜班 22:00-06:00 counted for the next day, 白班 06:00-14:00, 中班 14:00-22:00."""
    admin = plant.clients["tenant_admin"]
    made = []
    for name, start, end, previous in (
        ("夜班", "22:00", "06:00", True),
        ("白班", "06:00", "14:00", False),
        ("中班", "14:00", "22:00", False),
    ):
        body = {"name": name, "start": start, "end": end, "starts_previous_day": previous}
        r = admin.post(f"{plant.base}/shifts", json={**body, "sort_order": len(made)})
        assert r.status_code == 201, r.get_json()
        made.append(r.get_json())
    yield made
    for shift in made:
        url = f"{plant.base}/shifts/{shift['id']}"
        etag = admin.get(url).headers["ETag"]
        assert admin.delete(url, headers={"If-Match": etag}).status_code == 204


def test_shifts_across_midnight(plant: Plant, night_shifts: list[dict[str, Any]]) -> None:
    assert night_shifts[0]["crosses_midnight"] is True
    assert night_shifts[0]["duration_minutes"] == 480
    report = get(plant, "/actuals", period="shift", **{"from": "2031-03-10"})
    night, day, evening = report["buckets"]
    assert night["label"] == "2031-03-10 夜班" and night["day"] == "2031-03-10"
    assert night["start"] == "2031-03-09T22:00:00+08:00"
    assert night["end"] == "2031-03-10T06:00:00+08:00"
    assert [line(b, "electricity")["quantity"] for b in (night, day, evening)] == [
        "314.000",  # 2 x 37 (the evening before) + 6 x 40
        "368.000",  # 2 x 40 + 6 x 48
        "318.000",  # 2 x 48 + 6 x 37
    ]
    assert [line(b, "natural_gas_field")["quantity"] for b in (night, day, evening)] == [
        "35.000",
        "40.000",
        "25.000",
    ]
    assert line(night, "raw_coal")["quantity"] == q(D(8) / 24, 3)
    # 环比 of a shift: the same shift the day before (no hourly rows before 03-09 00:00).
    assert day["period_on_period"]["label"] == "2031-03-09 白班"
    assert line(day, "electricity")["period_on_period"]["quantity"] == "368.000"
    assert line(night, "electricity")["period_on_period"]["quantity"] == "240.000"


def test_shift_definitions_are_checked(plant: Plant, night_shifts: list[dict[str, Any]]) -> None:
    admin = plant.clients["tenant_admin"]
    cases = [
        ({"name": "早班", "start": "05:00", "end": "07:00"}, 422, "start"),  # overlaps two
        ({"name": "早班", "start": "07:10", "end": "09:00"}, 422, "start"),
        ({"name": "早班", "start": "25:00", "end": "09:00"}, 422, "start"),
        ({"name": "早班", "start": "07:00", "end": "9:00"}, 422, "end"),
        ({"name": "夜班", "start": "07:00", "end": "08:00"}, 409, "name"),
        ({"start": "07:00", "end": "08:00"}, 422, "name"),
    ]
    for body, status, field in cases:
        error = assert_error(admin.post(f"{plant.base}/shifts", json=body), status)
        assert field in error["fields"], (body, error)
    assert len(get(plant, "/shifts")) == 3


# --- unit consumption ---------------------------------------------------------------------


def test_unit_consumption_of_products_and_value(plant: Plant) -> None:
    [march] = get(plant, "/unit-consumption", period="month", **{"from": "2031-03-01"})["buckets"]
    assert march["energy_tce"] == q(T_MAR, 4)
    assert march["energy_scope"] == "enterprise_total"
    products = {p["code"]: p for p in march["products"]}
    assert products["CLK"]["output"] == "500.000"
    assert products["CLK"]["unit_consumption"] == q(T_MAR * 1000 / 500, 4)
    assert products["CLK"]["unit_consumption_unit"] == "kgce/t"
    assert products["CEM"]["output_source"] == "point"
    assert products["CEM"]["output"] == "620.000"
    assert products["CEM"]["unit_consumption"] == q(T_MAR * 1000 / 620, 4)
    assert products["ZERO"]["unit_consumption"] is None
    assert products["ZERO"]["reason"] == "output is zero"
    values = {(v["kind"], v["price_basis"]): v for v in march["values"]}
    assert values[("output_value", "current")]["unit_consumption"] == q(T_MAR / 1000, 4)
    assert values[("value_added", "current")]["unit_consumption"] == q(T_MAR / 250, 4)


def test_monthly_output_is_not_prorated_into_days(plant: Plant) -> None:
    report = get(
        plant,
        "/unit-consumption",
        period="day",
        product_id=plant.ids["CLK"],
        **{"from": "2031-03-10"},
    )
    [day] = report["buckets"]
    [clk] = day["products"]
    assert clk["output"] is None and clk["unit_consumption"] is None
    assert "never prorated" in clk["reason"]


def test_unit_consumption_formulas_take_the_numerator_as_a_parameter() -> None:
    from ems.actuals.intensity import (
        Denominator,
        Numerator,
        unit_product_consumption,
        unit_value_consumption,
    )

    energy = Numerator(D("12.5"), scope="unit 7")
    assert unit_product_consumption(energy, Denominator(D(250), True)).value == D(50)
    assert unit_value_consumption(energy, Denominator(D(100), True)).value == D("0.125")
    assert unit_product_consumption(energy, Denominator(D(0), True)).reason == "output is zero"
    missing = Numerator(None, "tce missing for electricity")
    assert unit_product_consumption(missing, Denominator(D(1), True)).reason == missing.reason


# --- manual quantities, products, outputs, values: writes and roles -----------------------


def test_manual_quantity_corrections_keep_every_version(plant: Plant) -> None:
    operator, viewer = plant.clients["operator"], plant.clients["viewer"]
    body = {
        "energy_type": "diesel",
        "unit": "kg",
        "quantity": "120.5",
        "period_from": "2031-06-01",
        "period_to": "2031-06-02",
        "reason": "fuel card, forklifts",
    }
    assert_error(viewer.post(f"{plant.base}/manual-quantities", json=body), 403, "forbidden")
    r = operator.post(f"{plant.base}/manual-quantities", json=body)
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    assert (made["version"], made["quantity"]) == (1, "120.5")
    url = f"{plant.base}/manual-quantities/{made['id']}"
    etag = operator.get(url).headers["ETag"]
    fixed = {**body, "quantity": "102.5", "reason": "typo in the fuel card total"}
    r = operator.put(url, json=fixed, headers={"If-Match": etag})
    assert r.status_code == 200, r.get_json()
    versions = get(plant, f"/manual-quantities/{made['id']}/versions")
    assert [(v["version"], v["quantity"], v["reason"]) for v in versions] == [
        (2, "102.5", "typo in the fuel card total"),
        (1, "120.5", "fuel card, forklifts"),
    ]
    [june] = get(plant, "/actuals", period="day", **{"from": "2031-06-01"})["buckets"]
    diesel = line(june, "diesel")
    assert (diesel["quantity"], diesel["unit"]) == ("0.103", "t")  # 102.5 kg in the type's unit
    assert diesel["tce"] == q(D("102.5") * DIESEL / 1000, 4)
    assert diesel["manual"] is True


def test_products_are_configuration_and_outputs_are_data(plant: Plant) -> None:
    operator, admin = plant.clients["operator"], plant.clients["tenant_admin"]
    product = {"code": "GYP", "name": "石膏", "unit": "t"}
    assert_error(operator.post(f"{plant.base}/products", json=product), 403, "forbidden")
    r = admin.post(f"{plant.base}/products", json=product)
    assert r.status_code == 201, r.get_json()
    output = {
        "product_id": r.get_json()["id"],
        "period_from": "2031-05-01",
        "period_to": "2031-06-01",
        "quantity": "12.25",
    }
    r = operator.post(f"{plant.base}/product-outputs", json=output)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["source"] == "entered"
    overlap = {**output, "period_from": "2031-05-31", "period_to": "2031-06-02"}
    error = assert_error(operator.post(f"{plant.base}/product-outputs", json=overlap), 409)
    assert "period_from" in error["fields"]


def test_output_import_is_all_or_nothing(plant: Plant) -> None:
    operator = plant.clients["operator"]
    url = f"{plant.base}/product-outputs/import"

    def send(text: str, encoding: str = "utf-8", name: str = "outputs.csv") -> Any:
        data = {"file": (io.BytesIO(text.encode(encoding)), name, "text/csv")}
        return operator.post(url, data=data, content_type="multipart/form-data")

    def count() -> int:
        return len(get(plant, "/product-outputs", product_id=plant.ids["CLK"]))

    before = count()
    bad = (
        "product_code,period_from,period_to,quantity,note\n"
        "CLK,2031-01-01,2031-02-01,480,一月\n"
        "CLK,2031-02-01,2031-03-01,-5,\n"
        "NOPE,2031-02-01,2031-03-01,5,\n"
        "CEM,2031-02-01,2031-03-01,5,\n"
        "CLK,2031-02-10,2031-02-01,5,\n"
    )
    error = assert_error(send(bad), 422, "invalid_input")
    assert error["fields"]["rows[3].quantity"] == ["must be at least 0"]
    assert error["fields"]["rows[4].product_code"] == ["no such product"]
    assert "read from point" in error["fields"]["rows[5].product_code"][0]
    assert "rows[6].period_to" in error["fields"]
    assert not any(key.startswith("rows[2].") for key in error["fields"])
    assert count() == before  # nothing written

    # The standard's Chinese headings, GB 18030 as a Chinese-locale Excel saves it.
    good = "产品代码,起始日期,截止日期(不含),合格产品产量\nCLK,2031-01-01,2031-02-01,480\n"
    r = send(good, "gb18030")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"created": 1, "replaced": 0}
    again = send(good.replace("480", "490"))
    assert again.get_json() == {"created": 0, "replaced": 1}
    january = [
        o
        for o in get(plant, "/product-outputs", product_id=plant.ids["CLK"])
        if o["period_from"] == "2031-01-01"
    ]
    assert [(o["quantity"], o["source"]) for o in january] == [("490", "imported")]
    clash = "product_code,period_from,period_to,quantity\nCLK,2031-01-15,2031-02-15,1\n"
    error = assert_error(send(clash), 422)
    assert "rows[2].period_from" in error["fields"]
    twice = (
        "product_code,period_from,period_to,quantity\n"
        "CLK,2031-11-01,2031-12-01,1\nCLK,2031-11-15,2031-12-15,1\n"
    )
    assert "rows[3].period_from" in assert_error(send(twice), 422)["fields"]
    assert_error(send("quantity\n1\n"), 422)
    assert_error(send("a,b", name="outputs.exe"), 422)
    assert count() == before + 1


# --- bad input ----------------------------------------------------------------------------

BAD_QUERIES = [
    ("/actuals", {"period": "fortnight"}, "query.period"),
    ("/actuals", {"period": "month", "from": "2031-03-15"}, "query.from"),
    ("/actuals", {"period": "week", "from": "2031-03-04"}, "query.from"),
    ("/actuals", {"period": "quarter", "from": "2031-02-01"}, "query.from"),
    ("/actuals", {"period": "year", "from": "2031-01-01", "to": "2031-01-01"}, "query.to"),
    ("/actuals", {"period": "month", "from": "2031-05-01", "to": "2031-03-01"}, "query.to"),
    ("/actuals", {"period": "day", "from": "2030-01-01", "to": "2031-01-03"}, "query.to"),
    ("/actuals", {"period": "hour", "from": "2031-01-01", "to": "2031-03-01"}, "query.to"),
    ("/actuals", {"period": "day", "from": "yesterday"}, "query.from"),
    ("/actuals", {"period": "day", "from": "1999-12-31"}, "query.from"),
    ("/actuals", {"period": "custom", "from": "2031-03-01"}, "query.to"),
    (
        "/actuals",
        {"period": "custom", "from": "2031-03-01T00:00:00", "to": "2031-03-02"},
        "query.from",
    ),
    (
        "/actuals",
        {"period": "custom", "from": "2031-03-01T00:10:00+08:00", "to": "2031-03-02"},
        "query.from",
    ),
    ("/actuals", {"period": "shift", "from": "2031-03-01"}, "query.period"),
    ("/actuals", {"energy_type": "unobtainium"}, "query.energy_type"),
    ("/actuals", {"electricity_basis": "guess"}, "query.electricity_basis"),
    ("/unit-consumption", {"product_id": 999999}, "query.product_id"),
    ("/unit-consumption", {"period": "month", "from": "2031-03-02"}, "query.from"),
]


@pytest.mark.parametrize(("path", "params", "field"), BAD_QUERIES)
def test_bad_report_queries_name_the_field(
    plant: Plant, path: str, params: dict[str, str], field: str
) -> None:
    response = plant.clients["viewer"].get(f"{plant.base}{path}", query_string=params)
    error = assert_error(response, 422, "invalid_input")
    assert field in error["fields"], error


GOOD_QUANTITY = {
    "energy_type": "diesel",
    "unit": "kg",
    "quantity": "1",
    "period_from": "2031-07-01",
    "period_to": "2031-07-02",
    "reason": "why",
}
GOOD_OUTPUT = {"period_from": "2031-07-01", "period_to": "2031-08-01", "quantity": "1"}
GOOD_VALUE = {
    "kind": "output_value",
    "period_from": "2031-07-01",
    "period_to": "2031-08-01",
    "amount": "1",
}
BAD_WRITES = [
    ("/manual-quantities", {**GOOD_QUANTITY, "energy_type": "unobtainium"}, "energy_type"),
    ("/manual-quantities", {**GOOD_QUANTITY, "unit": "kWh"}, "unit"),
    ("/manual-quantities", {**GOOD_QUANTITY, "quantity": "-1"}, "quantity"),
    ("/manual-quantities", {**GOOD_QUANTITY, "quantity": "NaN"}, "quantity"),
    ("/manual-quantities", {**GOOD_QUANTITY, "period_to": "2031-06-30"}, "period_to"),
    ("/manual-quantities", {**GOOD_QUANTITY, "period_to": "2033-07-01"}, "period_to"),
    ("/manual-quantities", {**GOOD_QUANTITY, "unit_id": 999999}, "unit_id"),
    ("/manual-quantities", {k: v for k, v in GOOD_QUANTITY.items() if k != "reason"}, "reason"),
    ("/manual-quantities", {**GOOD_QUANTITY, "reason": ""}, "reason"),
    ("/product-outputs", {**GOOD_OUTPUT, "product_id": 999999}, "product_id"),
    ("/product-outputs", {**GOOD_OUTPUT, "product_id": "CLK", "quantity": "-3"}, "quantity"),
    ("/product-outputs", {**GOOD_OUTPUT, "product_id": "CEM"}, "product_id"),
    ("/output-values", {**GOOD_VALUE, "amount": "-1"}, "amount"),
    ("/output-values", {**GOOD_VALUE, "kind": "profit"}, "kind"),
    ("/output-values", {**GOOD_VALUE, "price_basis": "constant"}, "base_year"),
    ("/output-values", {**GOOD_VALUE, "period_from": "2031-08-01"}, "period_to"),
    ("/products", {"code": "P1", "name": "x", "unit": "t", "point_id": 999999}, "point_id"),
    ("/products", {"code": "P1", "name": "x", "unit": "t", "unit_id": 999999}, "unit_id"),
    ("/products", {"code": "P1", "name": "x", "unit": "kg", "point_id": "E"}, "point_id"),
    ("/products", {"code": "CLK", "name": "x", "unit": "t"}, "code"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_WRITES)
def test_bad_writes_name_the_field_and_write_nothing(
    plant: Plant, database: Any, path: str, body: dict[str, Any], field: str
) -> None:
    from ems.audit.models import AuditEntry

    body = {
        k: plant.ids[v] if k in ("product_id", "point_id") and isinstance(v, str) else v
        for k, v in body.items()
    }
    with database.session() as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    response = plant.clients["tenant_admin"].post(f"{plant.base}{path}", json=body)
    assert response.status_code in (409, 422), response.get_json()
    error = assert_error(response, response.status_code)
    assert field in error["fields"], error
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before


# --- manual readings, through the real rollups --------------------------------------------


def _write_metered(
    connect: Callable[[], psycopg.Connection],
    schema: str,
    point: int,
    rows: list[tuple[datetime, float]],
) -> None:
    """Readings and their dirty range in one transaction, as the ingest writes them."""
    from ems.telemetry import partitions

    with connect() as conn:
        with conn.transaction():
            partitions.ensure(conn, schema, {date(ts.year, ts.month, 1) for ts, _ in rows})
        with conn.transaction(), conn.cursor() as cur:
            s = sql.Identifier(schema)
            cur.executemany(
                sql.SQL(
                    "INSERT INTO {}.readings (point, ts, value, quality) VALUES (%s, %s, %s, 0)"
                ).format(s),
                [(point, ts, value) for ts, value in rows],
            )
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.dirty_ranges (points, from_ts, to_ts, created_at) "
                    "VALUES (%s, %s, %s, now())"
                ).format(s),
                ([point], min(ts for ts, _ in rows), max(ts for ts, _ in rows)),
            )


def _roll(database: Any, schema: str) -> None:
    from ems.telemetry import rollups

    while rollups.process_dirty(database, schema, "Asia/Shanghai").ranges:
        pass


@pytest.fixture
def connect(settings: Any) -> Callable[[], psycopg.Connection]:
    from ems.ingest.service import connector

    made: Callable[[], psycopg.Connection] = connector(settings.database_url)
    return made


def test_manual_readings_are_rolled_up_and_marked_manual(
    plant: Plant, database: Any, connect: Callable[[], psycopg.Connection]
) -> None:
    """A diesel counter (kg, read every 12 h) metered at 00:00 and 12:00 of a day; its
    reading at the next midnight is entered by hand. 800 kg that day, half of it manual."""
    from ems.telemetry.models import Point

    with database.transaction(plant.schema) as s:
        point = Point(
            gateway_id=f"{plant.slug}-gw",
            code=f"DIESEL-{uuid.uuid4().hex[:4]}",
            name="柴油 diesel tank",
            energy_type="diesel",
            kind="cumulative",
            unit="kg",
            interval_s=43200,
        )
        s.add(point)
        s.flush()
        point_id = point.id
    day = datetime.now(TZ).date() - timedelta(days=3)
    _write_metered(
        connect, plant.schema, point_id, [(local(day), 1000.0), (local(day, 12), 1400.0)]
    )
    operator, viewer = plant.clients["operator"], plant.clients["viewer"]
    url = f"{plant.base}/points/{point_id}/manual-readings"
    midnight = local(day + timedelta(days=1)).isoformat()
    body = {"ts": midnight, "value": 1800.0, "reason": "meter display read by the shift lead"}
    assert_error(viewer.post(url, json=body), 403, "forbidden")
    r = operator.post(url, json=body)
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["version"], r.get_json()["previous_value"]) == (1, None)
    _roll(database, plant.schema)

    [bucket] = get(plant, "/actuals", period="day", **{"from": day.isoformat()})["buckets"]
    diesel = line(bucket, "diesel")
    assert (diesel["quantity"], diesel["unit"]) == ("0.800", "t")
    assert diesel["tce"] == q(800 * DIESEL / 1000, 4)
    assert diesel["manual"] is True and "manual" in diesel["flags"]

    # Over a metered reading: refused unless flagged as a correction with its reason.
    noon = local(day, 12).isoformat()
    error = assert_error(operator.post(url, json={**body, "ts": noon, "value": 1300.0}), 409)
    assert "correction" in error["fields"]
    fix = {"ts": noon, "value": 1300.0, "reason": "register misread", "correction": True}
    r = operator.post(url, json=fix)
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["previous_value"], r.get_json()["previous_quality"]) == (1400.0, "valid")
    r = operator.post(
        url, json={**fix, "value": 1350.0, "reason": "second look", "correction": False}
    )
    assert r.status_code == 201, r.get_json()
    history = get(plant, f"/points/{point_id}/manual-readings", ts=noon)
    assert [(h["version"], h["value"], h["previous_value"]) for h in history] == [
        (2, 1350.0, 1300.0),
        (1, 1300.0, 1400.0),
    ]
    _roll(database, plant.schema)
    [bucket] = get(plant, "/actuals", period="day", **{"from": day.isoformat()})["buckets"]
    assert line(bucket, "diesel")["quantity"] == "0.800"  # the day's total is unchanged
    first_half = get(
        plant,
        "/actuals",
        period="custom",
        **{"from": local(day).isoformat(), "to": local(day, 12).isoformat()},
    )["buckets"][0]
    assert line(first_half, "diesel")["quantity"] == "0.350"
    assert line(first_half, "diesel")["manual"] is True


BAD_READINGS = [
    ({"value": 1.0, "reason": "x"}, "ts"),
    ({"ts": "2026-01-01T00:00:00", "value": 1.0, "reason": "x"}, "ts"),
    ({"ts": "2099-01-01T00:00:00+08:00", "value": 1.0, "reason": "x"}, "ts"),
    ({"ts": "2001-01-01T00:00:00+08:00", "value": 1.0, "reason": "x"}, "ts"),
    ({"ts": "2026-01-01T00:00:00+08:00", "value": "NaN", "reason": "x"}, "value"),
    ({"ts": "2026-01-01T00:00:00+08:00", "value": 1.0}, "reason"),
]


@pytest.mark.parametrize(("body", "field"), BAD_READINGS)
def test_bad_manual_readings(plant: Plant, body: dict[str, Any], field: str) -> None:
    url = f"{plant.base}/points/{plant.ids['E']}/manual-readings"
    error = assert_error(plant.clients["operator"].post(url, json=body), 422)
    assert field in error["fields"], error


def test_manual_reading_on_unknown_point(plant: Plant) -> None:
    url = f"{plant.base}/points/999999/manual-readings"
    body = {"ts": "2026-01-01T00:00:00+08:00", "value": 1.0, "reason": "x"}
    assert_error(plant.clients["operator"].post(url, json=body), 404, "not_found")


# --- periods and tiling, without the database ---------------------------------------------


def test_tiles_use_the_coarsest_rows_that_fit() -> None:
    from ems.actuals.periods import tiles
    from ems.telemetry.calendar import Grain

    start = local(date(2031, 3, 9), 22, 15)
    end = local(date(2031, 3, 12), 6, 30)
    assert tiles(start, end, TZ) == [
        (Grain.D1, local(date(2031, 3, 10)), local(date(2031, 3, 12))),
        (Grain.H1, local(date(2031, 3, 9), 23), local(date(2031, 3, 10))),
        (Grain.M15, start, local(date(2031, 3, 9), 23)),
        (Grain.H1, local(date(2031, 3, 12)), local(date(2031, 3, 12), 6)),
        (Grain.M15, local(date(2031, 3, 12), 6), end),
    ]


def test_a_shift_over_a_dst_change_has_its_real_length() -> None:
    from ems.actuals.models import Shift
    from ems.actuals.periods import shift_bounds

    berlin = ZoneInfo("Europe/Berlin")
    night = Shift(name="Nacht", start_minute=22 * 60, end_minute=6 * 60, starts_previous_day=False)
    start, end = shift_bounds(night, date(2026, 3, 28), berlin)
    assert end - start == timedelta(hours=7)  # 02:00 became 03:00
    start, end = shift_bounds(night, date(2026, 10, 24), berlin)
    assert end - start == timedelta(hours=9)


def test_year_on_year_of_29_february_has_no_base() -> None:
    from ems.actuals.periods import Period, plan

    [span] = plan(Period.DAY, date(2028, 2, 29), None, TZ, datetime.now(UTC))
    assert span.year_before is None
    [span] = plan(Period.WEEK, date(2027, 1, 1) - timedelta(days=4), None, TZ, datetime.now(UTC))
    assert span.bucket.label == "2026-W53" and span.year_before is None


def test_replacements_and_removals_are_checked(plant: Plant) -> None:
    admin, operator = plant.clients["tenant_admin"], plant.clients["operator"]
    url = f"{plant.base}/manual-quantities/{plant.ids['coal']}"
    stored = get(plant, f"/manual-quantities/{plant.ids['coal']}")
    body = {k: stored[k] for k in GOOD_QUANTITY} | {"unit_id": None, "item": None}
    etag = operator.get(url).headers["ETag"]
    error = assert_error(
        operator.put(url, json={**body, "reason": ""}, headers={"If-Match": etag}), 422
    )
    assert "reason" in error["fields"]
    assert_error(operator.put(url, json={**body, "reason": "x"}, headers={"If-Match": '"0"'}), 412)
    # A product with recorded output stays; a missing file is named.
    product_url = f"{plant.base}/products/{plant.ids['CLK']}"
    etag = admin.get(product_url).headers["ETag"]
    assert_error(admin.delete(product_url, headers={"If-Match": etag}), 409, "conflict")
    error = assert_error(operator.post(f"{plant.base}/product-outputs/import", data={}), 422)
    assert "files.file" in error["fields"] or "file" in error["fields"], error
    assert get(plant, f"/manual-quantities/{plant.ids['coal']}/versions")[0]["version"] == 1


def test_writes_are_audited(plant: Plant, database: Any) -> None:
    from ems.audit.models import AuditEntry

    operator = plant.clients["operator"]
    body = {**GOOD_QUANTITY, "period_from": "2031-09-01", "period_to": "2031-09-02"}
    r = operator.post(f"{plant.base}/manual-quantities", json=body)
    assert r.status_code == 201, r.get_json()
    with database.session() as s:
        entries = s.execute(
            select(AuditEntry.object_type, AuditEntry.action, AuditEntry.actor_name).where(
                AuditEntry.object_id == str(r.get_json()["id"]),
                AuditEntry.object_type == "manual_quantities",
            )
        ).all()
        versions = s.scalar(
            select(func.count()).where(AuditEntry.object_type == "manual_quantity_versions")
        )
    assert [(e[0], e[1]) for e in entries] == [("manual_quantities", "insert")]
    assert entries[0][2].startswith("operator")
    assert versions


def test_rows_in_another_unit_are_converted_into_the_line(plant: Plant, database: Any) -> None:
    """A point read in MWh makes a category of its own; the report shows it in kWh."""
    from ems.telemetry.models import Point
    from ems.telemetry.rollup_models import CategoryRollup

    with database.transaction(plant.schema) as s:
        s.add(
            Point(
                gateway_id=f"{plant.slug}-gw",
                code="E-MWh",
                name="incomer, MWh register",
                energy_type="electricity",
                kind="cumulative",
                unit="MWh",
            )
        )
        for unit, value in (("kWh", 250.0), ("MWh", 1.5)):
            s.add(
                CategoryRollup(
                    energy_type="electricity",
                    unit=unit,
                    grain="1d",
                    start=local(date(2031, 7, 1)),
                    consumption=value,
                    points=1,
                    flags=0,
                )
            )
    [day] = get(plant, "/actuals", period="day", **{"from": "2031-07-01"})["buckets"]
    electricity = line(day, "electricity")
    assert (electricity["quantity"], electricity["unit"]) == ("1750.000", "kWh")
    assert electricity["tce"] == q(1750 * ELEC / 1000, 4)


def test_quantities_to_tce_takes_each_day_at_its_coefficient(plant: Plant, database: Any) -> None:
    """The conversion the energy balance network will call with the flows that count."""
    from ems.actuals.conversion import DailyQuantity, quantities_to_tce, total_tce

    with database.session(plant.schema) as s:
        found = quantities_to_tce(
            s,
            [
                DailyQuantity("electricity", "MWh", date(2031, 3, 15), D(2)),
                DailyQuantity("electricity", "MWh", date(2031, 3, 16), D(2)),
                DailyQuantity("raw_coal", "t", date(2031, 3, 16), D("0.5")),
                DailyQuantity("unobtainium", "t", date(2031, 3, 16), D(1)),
            ],
            "440300",
        )
    electricity = found[("electricity", "MWh")]
    assert electricity.tce == (2000 * ELEC + 2000 * ELEC_OVERRIDE) / 1000
    assert [(c.origin, days) for c, days in electricity.coefficients] == [
        ("national", 1),
        ("override", 1),
    ]
    assert found[("raw_coal", "t")].tce == 500 * COAL / 1000
    assert found[("unobtainium", "t")].tce is None
    total, missing = total_tce(found.values())
    assert total == electricity.tce + 500 * COAL / 1000
    assert missing == ["unobtainium"]
