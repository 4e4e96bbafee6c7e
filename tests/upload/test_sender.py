"""The sender against the simulated platform, per profile, with faults and bad input.

Real parts throughout: readings stored and rolled up by the real rollup code, the
real client over HTTP(S) to ``ems_provsim`` (its own decryption and validation),
PostgreSQL for the outbox and the log.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ems.upload.models import (
    ItemStatus,
    StatType,
    UploadedFigure,
    UploadItem,
    UploadRequest,
)
from tests.ingest import conftest as ingest_fixtures
from tests.upload.sender_fixtures import (
    DAY,
    ELECTRICITY,
    Platform,
    local,
    q2,
    registered,
    registration_row,
    run_cycle,
    start_platform,
    write_days,
)

make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect


@pytest.fixture
def secret(settings: Any) -> str:
    return str(settings.secret_key)


def _tenant_codes(database: Any, plant: Any) -> tuple[str, str]:
    from ems_tenants.models import Tenant

    with database.session() as control:
        tenant = control.get(Tenant, plant.tenant_id)
        return tenant.credit_code, tenant.region_code


@pytest.fixture
def platform_for(tmp_path: Path) -> Iterator[Any]:
    started: list[Platform] = []

    def start(profile: str, plant: Any, database: Any) -> Platform:
        enterprise, region = _tenant_codes(database, plant)
        platform = start_platform(profile, tmp_path / profile, enterprise, region)
        started.append(platform)
        return platform

    yield start
    for platform in started:
        platform.sim.stop()


def _items(database: Any, plant: Any, **where: Any) -> list[UploadItem]:
    with database.session(plant.schema) as session:
        stmt = select(UploadItem).order_by(UploadItem.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(UploadItem, key) == value)
        return list(session.scalars(stmt))


def _requests(database: Any, plant: Any) -> list[UploadRequest]:
    with database.session(plant.schema) as session:
        return list(session.scalars(select(UploadRequest).order_by(UploadRequest.id)))


def _expected_day(steps: list[Decimal]) -> dict[tuple[int, str], Decimal]:
    """(statType, statDate) -> value, from the increments written (hand arithmetic)."""
    out: dict[tuple[int, str], Decimal] = {}
    for i, step in enumerate(steps[:96]):
        start = local(DAY) + timedelta(minutes=15 * i)
        out[(0, _local_stamp(start))] = q2(step)
    out[(1, f"{DAY.isoformat()} 00:00:00")] = q2(sum(steps[:96], Decimal(0)))
    return out


def _local_stamp(at: Any) -> str:
    from tests.upload.sender_fixtures import TZ

    return str(at.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S"))


@pytest.mark.parametrize("profile", ["national", "shandong", "yunnan", "anhui"])
def test_a_day_of_figures_reaches_the_platform_as_the_tenant_computed_them(
    profile: str, database: Any, connect: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    plant = make_plant()
    steps = write_days(connect, database, plant)
    platform = platform_for(profile, plant, database)
    now = local(DAY + timedelta(days=1), 0, 10)
    reg_id = registered(database, secret, plant, platform, local(DAY))

    reports = run_cycle(database, secret, plant, now)

    assert reports[0].sent is not None
    assert reports[0].sent.failed is False, reports[0].sent.reason
    records = platform.sim.records()
    got = {(r["statType"], r["statDate"]): r["dataValue"] for r in records}
    assert got == _expected_day(steps)
    prof = platform.sim.profile
    assert {r["dataCode"] for r in records} == {ELECTRICITY}
    assert all(r["valid"] is True for r in records)
    # The outbox says the same: every row accepted once, at version 1.
    items = _items(database, plant)
    assert len(items) == 97
    assert {i.status for i in items} == {ItemStatus.ACCEPTED}
    assert {i.version for i in items} == {1}
    # ... and so does the copy regulators read.
    with database.session() as control:
        copies = control.scalar(
            select(func.count())
            .select_from(UploadedFigure)
            .where(UploadedFigure.tenant_id == plant.tenant_id, UploadedFigure.profile == prof.code)
        )
    assert copies == 97
    # Every request is in the log with its duration and outcome.
    log = _requests(database, plant)
    endpoints = Counter(r.endpoint for r in log)
    assert endpoints["register"] == 1
    assert endpoints["dictionary"] == 17
    assert endpoints["data"] >= 1
    assert all(r.duration_ms >= 0 and r.outcome for r in log)
    if profile == "yunnan":
        assert endpoints["access_key"] >= 1
    reg = registration_row(database, plant, reg_id)
    assert reg.backoff_until is None


def test_a_24_hour_outage_then_recovery_sends_everything_once_in_order(
    database: Any, connect: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    plant = make_plant()
    steps = write_days(connect, database, plant, days=2)
    platform = platform_for("national", plant, database)
    start = local(DAY, 0, 15)
    reg_id = registered(database, secret, plant, platform, local(DAY))
    sim = platform.sim

    # 24 simulated hours of failure, alternating 5xx and timeouts, a tick every 15 minutes.
    now = start
    ticks = 0
    while now <= local(DAY + timedelta(days=1)):
        sim.set_fault("5xx" if ticks % 2 == 0 else "timeout", delay=0.6)
        run_cycle(database, secret, plant, now, timeout=0.3)
        now += timedelta(minutes=15)
        ticks += 1
    assert sim.records() == []
    failed_attempts = [r for r in _requests(database, plant) if r.endpoint == "data"]
    assert failed_attempts, "the sender must have tried during the outage"
    assert {r.outcome for r in failed_attempts} <= {"error", "timeout"}
    # Back-off: far fewer attempts than ticks, but at least one an hour.
    assert len(failed_attempts) < ticks
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(failed_attempts)]
    assert max(gaps) <= 3600

    sim.set_fault("none")
    for _ in range(4):
        run_cycle(database, secret, plant, now)
        now += timedelta(minutes=15)

    records = sim.records()
    keys = [(r["dataCode"], r["statType"], r["statDate"]) for r in records]
    assert len(keys) == len(set(keys)), "a figure was accepted twice"
    items = _items(database, plant)
    assert {i.status for i in items} == {ItemStatus.ACCEPTED}
    assert len(records) == len(items)
    # Everything of the outage day is there, with the values the tenant computed.
    got = {(r["statType"], r["statDate"]): r["dataValue"] for r in records}
    for key, value in _expected_day(steps).items():
        assert got[key] == value
    # Oldest first: real-time rows in period order, the day row after its last quarter.
    realtime = [r["statDate"] for r in records if r["statType"] == 0]
    assert realtime == sorted(realtime)
    day_pos = next(i for i, r in enumerate(records) if r["statType"] == 1)
    last_quarter = f"{DAY.isoformat()} 23:45:00"
    assert day_pos > next(i for i, r in enumerate(records) if r["statDate"] == last_quarter)
    # The log shows each attempt: every failed request names the rows it carried, and
    # the rows of the first period were tried in every one of them.
    log = [r for r in _requests(database, plant) if r.endpoint == "data"]
    first = min(items, key=lambda i: (i.due_at, i.period_start))
    carried = [r for r in log if first.id in r.item_ids]
    assert len(carried) == first.attempts
    assert [r.outcome for r in carried][-1] == "accepted"
    assert sum(1 for r in carried if r.outcome in ("error", "timeout")) == len(failed_attempts)
    sim_failures = [
        q for q in sim.requests() if q["endpoint"] == "data" and q["outcome"] in ("5xx", "timeout")
    ]
    assert len(sim_failures) == len(failed_attempts)
    assert registration_row(database, plant, reg_id).consecutive_failures == 0


def test_a_corrected_figure_is_sent_again_as_a_new_version(
    database: Any, connect: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    plant = make_plant()
    steps = write_days(connect, database, plant, last=False)  # 23:45-24:00 arrives late
    platform = platform_for("national", plant, database)
    now = local(DAY + timedelta(days=1), 0, 10)
    registered(database, secret, plant, platform, local(DAY), realtime=False)
    run_cycle(database, secret, plant, now)
    first = q2(sum(steps[:-1], Decimal(0)))
    assert [r["dataValue"] for r in platform.sim.records()] == [first]

    from tests.telemetry.test_rollups import roll, write

    total = Decimal(1000) + sum(steps, Decimal(0))
    late = [(local(DAY + timedelta(days=1)), float(total))]
    write(connect, plant.schema, plant.points["M1.energy"], late)
    roll(database, plant.schema, "Asia/Shanghai")
    run_cycle(database, secret, plant, now + timedelta(minutes=15))

    values = [r["dataValue"] for r in platform.sim.records()]
    assert values == [first, q2(sum(steps, Decimal(0)))]
    items = _items(database, plant, stat_type=StatType.DAY)
    assert [(i.version, i.status) for i in items] == [(1, "accepted"), (2, "accepted")]


def test_a_code_the_platform_dropped_waits_for_correction_and_is_never_lost(
    database: Any, connect: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    plant = make_plant()
    write_days(connect, database, plant)
    platform = platform_for("national", plant, database)
    now = local(DAY + timedelta(days=1), 0, 10)
    registered(database, secret, plant, platform, local(DAY), realtime=False)
    # The platform removes electricity from dictionary 8 before anything is sent.
    platform.sim.bump_dictionaries({"remove": {8: ["1200"]}})
    run_cycle(database, secret, plant, now)  # version check first: the new dictionary

    items = _items(database, plant)
    assert len(items) == 1
    assert items[0].status == ItemStatus.CORRECTION
    assert "1200" in (items[0].reason or "") and "dictionary 8" in (items[0].reason or "")
    assert platform.sim.records() == []
    held = [r for r in _requests(database, plant) if r.outcome == "invalid"]
    assert held and "1200" in (held[-1].message or "")


def test_the_platform_refusing_one_row_holds_back_only_that_row(
    database: Any, connect: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    plant = make_plant()
    write_days(connect, database, plant)
    platform = platform_for("national", plant, database)
    now = local(DAY + timedelta(days=1), 0, 10)
    reg_id = registered(database, secret, plant, platform, local(DAY))
    from ems.upload.models import UploadRegistration

    with database.transaction(plant.schema) as session:
        session.get(UploadRegistration, reg_id).checked_at = now  # versions checked just now
    # The platform changes its table without telling:
    # electricity's precision drops to 0 decimals, so rows with cents are refused.
    platform.sim.bump_dictionaries(
        {
            8: [
                {
                    "code": "1200",
                    "name": "电力",
                    "unit": "kWh",
                    "precision": 0,
                    "coefficient": "0.1229",
                }
            ]
        }
    )
    run_cycle(database, secret, plant, now)

    items = _items(database, plant)
    accepted = [i for i in items if i.status == ItemStatus.ACCEPTED]
    held = [i for i in items if i.status == ItemStatus.CORRECTION]
    assert len(items) == 97
    # Quarters of 10 and 11 kWh pass, those of 10.5 and 11.5 are refused; the day (1032).
    assert {i.value for i in accepted} == {Decimal(10), Decimal(11), Decimal(1032)}
    assert held and all("数据精度" in (i.reason or "") for i in held)
    assert len(platform.sim.records()) == len(accepted)
    # The next cycle checks versions, takes the new precision and sends corrected versions.
    later = now + timedelta(minutes=15)
    run_cycle(database, secret, plant, later)
    items = _items(database, plant)
    newest: dict[tuple[int, Any], UploadItem] = {}
    for item in items:
        if item.period_start < local(DAY + timedelta(days=1)):  # (00:00-00:15 closed meanwhile)
            newest[(item.stat_type, item.period_start)] = item
    assert len(newest) == 97
    assert all(i.status == ItemStatus.ACCEPTED for i in newest.values())
    assert all(i.value == i.value.quantize(Decimal(1)) for i in newest.values() if i.value)


def test_an_expired_access_key_is_renewed_and_the_rows_go_through(
    database: Any, connect: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    plant = make_plant()
    write_days(connect, database, plant)
    platform = platform_for("yunnan", plant, database)
    now = local(DAY + timedelta(days=1), 0, 10)
    reg_id = registered(database, secret, plant, platform, local(DAY), realtime=False)
    from ems.upload.models import UploadRegistration

    with database.transaction(plant.schema) as session:
        # The key obtained at registration is still good by our clock...
        row = session.get(UploadRegistration, reg_id)
        assert row.access_key is not None
        row.access_key_expires_at = now + timedelta(hours=1)
        row.checked_at = now  # no version check first: the data request meets the 401
    platform.sim.expire_access_keys()  # ... but the platform ended it early
    run_cycle(database, secret, plant, now)

    log = _requests(database, plant)
    data = [r for r in log if r.endpoint == "data"]
    assert [r.http_status for r in data] == [401, 200]
    assert data[0].message and "访问密钥" in data[0].message
    assert [r.endpoint for r in log][-3:] == ["data", "access_key", "data"]
    assert len(platform.sim.records()) == 1


def test_a_wrong_secret_key_keeps_the_rows_queued_with_the_reason(
    database: Any, connect: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    plant = make_plant()
    write_days(connect, database, plant)
    platform = platform_for("shandong", plant, database)
    now = local(DAY + timedelta(days=1), 0, 10)
    reg_id = registered(database, secret, plant, platform, local(DAY), realtime=False)
    enterprise, _ = _tenant_codes(database, plant)
    platform.sim.rekey(enterprise)  # the platform issued a new key; ours is now wrong
    run_cycle(database, secret, plant, now)

    items = _items(database, plant)
    assert [i.status for i in items] == [ItemStatus.PENDING]
    assert "解密失败" in (items[0].reason or "")
    assert items[0].attempts == 1
    log = [r for r in _requests(database, plant) if r.endpoint == "data"]
    assert log[-1].outcome == "refused" and "解密失败" in (log[-1].message or "")
    reg = registration_row(database, plant, reg_id)
    assert reg.backoff_until is not None and reg.consecutive_failures == 1

    # Registering again fetches the new key; the same row then goes through.
    from ems.upload import registration
    from ems.upload.models import UploadRegistration

    with database.transaction(plant.schema) as session:
        row = session.get(UploadRegistration, reg_id)
        factory = registration.client_factory(secret, clock=lambda: now)
        with factory(row) as client:
            assert registration.register(session, row, client, secret).ok
    run_cycle(database, secret, plant, now, manual=True, queue=False)
    assert [i.status for i in _items(database, plant)] == [ItemStatus.ACCEPTED]
    assert len(platform.sim.records()) == 1


def test_a_wrong_pin_keeps_the_rows_queued(
    database: Any, connect: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    from ems.upload import crypto
    from ems.upload.models import UploadRegistration

    plant = make_plant()
    write_days(connect, database, plant)
    platform = platform_for("yunnan", plant, database)
    now = local(DAY + timedelta(days=1), 0, 10)
    reg_id = registered(database, secret, plant, platform, local(DAY), realtime=False)
    with database.transaction(plant.schema) as session:
        row = session.get(UploadRegistration, reg_id)
        row.pin = crypto.seal(secret, b"999999")
        row.access_key = None
    run_cycle(database, secret, plant, now)

    items = _items(database, plant)
    assert [i.status for i in items] == [ItemStatus.PENDING]
    log = _requests(database, plant)
    key_requests = [r for r in log if r.endpoint == "access_key"]
    assert key_requests[-1].outcome == "refused"
    assert platform.sim.records() == []


def test_enterprise_information_and_meter_ledger_reach_the_platform(
    database: Any, make_plant: Any, secret: str, platform_for: Any
) -> None:
    from ems.meters.models import Meter
    from ems.upload import registration
    from ems.upload.models import UploadedSubmission, UploadRegistration
    from ems_tenants.models import Tenant

    plant = make_plant()
    platform = platform_for("shandong", plant, database)  # gzip bodies; info is not encrypted
    now = local(DAY)
    reg_id = registered(database, secret, plant, platform, now, realtime=False)
    with database.transaction(plant.schema) as session:
        session.add(
            Meter(name="总进线电能表", level=1, management_number="E-001", type_code="1206100")
        )
    with database.transaction(plant.schema) as session:
        reg = session.get(UploadRegistration, reg_id)
        with database.session() as control:
            tenant = control.get(Tenant, plant.tenant_id)
        factory = registration.client_factory(secret, clock=lambda: now)
        for kind in ("info", "meters"):
            with factory(reg) as client:
                answer = registration.upload_submission(session, reg, client, secret, tenant, kind)
            assert answer.ok, answer.message
    infos = platform.sim.infos()
    assert [i["data"]["enterpriseCode"] for i in infos] == [tenant.credit_code]
    assert infos[0]["data"]["enterpriseName"] == tenant.name
    ledgers = platform.sim.meter_ledgers()
    assert [m["managementNumber"] for m in ledgers[0]["data"]] == ["E-001"]
    assert ledgers[0]["data"][0]["meterType"] == "1206100"
    with database.session() as control:
        kinds = sorted(
            control.scalars(
                select(UploadedSubmission.kind).where(
                    UploadedSubmission.tenant_id == plant.tenant_id
                )
            )
        )
    assert kinds == ["info", "meters"]
