"""The regulator's view: two regulators of two provinces, enterprises in each, and the
control-schema copies of what they uploaded.

Yunnan (530000): alpha (530100), gamma (530300) and a suspended enterprise; Shandong
(370000): beta (370100). Every regulator route is enumerated from the URL map, so a
new one is covered the moment it exists. The control rows carry this module's own
profile and are removed at the end; the suspended enterprise is marked deleted (the
status regulators never see) so that other modules' region lists stay as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, update

from tests.conftest import PASSWORD, ApiClient, assert_error, credit

PREFIX = "/api/v1/regulator"
PROFILE = "regtest"
TZ = ZoneInfo("Asia/Shanghai")
PLANT = "0000000001000000"  # whole plant, primary energy, comprehensive
ELECTRICITY = "0000000001010000"  # whole plant, energy code 0100
PROCESS = "0101000001000000"  # a process: never in the region totals
RANGE = "from=2025-03-01&to=2025-03-02"
BETA_VALUE = "4711.0625"  # beta's figure: never in a Yunnan answer
RAW_VALUE = 98765.4321  # alpha's real-time reading: never uploaded
RAW_LEDGER = "SECRET-LEDGER-7731"  # alpha's meter ledger row: never uploaded


def local(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)


MAR1, MAR2 = date(2025, 3, 1), date(2025, 3, 2)


@pytest.fixture(scope="module")
def region(app: Any, database: Any, world: Any) -> Iterator[dict[str, Any]]:
    """Regulators, a suspended enterprise, uploaded figures, statistics and submissions."""
    from ems.upload.models import UploadDayStats, UploadedFigure, UploadedSubmission
    from ems_tenants import members, services
    from ems_tenants.models import Tenant, User

    tag = uuid.uuid4().hex[:8]
    alpha, beta, gamma = (world.tenants[k] for k in ("alpha", "beta", "gamma"))
    shandong = f"shandong-{tag}@example.com"
    with database.transaction() as s:
        members.create_user(
            s, email=shandong, name="山东监管", password=PASSWORD, regulator_region="370000"
        )
        suspended = services.create_tenant(
            s,
            services.TenantDraft(
                slug=f"regsus-{tag}",
                name=f"停用企业 {tag}",
                credit_code=credit(f"91530400{int(tag, 16) % 10**9:09d}"),
                region_code="530400",
                industry_code="C3011",
                plan="enterprise",
            ),
            status="suspended",
        )
        s.flush()

        def figure(tenant: Any, code: str, day: date, value: str, version: int = 1) -> None:
            s.add(
                UploadedFigure(
                    tenant_id=tenant.id,
                    profile=PROFILE,
                    code=code,
                    stat_type=1,
                    period_start=local(day),
                    version=version,
                    value=Decimal(value),
                    scope=1,
                    valid=True,
                    accepted_at=local(day).replace(hour=20) if version == 1 else local(MAR2),
                )
            )

        figure(alpha, PLANT, MAR1, "100")
        figure(alpha, PLANT, MAR1, "120", version=2)
        figure(alpha, ELECTRICITY, MAR1, "50")
        figure(alpha, PROCESS, MAR1, "7")
        figure(alpha, PLANT, MAR2, "110")
        figure(gamma, PLANT, MAR1, "30")
        figure(gamma, ELECTRICITY, MAR1, "5")
        figure(suspended, PLANT, MAR1, "1")
        figure(beta, PLANT, MAR1, BETA_VALUE)
        for tenant, day, counts in (
            (alpha, MAR1, (100, 85, 80, 2)),
            (alpha, MAR2, (100, 100, 100, 0)),
            (gamma, MAR1, (50, 50, 50, 0)),
            (beta, MAR1, (10, 1, 1, 9)),
        ):
            expected, uploaded, on_time, failed = counts
            s.add(
                UploadDayStats(
                    tenant_id=tenant.id,
                    profile=PROFILE,
                    day=day,
                    expected=expected,
                    uploaded=uploaded,
                    on_time=on_time,
                    failed_requests=failed,
                )
            )
        for tenant, kind, payload, when in (
            (alpha, "info", {"enterpriseName": "ALPHA old"}, local(MAR1)),
            (alpha, "info", {"enterpriseName": "ALPHA 工厂 uploaded"}, local(MAR2)),
            (alpha, "meters", [{"meterName": "ULEDGER-OK"}], local(MAR1)),
            (beta, "info", {"enterpriseName": "BETA uploaded"}, local(MAR1)),
            (beta, "meters", [{"meterName": "BETA-LEDGER"}], local(MAR1)),
        ):
            s.add(
                UploadedSubmission(
                    tenant_id=tenant.id,
                    profile=PROFILE,
                    kind=kind,
                    payload=payload,
                    accepted_at=when,
                )
            )
    _raw_tenant_data(app, world, tag)
    yield {"shandong": shandong, "suspended": suspended, "tag": tag}
    with database.transaction() as s:
        for table in (UploadedFigure, UploadDayStats, UploadedSubmission):
            s.execute(delete(table).where(table.profile == PROFILE))
        s.execute(update(Tenant).where(Tenant.id == suspended.id).values(status="deleted"))
        s.execute(update(User).where(User.email == shandong).values(is_active=False))


def _raw_tenant_data(app: Any, world: Any, tag: str) -> None:
    """A real-time reading and a meter ledger row in alpha, with distinctive values."""
    from ems.db import utcnow
    from ems.telemetry.models import LatestValue

    alice = ApiClient(app.test_client())
    assert alice.login(world.users["alice"]).status_code == 200
    base = "/api/v1/tenants/alpha-works"
    gateway = alice.post(f"{base}/gateways", json={"name": f"reg{tag}"})
    assert gateway.status_code == 201, gateway.get_json()
    point = alice.post(
        f"{base}/points",
        json={
            "gateway_id": gateway.get_json()["id"],
            "code": f"R{tag}",
            "name": "raw point",
            "energy_type": "electricity",
            "kind": "instantaneous",
            "unit": "kW",
        },
    )
    assert point.status_code == 201, point.get_json()
    meter = alice.post(
        f"{base}/meters",
        json={"name": RAW_LEDGER, "level": 1, "management_number": f"{RAW_LEDGER}-{tag}"},
    )
    assert meter.status_code == 201, meter.get_json()
    db = app.extensions["ems"].db
    with db.transaction(world.tenants["alpha"].schema_name) as s:
        s.add(
            LatestValue(
                point=point.get_json()["id"],
                ts=utcnow(),
                value=RAW_VALUE,
                quality=0,
                received_at=utcnow(),
            )
        )


@pytest.fixture
def yunnan(client_for: Any, region: Any) -> ApiClient:
    client: ApiClient = client_for("reggie")
    return client


@pytest.fixture
def shandong(app: Any, region: Any) -> ApiClient:
    client = ApiClient(app.test_client())
    assert client.login(region["shandong"]).status_code == 200
    return client


def regulator_routes(app: Any) -> list[str]:
    rules = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX)]
    assert all("GET" in r.methods for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX))
    return sorted(rules)


def fill(rule: str, credit_code: str) -> str:
    return rule.replace("<credit_code>", credit_code) + f"?{RANGE}&stat_type=1"


def test_routes_are_enumerated(app: Any) -> None:
    routes = regulator_routes(app)
    assert {
        f"{PREFIX}/enterprises",
        f"{PREFIX}/enterprises/<credit_code>",
        f"{PREFIX}/enterprises/<credit_code>/figures",
        f"{PREFIX}/enterprises/<credit_code>/statistics",
        f"{PREFIX}/enterprises/<credit_code>/meters",
        f"{PREFIX}/totals",
        f"{PREFIX}/statistics",
    } <= set(routes)
    methods = {m for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX) for m in r.methods}
    assert methods <= {"GET", "HEAD", "OPTIONS"}  # read-only


def test_no_route_crosses_regions(
    app: Any, world: Any, yunnan: ApiClient, shandong: ApiClient
) -> None:
    alpha, beta, gamma = (world.tenants[k].credit_code for k in ("alpha", "beta", "gamma"))
    for client, own, foreign, prefix in (
        (yunnan, alpha, beta, "53"),
        (shandong, beta, alpha, "37"),
    ):
        for rule in regulator_routes(app):
            if "<credit_code>" in rule:
                assert_error(client.get(fill(rule, foreign)), 404, "not_found")
                assert_error(client.get(fill(rule, "91000000000000000X")), 404, "not_found")
                r = client.get(fill(rule, own))
            else:
                r = client.get(fill(rule, ""))
            assert r.status_code == 200, (rule, r.get_json())
            text = r.get_data(as_text=True)
            assert foreign not in text, rule
            for row in r.get_json() if isinstance(r.get_json(), list) else []:
                if "region_code" in row:
                    assert row["region_code"].startswith(prefix), (rule, row)
        if client is yunnan:
            for rule in regulator_routes(app):
                path = fill(rule, alpha if "<credit_code>" in rule else "")
                text = client.get(path).get_data(as_text=True)
                assert BETA_VALUE not in text and "BETA" not in text, rule
                assert gamma not in text or "<credit_code>" not in rule, rule


def test_no_raw_tenant_data_reaches_a_regulator(app: Any, world: Any, yunnan: ApiClient) -> None:
    alpha = world.tenants["alpha"].credit_code
    for rule in regulator_routes(app):
        for query in ("", f"?{RANGE}", "?versions=all"):
            path = rule.replace("<credit_code>", alpha) + query
            r = yunnan.get(path)
            assert r.status_code == 200, (path, r.get_json())
            text = r.get_data(as_text=True)
            assert str(RAW_VALUE) not in text and RAW_LEDGER not in text, path


def test_enterprises_list_marks_suspended(yunnan: ApiClient, region: Any, world: Any) -> None:
    # One page of the most the API gives: other modules' tests add Yunnan enterprises too.
    page = yunnan.get(f"{PREFIX}/enterprises?page_size=100").get_json()
    listed = {e["credit_code"]: e for e in page}
    assert listed[region["suspended"].credit_code]["status"] == "suspended"
    assert listed[world.tenants["alpha"].credit_code]["status"] == "active"
    assert world.tenants["beta"].credit_code not in listed


def test_enterprise_detail(yunnan: ApiClient, world: Any) -> None:
    alpha = world.tenants["alpha"]
    r = yunnan.get(f"{PREFIX}/enterprises/{alpha.credit_code.lower()}")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["name"], body["region_code"], body["industry_code"]) == (
        alpha.name,
        "530100",
        "C3110",
    )
    assert [(i["profile"], i["payload"]) for i in body["info"]] == [
        (PROFILE, {"enterpriseName": "ALPHA 工厂 uploaded"})
    ]
    # 1-2 March 2025 are long past the last 30 days: nothing published in the window.
    assert body["last_30_days"]["expected"] == 0 and body["last_30_days"]["warning"] is True


def test_figures_latest_and_all_versions(yunnan: ApiClient, world: Any) -> None:
    alpha = world.tenants["alpha"].credit_code
    base = f"{PREFIX}/enterprises/{alpha}/figures"
    latest = yunnan.get(f"{base}?{RANGE}&code={PLANT}").get_json()
    assert [(f["stat_date"], f["version"], f["value"]) for f in latest] == [
        ("2025-03-01 00:00:00", 2, "120.00000000"),
        ("2025-03-02 00:00:00", 1, "110.00000000"),
    ]
    every = yunnan.get(
        f"{base}?from=2025-03-01&to=2025-03-01&versions=all&code=00-00-0000-010000-00"
    )
    assert [f["version"] for f in every.get_json()] == [1, 2]
    assert len(yunnan.get(f"{base}?stat_type=1&from=2025-03-01&to=2025-03-01").get_json()) == 3
    assert yunnan.get(f"{base}?stat_type=2").get_json() == []


def test_enterprise_statistics(yunnan: ApiClient, world: Any) -> None:
    alpha = world.tenants["alpha"].credit_code
    body = yunnan.get(f"{PREFIX}/enterprises/{alpha}/statistics?{RANGE}").get_json()
    total = body["total"]
    assert (total["expected"], total["uploaded"], total["on_time"], total["failed_requests"]) == (
        200,
        185,
        180,
        2,
    )
    assert (total["completeness"], total["timeliness"], total["warning"]) == (92.5, 90.0, False)
    [profile] = body["profiles"]
    day1, day2 = profile["days"]
    assert (day1["day"], day1["completeness"], day1["warning"]) == ("2025-03-01", 85.0, True)
    assert (day2["completeness"], day2["warning"]) == (100.0, False)


def test_meters_are_the_uploaded_ledger(yunnan: ApiClient, shandong: ApiClient, world: Any) -> None:
    alpha, beta = (world.tenants[k].credit_code for k in ("alpha", "beta"))
    [ledger] = yunnan.get(f"{PREFIX}/enterprises/{alpha}/meters").get_json()
    assert ledger["payload"] == [{"meterName": "ULEDGER-OK"}] and ledger["kind"] == "meters"
    [other] = shandong.get(f"{PREFIX}/enterprises/{beta}/meters").get_json()
    assert other["payload"] == [{"meterName": "BETA-LEDGER"}]


def test_region_totals(yunnan: ApiClient, shandong: ApiClient) -> None:
    body = yunnan.get(f"{PREFIX}/totals?{RANGE}").get_json()
    assert body["stat_type"] == 1
    day1, day2 = body["periods"]
    # alpha's latest version (120) + gamma (30) + the suspended enterprise (1); never
    # the process code, never beta.
    assert (day1["stat_date"], Decimal(day1["total"]), day1["enterprises"]) == (
        "2025-03-01 00:00:00",
        151,
        3,
    )
    assert [
        (b["data_type"], b["energy_code"], Decimal(b["value"]), b["enterprises"])
        for b in day1["by_energy"]
    ] == [
        ("01", "0000", 151, 3),
        ("01", "0100", 55, 2),
    ]
    assert (Decimal(day2["total"]), day2["enterprises"]) == (110, 1)
    other = shandong.get(f"{PREFIX}/totals?{RANGE}").get_json()
    [only] = other["periods"]
    assert (Decimal(only["total"]), only["enterprises"]) == (Decimal(BETA_VALUE), 1)
    assert yunnan.get(f"{PREFIX}/totals?{RANGE}&stat_type=2").get_json()["periods"] == []


def test_region_statistics(yunnan: ApiClient, world: Any, region: Any) -> None:
    got = yunnan.get(f"{PREFIX}/statistics?{RANGE}&page_size=100").get_json()
    rows = {r["credit_code"]: r for r in got}
    alpha = rows[world.tenants["alpha"].credit_code]
    assert (alpha["expected"], alpha["uploaded"], alpha["completeness"]) == (200, 185, 92.5)
    assert (alpha["days_reported"], alpha["warning"]) == (2, False)
    gamma = rows[world.tenants["gamma"].credit_code]
    assert (gamma["completeness"], gamma["timeliness"], gamma["warning"]) == (100.0, 100.0, False)
    silent = rows[region["suspended"].credit_code]
    assert silent["expected"] == 0 and silent["warning"] is True and silent["status"] == "suspended"
    assert "no upload statistics" in silent["message"]
    assert world.tenants["beta"].credit_code not in rows


def test_tenant_users_and_anonymous_are_refused(app: Any, client_for: Any, world: Any) -> None:
    alpha = world.tenants["alpha"].credit_code
    for rule in regulator_routes(app):
        path = fill(rule, alpha)
        for name in ("alice", "vera", "admin"):
            assert_error(client_for(name).get(path), 403, "forbidden")
        assert_error(client_for().get(path), 401)


def test_regulator_reaches_no_tenant_route(app: Any, shandong: ApiClient) -> None:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/tenants/<slug>") and "GET" in rule.methods:
            if "<" in rule.rule[len("/api/v1/tenants/<slug>") :]:
                continue
            r = shandong.get(rule.rule.replace("<slug>", "beta-works"))
            assert r.status_code in (403, 404), (rule.rule, r.status_code)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/totals?from=2025-02-30", "query.from"),
        ("/totals?from=2025-03-02&to=2025-03-01", "from"),
        ("/totals?from=2024-01-01&to=2025-03-01", "to"),
        ("/totals?stat_type=7", "query.stat_type"),
        ("/statistics?to=tomorrow", "query.to"),
        ("/statistics?from=2024-01-01&to=2025-03-01", "to"),
        ("/enterprises/{alpha}/figures?stat_type=4", "query.stat_type"),
        ("/enterprises/{alpha}/figures?from=2025-03-02&to=2025-03-01", "from"),
        ("/enterprises/{alpha}/figures?versions=some", "query.versions"),
        ("/enterprises/{alpha}/figures?code=12-34", "query.code"),
        ("/enterprises/{alpha}/statistics?from=2025-03-02&to=2025-03-01", "from"),
        ("/enterprises/{alpha}/statistics?from=2020-01-01&to=2025-03-01", "to"),
    ],
)
def test_bad_input(yunnan: ApiClient, world: Any, path: str, field: str) -> None:
    url = PREFIX + path.format(alpha=world.tenants["alpha"].credit_code)
    error = assert_error(yunnan.get(url), 422)
    assert field in error["fields"], error
