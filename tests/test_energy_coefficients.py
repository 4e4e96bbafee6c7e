"""Energy types and standard coal coefficients: seeded data, resolution, tce, the API.

Service tests work in a tenant session that is never committed (rolled back at the end);
API tests commit through the app and clean alpha's overrides and settings up afterwards.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from tests.conftest import assert_error

REPO = Path(__file__).resolve().parents[1]
BASE = "/api/v1/tenants/alpha-works"
D = Decimal

# factors.md, GB/T 2589 reference table and media list (kgce per unit), as written there.
FACTORS_MD = {
    "raw_coal": ("0.7143", "kgce/kg"),
    "cleaned_coal": ("0.9000", "kgce/kg"),
    "middlings": ("0.2857", "kgce/kg"),
    "coke": ("0.9714", "kgce/kg"),
    "crude_oil": ("1.4286", "kgce/kg"),
    "fuel_oil": ("1.4286", "kgce/kg"),
    "gasoline": ("1.4714", "kgce/kg"),
    "kerosene": ("1.4714", "kgce/kg"),
    "diesel": ("1.4571", "kgce/kg"),
    "lpg": ("1.7143", "kgce/kg"),
    "refinery_dry_gas": ("1.5714", "kgce/kg"),
    "natural_gas_oil_field": ("1.3300", "kgce/m3"),
    "natural_gas_field": ("1.2143", "kgce/m3"),
    "coke_oven_gas": ("0.59285", "kgce/m3"),  # midpoint of 0.5714-0.6143
    "blast_furnace_gas": ("0.1286", "kgce/m3"),
    "producer_gas": ("0.1786", "kgce/m3"),
    "heat": ("0.03412", "kgce/MJ"),
    "electricity": ("0.1229", "kgce/kWh"),
    "steam_low_pressure": ("0.1286", "kgce/kg"),
    "fresh_water": ("0.0857", "kgce/t"),
    "softened_water": ("0.4857", "kgce/t"),
    "deaerated_water": ("0.9714", "kgce/t"),
    "compressed_air": ("0.0400", "kgce/m3"),
    "blast_air": ("0.0300", "kgce/m3"),
    "oxygen": ("0.4000", "kgce/m3"),
    "nitrogen_by_product": ("0.4000", "kgce/m3"),
    "nitrogen_main_product": ("0.6714", "kgce/m3"),
    "carbon_dioxide": ("0.2143", "kgce/m3"),
    "acetylene": ("8.3143", "kgce/m3"),
    "calcium_carbide": ("2.0786", "kgce/kg"),
}
IN_FORCE = date(2026, 6, 1)


@pytest.fixture
def session(database: Any, world: Any) -> Iterator[Any]:
    """Alpha's tenant session; nothing is committed."""
    s = database.session(world.tenants["alpha"].schema_name)
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def override(
    s: Any,
    energy_type: str,
    value: str,
    unit: str,
    start: date,
    end: date | None = None,
    basis: str = "equivalent",
) -> Any:
    from ems.energy.models import CoefficientOverride

    row = CoefficientOverride(
        energy_type=energy_type,
        basis=basis,
        value=D(value),
        unit=unit,
        valid_from=start,
        valid_to=end,
        reason="measured",
        recorded_by="test",
    )
    s.add(row)
    s.flush()
    return row


def published(
    s: Any,
    energy_type: str,
    value: str,
    unit: str,
    start: date,
    end: date | None = None,
    region: str | None = None,
    basis: str = "equivalent",
) -> Any:
    from ems.energy.models import CoalCoefficient

    row = CoalCoefficient(
        energy_type=energy_type,
        region_code=region,
        basis=basis,
        value=D(value),
        unit=unit,
        valid_from=start,
        valid_to=end,
        source=f"test {region}",
        version="test",
    )
    s.add(row)
    s.flush()
    return row


# Seeded reference data


def test_seeded_rows_match_factors_md_and_carry_a_source(session: Any) -> None:
    from ems.energy.models import CoalCoefficient, EnergyType

    rows = session.scalars(select(CoalCoefficient).where(CoalCoefficient.region_code.is_(None)))
    seeded = {r.energy_type: r for r in rows}
    assert set(seeded) == set(FACTORS_MD)
    for code, (value, unit) in FACTORS_MD.items():
        row = seeded[code]
        assert (row.value, row.unit, row.basis) == (D(value), unit, "equivalent"), code
        assert row.source.strip() and row.version.strip(), code
        assert row.valid_from == date(2021, 4, 1) and row.valid_to is None, code
    assert "GB/T 2589-2020" in seeded["electricity"].source
    assert "0.5714-0.6143" in (seeded["coke_oven_gas"].note or "")
    assert "unverified" in (seeded["steam_low_pressure"].note or "")
    types = {t.code: t for t in session.scalars(select(EnergyType))}
    assert set(types) == set(FACTORS_MD)
    assert types["fresh_water"].category == "medium"
    assert types["compressed_air"].category == "medium"
    assert types["electricity"].category == "energy"
    assert all(t.source and t.unit and t.dimension for t in types.values())


def test_no_equal_value_electricity_is_invented(session: Any) -> None:
    from ems.energy.models import CoalCoefficient

    found = session.scalars(
        select(CoalCoefficient).where(CoalCoefficient.basis == "equal_value")
    ).all()
    assert found == []


def test_csv_is_what_was_loaded(session: Any) -> None:
    from ems.energy.models import CoalCoefficient

    path = REPO / "migrations" / "control" / "data" / "coal_coefficients.csv"
    with path.open(encoding="utf-8") as f:
        expected = {(r["energy_type"], D(r["value"]), r["source"]) for r in csv.DictReader(f)}
    loaded = {(r.energy_type, r.value, r.source) for r in session.scalars(select(CoalCoefficient))}
    assert loaded == expected


# Resolution


def test_national_value_by_default(session: Any) -> None:
    from ems.energy.coefficients import resolve

    c = resolve(session, "raw_coal", IN_FORCE, "530100")
    assert (c.value, c.unit, c.origin, c.basis) == (
        D("0.7143"),
        "kgce/kg",
        "national",
        "equivalent",
    )
    assert "GB/T 2589-2020" in c.source


def test_override_beats_region_beats_national(session: Any) -> None:
    from ems.energy.coefficients import resolve

    province = published(
        session, "raw_coal", "0.7000", "kgce/kg", date(2026, 1, 1), region="530000"
    )
    c = resolve(session, "raw_coal", IN_FORCE, "530100")
    assert (c.origin, c.row_id, c.value, c.region_code) == (
        "region",
        province.id,
        D("0.7"),
        "530000",
    )
    city = published(session, "raw_coal", "0.6900", "kgce/kg", date(2026, 1, 1), region="530100")
    assert resolve(session, "raw_coal", IN_FORCE, "530100").row_id == city.id
    # Another province's row does not apply; beta (Shandong) still gets the national value.
    assert resolve(session, "raw_coal", IN_FORCE, "370100").origin == "national"
    own = override(session, "raw_coal", "0.6500", "kgce/kg", date(2026, 1, 1))
    c = resolve(session, "raw_coal", IN_FORCE, "530100")
    assert (c.origin, c.row_id, c.value, c.source) == ("override", own.id, D("0.65"), "measured")


def test_effective_dates_are_from_inclusive_to_exclusive(session: Any) -> None:
    from ems.energy.coefficients import CoefficientMissing, resolve

    row = override(session, "diesel", "1.5000", "kgce/kg", date(2026, 3, 1), date(2026, 4, 1))
    assert resolve(session, "diesel", date(2026, 2, 28), None).origin == "national"
    assert resolve(session, "diesel", date(2026, 3, 1), None).row_id == row.id
    assert resolve(session, "diesel", date(2026, 3, 31), None).row_id == row.id
    assert resolve(session, "diesel", date(2026, 4, 1), None).origin == "national"
    # Before the 2020 edition took effect nothing is in force: an error, not a guess.
    assert resolve(session, "diesel", date(2021, 4, 1), None).origin == "national"
    with pytest.raises(CoefficientMissing, match="2021-03-31"):
        resolve(session, "diesel", date(2021, 3, 31), None)


def test_basis_follows_the_tenant_setting_for_electricity_only(session: Any) -> None:
    from ems.energy.coefficients import resolve, settings

    assert settings(session).electricity_basis == "equivalent"
    assert resolve(session, "electricity", IN_FORCE, None).value == D("0.1229")
    override(session, "electricity", "0.3000", "kgce/kWh", date(2026, 1, 1), basis="equal_value")
    settings(session).electricity_basis = "equal_value"
    session.flush()
    c = resolve(session, "electricity", IN_FORCE, None)
    assert (c.basis, c.value, c.origin) == ("equal_value", D("0.3"), "override")
    # Explicit basis wins; other energy types stay on the equivalent value.
    assert resolve(session, "electricity", IN_FORCE, None, "equivalent").value == D("0.1229")
    assert resolve(session, "heat", IN_FORCE, None).basis == "equivalent"


def test_missing_equal_value_electricity_names_what_is_missing(session: Any) -> None:
    from ems.energy.coefficients import CoefficientMissing, resolve

    with pytest.raises(CoefficientMissing) as caught:
        resolve(session, "electricity", IN_FORCE, "530100", "equal_value")
    message = caught.value.message
    assert "electricity" in message and "equal_value" in message
    assert "thermal power supply coal rate" in message
    assert caught.value.fields == {"basis": [message]}


def test_unknown_energy_type_names_the_field(session: Any) -> None:
    from ems.energy.coefficients import resolve
    from ems.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        resolve(session, "unobtainium", IN_FORCE, None)
    assert "energy_type" in caught.value.fields


# tce


def test_unit_conversions() -> None:
    from ems.energy.coefficients import Coefficient, convert, to_tce

    def coefficient(value: str, unit: str) -> Coefficient:
        return Coefficient(
            "x", "equivalent", D(value), unit, "s", "national", 1, None, date(2021, 4, 1), None
        )

    electricity = coefficient("0.1229", "kgce/kWh")
    # 2.5 MWh = 2500 kWh; x 0.1229 = 307.25 kgce = 0.30725 tce
    assert to_tce(D("2.5"), "MWh", electricity) == D("0.30725")
    assert to_tce(2500, "kWh", electricity) == D("0.30725")
    # 10^4 kWh: 3 x 10^4 kWh x 0.1229 = 3687 kgce = 3.687 tce
    assert to_tce(3, "10^4 kWh", electricity) == D("3.687")
    # 12 t raw coal = 12000 kg x 0.7143 = 8571.6 kgce = 8.5716 tce
    assert to_tce(12, "t", coefficient("0.7143", "kgce/kg")) == D("8.5716")
    # 1.5 x 10^4 m3 gas-field gas = 15000 m3 x 1.2143 = 18214.5 kgce = 18.2145 tce
    assert to_tce(D("1.5"), "10^4 m3", coefficient("1.2143", "kgce/m3")) == D("18.2145")
    # A coefficient in tce per 10^4 m3: 2 x 10^4 m3 at 12.143 tce/10^4 m3 = 24.286 tce
    assert to_tce(20_000, "m3", coefficient("12.143", "tce/10^4 m3")) == D("24.286")
    # Heat metered in GJ against kgce/MJ: 100 GJ x 1000 x 0.03412 = 3412 kgce = 3.412 tce
    assert to_tce(100, "GJ", coefficient("0.03412", "kgce/MJ")) == D("3.412")
    assert convert(D(1), "kWh", "MJ") == D("3.6")
    assert to_tce(0.1, "t", coefficient("1", "kgce/kg")) == D("0.1")  # floats via repr


def test_incompatible_units_are_refused() -> None:
    from ems.energy.coefficients import convert, split_unit
    from ems.errors import InvalidInput

    with pytest.raises(InvalidInput, match="volume"):
        convert(D(1), "t", "m3")
    with pytest.raises(InvalidInput):
        convert(D(1), "furlong", "m3")
    with pytest.raises(InvalidInput):
        split_unit("kWh")


def test_mid_month_change_splits_the_month(session: Any) -> None:
    """June 2026, 10 t of raw coal a day; from 16 June the tenant's measured 0.7000 applies.

    1-15 June: 15 x 10 t x 1000 kg x 0.7143 kgce/kg = 107,145 kgce = 107.145 tce
    16-30 June: 15 x 10 t x 1000 kg x 0.7000 kgce/kg = 105,000 kgce = 105.000 tce
    June: 212.145 tce (the whole month at 0.7143 would be 214.290).
    """
    from ems.energy.coefficients import segments, tce_by_day

    own = override(session, "raw_coal", "0.7000", "kgce/kg", date(2026, 6, 16))
    periods = segments(session, "raw_coal", date(2026, 6, 1), date(2026, 7, 1), "530100")
    assert [(a, b, c.origin) for a, b, c in periods] == [
        (date(2026, 6, 1), date(2026, 6, 16), "national"),
        (date(2026, 6, 16), date(2026, 7, 1), "override"),
    ]
    assert periods[1][2].row_id == own.id
    daily = {date(2026, 6, 1) + timedelta(days=i): 10 for i in range(30)}
    by_day = tce_by_day(daily, "t", periods)
    assert by_day[date(2026, 6, 15)] == D("7.143")
    assert by_day[date(2026, 6, 16)] == D("7.0")
    assert sum(v for d, v in by_day.items() if d.day <= 15) == D("107.145")
    assert sum(v for d, v in by_day.items() if d.day > 15) == D("105.000")
    assert sum(by_day.values()) == D("212.145")


def test_segments_merge_and_fail_on_gaps(session: Any) -> None:
    from ems.energy.coefficients import CoefficientMissing, segments, tce_by_day

    one = segments(session, "coke", date(2026, 1, 1), date(2027, 1, 1), None)
    assert len(one) == 1 and one[0][:2] == (date(2026, 1, 1), date(2027, 1, 1))
    override(session, "coke", "1.0000", "kgce/kg", date(2026, 5, 1), date(2026, 5, 11))
    three = segments(session, "coke", date(2026, 5, 1), date(2026, 6, 1), None)
    assert [p[2].origin for p in three] == ["override", "national"]
    with pytest.raises(CoefficientMissing, match="2021-03-01"):
        segments(session, "coke", date(2021, 3, 1), date(2021, 5, 1), None)
    with pytest.raises(CoefficientMissing):
        tce_by_day({date(2027, 1, 1): 1}, "t", one)


# API


@pytest.fixture
def clean_alpha(database: Any, world: Any) -> Iterator[None]:
    """Alpha without overrides and on the equivalent basis, before and after the test."""
    from ems.energy.models import CoefficientOverride, EnergySettings

    def reset() -> None:
        with database.transaction(world.tenants["alpha"].schema_name) as s:
            s.execute(delete(CoefficientOverride))
            s.get(EnergySettings, 1).electricity_basis = "equivalent"

    reset()
    yield
    reset()


BODY = {
    "energy_type": "natural_gas_field",
    "value": "1.2500",
    "unit": "kgce/m3",
    "valid_from": "2026-06-01",
    "valid_to": None,
    "reason": "calorific value measured by the supplier, report 2026-05",
}


def test_catalogue_and_coefficients(client_for: Any, clean_alpha: None) -> None:
    vera = client_for("vera")
    types = vera.get(f"{BASE}/energy-types")
    assert types.status_code == 200
    codes = {t["code"]: t for t in types.get_json()}
    assert codes["fresh_water"]["category"] == "medium" and codes["electricity"]["unit"] == "kWh"
    media = vera.get(f"{BASE}/energy-types?category=medium").get_json()
    assert {t["category"] for t in media} == {"medium"} and len(media) == 11
    r = vera.get(f"{BASE}/coefficients?energy_type=electricity&on=2026-06-01")
    assert r.status_code == 200, r.get_json()
    [electricity] = r.get_json()
    assert electricity["value"] == "0.1229" and electricity["origin"] == "national"
    assert electricity["source"] == "GB/T 2589-2020 附录A" and electricity["missing"] is None
    everything = vera.get(f"{BASE}/coefficients?on=2026-06-01").get_json()
    assert len(everything) == len(FACTORS_MD) and all(c["value"] for c in everything)
    missing = vera.get(f"{BASE}/coefficients?energy_type=electricity&basis=equal_value")
    assert missing.status_code == 200
    assert missing.get_json()[0]["value"] is None
    assert "thermal power" in missing.get_json()[0]["missing"]
    error = assert_error(vera.get(f"{BASE}/coefficients?energy_type=nope"), 422)
    assert "energy_type" in error["fields"]


def test_override_crud_with_audit_and_recompute(
    client_for: Any, clean_alpha: None, app: Any, world: Any
) -> None:
    from ems.audit.models import AuditEntry

    alice = client_for("alice")
    url = f"{BASE}/coefficient-overrides"
    created = alice.post(url, json=BODY)
    assert created.status_code == 201, created.get_json()
    row = created.get_json()
    assert row["value"] == "1.2500" and row["recorded_by"] == "alice@example.com"
    on = f"{BASE}/coefficients?energy_type=natural_gas_field&on=2026-06-10"
    assert alice.get(on).get_json()[0]["value"] == "1.2500"  # reflected at once

    item = f"{url}/{row['id']}"
    etag = alice.get(item).headers["ETag"]
    changed = alice.put(item, json={**BODY, "value": "1.2600"}, headers={"If-Match": etag})
    assert changed.status_code == 200, changed.get_json()
    assert alice.get(on).get_json()[0]["value"] == "1.2600"
    stale = alice.put(item, json={**BODY, "value": "1.3"}, headers={"If-Match": etag})
    assert stale.status_code == 412

    db = app.extensions["ems"].db
    with db.session() as s:
        entries = s.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.object_type == "coefficient_overrides",
                AuditEntry.object_id == str(row["id"]),
                AuditEntry.tenant_id == world.tenants["alpha"].id,
            )
            .order_by(AuditEntry.id)
        ).all()
    assert [e.action for e in entries] == ["insert", "update"]
    assert entries[1].before["value"] == "1.2500" and entries[1].after["value"] == "1.2600"
    assert entries[1].actor_name == "alice@example.com"

    etag = alice.get(item).headers["ETag"]
    assert alice.delete(item, headers={"If-Match": etag}).status_code == 204
    assert alice.get(on).get_json()[0]["origin"] == "national"
    assert_error(alice.get(item), 404, "not_found")


def test_overlapping_overrides_are_refused(client_for: Any, clean_alpha: None) -> None:
    alice = client_for("alice")
    url = f"{BASE}/coefficient-overrides"
    first = {**BODY, "valid_from": "2026-06-01", "valid_to": "2026-07-01"}
    assert alice.post(url, json=first).status_code == 201
    later = alice.post(url, json={**BODY, "valid_from": "2026-07-01", "valid_to": None})
    assert later.status_code == 201  # touching is not overlapping: to is exclusive
    error = assert_error(
        alice.post(url, json={**BODY, "valid_from": "2026-06-30"}), 409, "conflict"
    )
    assert "valid_from" in error["fields"]
    # The other basis of the same type is a separate series.
    other = alice.post(url, json={**BODY, "basis": "equal_value"})
    assert other.status_code == 201
    # Moving one onto another is refused as well.
    own = later.get_json()
    etag = alice.get(f"{url}/{own['id']}").headers["ETag"]
    moved = alice.put(
        f"{url}/{own['id']}", json={**BODY, "valid_from": "2026-06-15"}, headers={"If-Match": etag}
    )
    assert_error(moved, 409, "conflict")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"energy_type": "unobtainium"}, "energy_type"),
        ({"value": "-1"}, "value"),
        ({"value": "0"}, "value"),
        ({"value": "NaN"}, "value"),
        ({"value": "0.12345678901"}, "value"),
        ({"unit": "kgce/kWh"}, "unit"),  # natural gas is a volume
        ({"unit": "kWh"}, "unit"),
        ({"basis": "whatever"}, "basis"),
        ({"valid_from": "2026-13-01"}, "valid_from"),
        ({"valid_to": "2026-05-01"}, "valid_to"),  # before valid_from
        ({"reason": ""}, "reason"),
    ],
)
def test_bad_input_names_the_field(
    client_for: Any, clean_alpha: None, change: dict[str, Any], field: str
) -> None:
    error = assert_error(
        client_for("alice").post(f"{BASE}/coefficient-overrides", json={**BODY, **change}), 422
    )
    assert field in error["fields"], error


def test_settings_choose_the_electricity_basis(client_for: Any, clean_alpha: None) -> None:
    alice = client_for("alice")
    url = f"{BASE}/energy-settings"
    got = alice.get(url)
    assert got.get_json()["electricity_basis"] == "equivalent"
    put = alice.put(
        url, json={"electricity_basis": "equal_value"}, headers={"If-Match": got.headers["ETag"]}
    )
    assert put.status_code == 200, put.get_json()
    now = alice.get(f"{BASE}/coefficients?energy_type=electricity&on=2026-06-01").get_json()[0]
    assert now["basis"] == "equal_value" and now["value"] is None and now["missing"]
    coal = alice.get(f"{BASE}/coefficients?energy_type=raw_coal&on=2026-06-01").get_json()[0]
    assert coal["basis"] == "equivalent"
    assert_error(
        alice.put(url, json={"electricity_basis": "x"}, headers={"If-Match": put.headers["ETag"]}),
        422,
    )


def test_viewer_and_operator_cannot_write(client_for: Any, clean_alpha: None) -> None:
    for name in ("vera", "oscar"):
        user = client_for(name)
        assert_error(user.post(f"{BASE}/coefficient-overrides", json=BODY), 403, "forbidden")
        got = user.get(f"{BASE}/energy-settings")
        assert got.status_code == 200
        assert_error(
            user.put(
                f"{BASE}/energy-settings",
                json={"electricity_basis": "equal_value"},
                headers={"If-Match": got.headers["ETag"]},
            ),
            403,
        )
    mona = client_for("mona")  # energy manager: configuration is her work
    assert mona.post(f"{BASE}/coefficient-overrides", json=BODY).status_code == 201


def test_overrides_stay_in_their_tenant(client_for: Any, clean_alpha: None, world: Any) -> None:
    bob = client_for("bob")
    made = bob.post(
        "/api/v1/tenants/beta-works/coefficient-overrides",
        json={**BODY, "reason": "BETA own value"},
    )
    assert made.status_code == 201
    try:
        alice = client_for("alice")
        listed = alice.get(f"{BASE}/coefficient-overrides").get_json()
        assert all("BETA" not in o["reason"] for o in listed)
        c = alice.get(f"{BASE}/coefficients?energy_type=natural_gas_field&on=2026-06-10")
        assert c.get_json()[0]["origin"] == "national"
    finally:
        item = f"/api/v1/tenants/beta-works/coefficient-overrides/{made.get_json()['id']}"
        etag = bob.get(item).headers["ETag"]
        assert bob.delete(item, headers={"If-Match": etag}).status_code == 204
