"""Upload log and statistics (DB53/T 1026 §4.11) over rows written straight into a
tenant's outbox and request log, with hand-computed completeness, timeliness and
consistency figures.

The tenant is this module's own (outside every regulator's region); each test
empties its upload tables afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from tests.conftest import PASSWORD, ApiClient, assert_error, credit

TZ = ZoneInfo("Asia/Shanghai")
RT = "0101000002010030"  # real time, day and month
PLANT = "0000000001000000"  # day, month and year
OFF = "0000000002000000"  # disabled mapping
UNMAPPED = "9999999999999999"


@dataclass
class Stage:
    """This module's tenant and a way in as its viewer."""

    slug: str
    schema: str
    tenant_id: int
    viewer: str

    @property
    def base(self) -> str:
        return f"/api/v1/tenants/{self.slug}/upload"


@pytest.fixture(scope="module")
def stage(app: Any, database: Any, settings: Any) -> Stage:
    from ems_tenants import members, services

    tag = uuid.uuid4().hex[:8]
    viewer = f"stats-viewer-{tag}@example.com"
    with database.transaction() as s:
        tenant = services.create_tenant(
            s,
            services.TenantDraft(
                slug=f"stats-{tag}",
                name=f"统计 {tag}",
                credit_code=credit(f"91440300{int(tag, 16) % 10**9:09d}"),
                region_code="440300",  # outside the regulators' regions of the tests
                industry_code="C3110",
                plan="enterprise",
            ),
        )
        services.provision(s, database.engine, settings.migrations_dir, tenant)
        members.create_user(s, email=viewer, name=viewer, password=PASSWORD)
        members.add_member(s, tenant, viewer, "viewer")
        return Stage(tenant.slug, tenant.schema_name, tenant.id, viewer)


@pytest.fixture
def tx(database: Any, stage: Stage) -> Iterator[Any]:
    """A committing session factory on the tenant; the upload tables are emptied after."""
    from ems.upload.models import (
        UploadCode,
        UploadDayStats,
        UploadItem,
        UploadRegistration,
        UploadRequest,
    )

    yield lambda: database.transaction(stage.schema)
    with database.transaction(stage.schema) as s:
        for table in (UploadRequest, UploadItem, UploadCode, UploadRegistration):
            s.execute(delete(table))
        s.execute(delete(UploadDayStats).where(UploadDayStats.tenant_id == stage.tenant_id))


@pytest.fixture
def viewer(app: Any, stage: Stage) -> ApiClient:
    client = ApiClient(app.test_client())
    assert client.login(stage.viewer).status_code == 200
    return client


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A local wall-clock time, in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=TZ).astimezone(UTC)


def registration(s: Any, profile: str, minutes: int = 60, upload_time: str = "01:30:00") -> Any:
    from ems.upload.models import UploadRegistration

    reg = UploadRegistration(
        profile=profile,
        base_url="https://platform.example",
        enterprise_code="91440300MA0000000X",
        region_code="440300",
        realtime_minutes=minutes,
        upload_time=upload_time,
        status="registered",
    )
    s.add(reg)
    s.flush()
    return reg


def mapping(s: Any, reg: Any, code: str, **flags: Any) -> None:
    from ems.upload.models import UploadCode

    defaults = dict(realtime=False, day=True, month=True, year=True, enabled=True)
    defaults.update(flags)
    source = defaults.pop("source", "category")
    s.add(
        UploadCode(registration_id=reg.id, code=code, name=code, scope=1, source=source, **defaults)
    )


def item(
    s: Any,
    reg: Any,
    code: str,
    stat_type: int,
    start: datetime,
    *,
    version: int = 1,
    value: str | None = "1",
    accepted: timedelta | None = timedelta(minutes=-1),
    status: str | None = None,
    reason: str | None = None,
) -> Any:
    """An outbox row; ``accepted`` is relative to its due time (None: never accepted)."""
    from ems.upload import periods
    from ems.upload.models import StatType, UploadItem

    due = periods.due(StatType(stat_type), start, TZ, reg.realtime_minutes, reg.upload_time)
    row = UploadItem(
        registration_id=reg.id,
        code=code,
        stat_type=stat_type,
        period_start=start,
        version=version,
        value=None if value is None else Decimal(value),
        input_type=2,
        scope=1,
        status=status or ("accepted" if accepted is not None else "pending"),
        reason=reason,
        accepted_at=None if accepted is None else due + accepted,
        due_at=due,
        queued_at=start,
    )
    s.add(row)
    s.flush()
    return row


def request(
    s: Any,
    reg: Any,
    when: datetime,
    outcome: str,
    message: str | None = None,
    endpoint: str = "data",
    item_ids: list[int] | None = None,
) -> Any:
    from ems.upload.models import UploadRequest

    row = UploadRequest(
        registration_id=reg.id,
        at=when,
        endpoint=endpoint,
        url="https://platform.example/data",
        rows=len(item_ids or []),
        item_ids=item_ids or [],
        duration_ms=120,
        outcome=outcome,
        response_code="0" if outcome == "accepted" else "1",
        message=message,
    )
    s.add(row)
    s.flush()
    return row


MAR1, MAR2 = date(2025, 3, 1), date(2025, 3, 2)


def completeness_scenario(s: Any) -> Any:
    """Two days of one registration (hourly real time), hand-counted in the tests below.

    1 March (a 1st: month items expected): RT 24 hourly + RT day + PLANT day + RT month
    + PLANT month = 28 expected. Uploaded: RT hours 0-19 (18 on time, hours 18-19 late;
    hour 0 twice, its first acceptance on time), RT day (on time), PLANT day (late),
    PLANT month (on time) = 23 uploaded, 20 on time. Not counted: hour 20 pending,
    hour 21 superseded, the disabled and the unmapped codes, a real-time row at 10:30.
    2 March: 24 + 2 = 26 expected, all uploaded on time.
    Failed requests: two refusals and a timeout on 1 March (one more on 3 March).
    """
    reg = registration(s, "stats_a")
    mapping(s, reg, RT, realtime=True, year=False)
    mapping(s, reg, PLANT)
    mapping(s, reg, OFF, enabled=False)
    late = timedelta(hours=1)
    for hour in range(20):
        item(s, reg, RT, 0, at(MAR1, hour), accepted=late if hour >= 18 else timedelta(0))
    item(s, reg, RT, 0, at(MAR1, 0), version=2, accepted=late)
    item(s, reg, RT, 0, at(MAR1, 20), accepted=None)
    item(s, reg, RT, 0, at(MAR1, 21), accepted=None, status="superseded")
    item(s, reg, RT, 0, at(MAR1, 10, 30))  # misaligned for hourly intervals
    item(s, reg, RT, 1, at(MAR1))
    item(s, reg, PLANT, 1, at(MAR1), accepted=late)
    item(s, reg, PLANT, 2, at(MAR1))
    item(s, reg, OFF, 1, at(MAR1))
    item(s, reg, UNMAPPED, 1, at(MAR1))
    for hour in range(24):
        item(s, reg, RT, 0, at(MAR2, hour))
    item(s, reg, RT, 1, at(MAR2))
    item(s, reg, PLANT, 1, at(MAR2))
    request(s, reg, at(MAR1, 10), "refused", "解密失败！Decryption failed")
    request(s, reg, at(MAR1, 11), "refused", "解密失败！Decryption failed")
    request(s, reg, at(MAR1, 12), "timeout")
    request(s, reg, at(MAR1, 13), "accepted", "ok")
    request(s, reg, at(date(2025, 3, 3), 0, 30), "unreachable")
    return reg


def test_day_statistics_hand_counted(tx: Any, viewer: ApiClient, stage: Stage) -> None:
    with tx() as s:
        reg_id = completeness_scenario(s).id
    r = viewer.get(f"{stage.base}/statistics/days?from=2025-03-01&to=2025-03-02")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["from"], body["to"]) == ("2025-03-01", "2025-03-02")
    [reg] = body["registrations"]
    assert (reg["registration_id"], reg["profile"]) == (reg_id, "stats_a")
    day1, day2 = reg["days"]
    assert day1["day"] == "2025-03-01"
    assert (day1["expected"], day1["uploaded"], day1["on_time"], day1["failed_requests"]) == (
        28,
        23,
        20,
        3,
    )
    assert day1["completeness"] == 82.14 and day1["timeliness"] == 71.43
    assert day1["warning"] is True
    assert "低于 90%" in day1["message"] and "below 90 %" in day1["message"]
    assert (day2["expected"], day2["uploaded"], day2["on_time"], day2["failed_requests"]) == (
        26,
        26,
        26,
        0,
    )
    assert day2["completeness"] == 100.0 and day2["warning"] is False and day2["message"] is None
    assert (reg["expected"], reg["uploaded"], reg["on_time"], reg["failed_requests"]) == (
        54,
        49,
        46,
        3,
    )
    assert reg["completeness"] == 90.74 and reg["timeliness"] == 85.19
    assert reg["warning"] is False


def test_only_due_periods_are_expected(tx: Any, stage: Stage) -> None:
    from ems.upload import stats

    with tx() as s:
        reg = registration(s, "stats_due", minutes=15, upload_time=None)
        mapping(s, reg, RT, realtime=True)
        mapping(s, reg, PLANT)
        item(s, reg, RT, 0, at(MAR1, 0, 0))
        # 03:00 local: intervals ending by 02:00 are due, 8 of them; the day item is not.
        now = at(MAR1, 3)
        [found] = stats.day_statistics(s, MAR1, MAR1, TZ, now)
        assert (found.expected, found.uploaded, found.on_time) == (8, 1, 1)
        # The day after the next (no batch time): everything of 1 March is due.
        [later] = stats.day_statistics(s, MAR1, MAR1, TZ, at(MAR1 + timedelta(days=2)))
        # 96 intervals and the two day items; the month items are due after March.
        assert later.expected == 96 + 2
        assert later.days[0].expected == later.expected


def test_publish_upserts_the_control_rows(tx: Any, stage: Stage) -> None:
    from ems.upload import stats
    from ems.upload.models import UploadDayStats

    with tx() as s:
        reg = completeness_scenario(s)
        stats.publish(s, stage.tenant_id, reg, [MAR2, MAR1, MAR1])
    with tx() as s:
        rows = s.scalars(
            select(UploadDayStats)
            .where(UploadDayStats.tenant_id == stage.tenant_id)
            .order_by(UploadDayStats.day)
        ).all()
        assert [
            (r.profile, r.day, r.expected, r.uploaded, r.on_time, r.failed_requests) for r in rows
        ] == [
            ("stats_a", MAR1, 28, 23, 20, 3),
            ("stats_a", MAR2, 26, 26, 26, 0),
        ]
        item(s, reg, RT, 0, at(MAR1, 20), version=2)  # the pending hour is accepted now
        stats.publish(s, stage.tenant_id, reg, [MAR1])
    with tx() as s:
        row = s.get(UploadDayStats, (stage.tenant_id, "stats_a", MAR1))
        assert (row.uploaded, row.on_time) == (24, 21)


def test_failures_grouped_by_reason(tx: Any, viewer: ApiClient, stage: Stage) -> None:
    with tx() as s:
        reg = completeness_scenario(s)
        for n in range(2):
            item(
                s,
                reg,
                UNMAPPED,
                1,
                at(MAR2),
                version=10 + n,
                accepted=None,
                status="correction",
                reason="代码不在字典中 code not in the dictionary",
            )
        item(s, reg, UNMAPPED, 2, at(MAR1), accepted=None, reason="数值精度 precision")
    r = viewer.get(f"{stage.base}/statistics/failures?from=2025-03-01&to=2025-03-02")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [(g["outcome"], g["message"], g["count"], g["endpoints"]) for g in body["requests"]] == [
        ("refused", "解密失败！Decryption failed", 2, ["data"]),
        ("timeout", None, 1, ["data"]),
    ]
    assert body["requests"][0]["latest"] == at(MAR1, 11).isoformat()
    assert [(g["outcome"], g["message"], g["count"]) for g in body["items"]] == [
        ("correction", "代码不在字典中 code not in the dictionary", 2),
        ("pending", "数值精度 precision", 1),
    ]


def test_consistency_of_days_and_month(tx: Any, viewer: ApiClient, stage: Stage) -> None:
    codes = {
        "0000000001000000": ("10", "320"),  # 310 vs 320: -3.13 %, ok
        "0000000002000000": ("10", "280"),  # 310 vs 280: +10.71 %, difference
        "0000000003000000": ("10", None),  # month missing
        "0000000004000000": (None, "99"),  # days missing
        "0000000005000000": ("2", "2"),  # unit consumption: not additive
    }
    with tx() as s:
        reg = registration(s, "stats_c")
        mapping(s, reg, "0000000005000000", source="unit_consumption")
        for code, (day_value, month_value) in codes.items():
            if day_value is not None:
                for n in range(31):
                    item(s, reg, code, 1, at(date(2025, 3, 1 + n)), value=day_value)
            if month_value is not None:
                item(s, reg, code, 2, at(MAR1), value=month_value)
        # Older versions never count: the latest accepted one does.
        item(s, reg, "0000000001000000", 1, at(MAR1), version=0, value="100")
        item(s, reg, "0000000001000000", 2, at(MAR1), version=0, value="400")
        # A refused newer version does not replace the accepted one.
        item(s, reg, "0000000001000000", 2, at(MAR1), version=5, value="1", accepted=None)
        item(s, reg, "0000000001000000", 1, at(date(2025, 4, 1)), value="500")  # April
    r = viewer.get(f"{stage.base}/statistics/consistency?month=2025-03")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["month"] == "2025-03" and body["tolerance_pct"] == 5.0
    rows = {c["code"]: c for c in body["codes"]}
    ok = rows["0000000001000000"]
    assert (Decimal(ok["day_sum"]), Decimal(ok["month_value"])) == (310, 320)
    assert (ok["days_accepted"], ok["days_in_month"]) == (31, 31)
    assert ok["difference_pct"] == -3.13 and ok["ok"] is True and ok["status"] == "ok"
    off = rows["0000000002000000"]
    assert off["difference_pct"] == 10.71 and off["ok"] is False
    assert off["status"] == "difference"
    assert rows["0000000003000000"]["status"] == "month_missing"
    assert rows["0000000003000000"]["month_value"] is None
    assert rows["0000000004000000"]["status"] == "days_missing"
    assert rows["0000000004000000"]["day_sum"] is None
    assert rows["0000000005000000"]["status"] == "not_additive"


def test_period_starts(tx: Any, viewer: ApiClient, stage: Stage) -> None:
    with tx() as s:
        reg = registration(s, "stats_p", minutes=15)
        mapping(s, reg, RT, realtime=True)
        mapping(s, reg, PLANT)
        bad_rt = item(s, reg, RT, 0, at(MAR1, 10, 7))
        item(s, reg, RT, 0, at(MAR1, 10, 15))
        item(s, reg, PLANT, 1, at(MAR1, 0, 0, 30))  # within 00:00 +/- 1 min
        bad_day = item(s, reg, PLANT, 1, at(MAR2, 0, 5))
        bad_month = item(s, reg, PLANT, 2, at(MAR2))
        bad_year = item(s, reg, PLANT, 3, at(date(2025, 2, 1)))
        item(s, reg, PLANT, 3, at(date(2025, 1, 1)))
    r = viewer.get(f"{stage.base}/statistics/period-starts?from=2025-01-01&to=2025-03-02")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    found = {(m["item_id"], m["stat_date"], m["aligned_stat_date"]) for m in body["misaligned"]}
    assert found == {
        (bad_rt.id, "2025-03-01 10:07:00", "2025-03-01 10:00:00"),
        (bad_day.id, "2025-03-02 00:05:00", "2025-03-02 00:00:00"),
        (bad_month.id, "2025-03-02 00:00:00", "2025-03-01 00:00:00"),
        (bad_year.id, "2025-02-01 00:00:00", "2025-01-01 00:00:00"),
    }
    missing = {(m["code"], m["day"]) for m in body["missing_days"]}
    # PLANT has a day item for 1 March (30 s late) and 2 March (misaligned, but queued);
    # RT has none at all.
    assert (RT, "2025-03-01") in missing and (RT, "2025-03-02") in missing
    assert (PLANT, "2025-03-01") not in missing and (PLANT, "2025-01-01") in missing
    assert len(missing) == 2 * (31 + 28 + 2) - 2


def test_request_log_search(tx: Any, viewer: ApiClient, stage: Stage) -> None:
    with tx() as s:
        reg = registration(s, "stats_l")
        other = registration(s, "stats_m")
        first = item(s, reg, PLANT, 1, at(MAR1))
        second = item(s, reg, PLANT, 1, at(MAR2))
        a = request(
            s, reg, at(MAR1, 9), "refused", "解密失败！DECRYPTION failed", item_ids=[first.id]
        )
        b = request(s, reg, at(MAR1, 23, 59), "accepted", "ok", item_ids=[first.id, second.id])
        c = request(s, other, at(MAR2, 8), "timeout", endpoint="version")
        d = request(s, reg, at(date(2025, 3, 3), 1), "accepted", "ok", item_ids=[second.id])
    base = f"{stage.base}/requests"

    def ids(query: str) -> list[int]:
        r = viewer.get(f"{base}{query}")
        assert r.status_code == 200, (query, r.get_json())
        return [row["id"] for row in r.get_json()]

    assert ids("") == [d.id, c.id, b.id, a.id]  # newest first
    assert ids("?from=2025-03-01&to=2025-03-01") == [b.id, a.id]
    assert ids("?from=2025-03-01T10:00:00%2B08:00&to=2025-03-02T08:00:00Z") == [c.id, b.id]
    assert ids(f"?registration_id={other.id}") == [c.id]
    assert ids("?endpoint=version") == [c.id]
    assert ids("?outcome=accepted") == [d.id, b.id]
    assert ids("?q=decryption") == [a.id]
    assert ids("?q=%25") == []  # a wildcard is a character here
    assert ids(f"?item_id={second.id}") == [d.id, b.id]
    row = viewer.get(f"{base}?outcome=refused").get_json()[0]
    assert row["item_ids"] == [first.id] and row["duration_ms"] == 120


def test_outbox_search(tx: Any, viewer: ApiClient, stage: Stage) -> None:
    with tx() as s:
        reg = registration(s, "stats_o")
        p2 = item(s, reg, PLANT, 1, at(MAR1), version=2)
        p1 = item(s, reg, PLANT, 1, at(MAR1), version=1, accepted=None, status="superseded")
        rt = item(s, reg, RT, 0, at(MAR1, 1), accepted=None)
        month = item(s, reg, PLANT, 2, at(MAR1))
        later = item(s, reg, PLANT, 1, at(MAR2))
    base = f"{stage.base}/items"

    def ids(query: str) -> list[int]:
        r = viewer.get(f"{base}{query}")
        assert r.status_code == 200, (query, r.get_json())
        return [row["id"] for row in r.get_json()]

    # By period start, then code, then version.
    assert ids("") == [p1.id, p2.id, month.id, rt.id, later.id]
    assert ids("?code=00-00-0000-010000-00&stat_type=1") == [p1.id, p2.id, later.id]
    assert ids("?status=pending") == [rt.id]
    assert ids("?from=2025-03-02") == [later.id]
    assert ids("?to=2025-03-01&stat_type=2") == [month.id]
    assert ids(f"?registration_id={reg.id}&status=superseded") == [p1.id]
    shown = viewer.get(f"{base}?stat_type=0").get_json()[0]
    assert shown["code"] == RT and shown["value"] == "1.00000000"
    assert shown["due_at"] == at(MAR1, 3).isoformat()


def test_every_list_answers_without_parameters(viewer: ApiClient, stage: Stage) -> None:
    for path in (
        "requests",
        "items",
        "statistics/days",
        "statistics/failures",
        "statistics/consistency",
        "statistics/period-starts",
    ):
        r = viewer.get(f"{stage.base}/{path}")
        assert r.status_code == 200, (path, r.get_json())


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("statistics/days?from=2025-13-01", "query.from"),
        ("statistics/days?from=2025-03-02&to=2025-03-01", "from"),
        ("statistics/days?from=2024-01-01&to=2025-03-01", "to"),
        ("statistics/days?registration_id=999999", "registration_id"),
        ("statistics/failures?to=yesterday", "query.to"),
        ("statistics/period-starts?from=2020-01-01&to=2025-01-01", "to"),
        ("statistics/consistency?month=2025-13", "query.month"),
        ("statistics/consistency?month=March", "query.month"),
        ("requests?from=2025-03-01T10:00:00", "query.from"),
        ("requests?from=2025-03-02&to=2025-03-01", "from"),
        ("requests?outcome=lost", "query.outcome"),
        ("requests?item_id=0", "query.item_id"),
        ("items?stat_type=4", "query.stat_type"),
        ("items?code=12345", "query.code"),
        ("items?status=sent", "query.status"),
        ("items?from=2025-03-02&to=2025-03-01", "from"),
    ],
)
def test_bad_input_names_the_field(viewer: ApiClient, stage: Stage, path: str, field: str) -> None:
    error = assert_error(viewer.get(f"{stage.base}/{path}"), 422)
    assert field in error["fields"], error


def test_reads_need_membership(client_for: Any, stage: Stage) -> None:
    assert_error(client_for("alice").get(f"{stage.base}/requests"), 404, "not_found")
    assert_error(client_for().get(f"{stage.base}/requests"), 401)
