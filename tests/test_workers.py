"""Dramatiq on a real RabbitMQ (a private vhost): the tenant travels with the
message and is bound in the actor; exactly one scheduler leads."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import delete, select

from tests.ingest import conftest as ingest_fixtures

# A provisioned plant tenant with a gateway and points (the ingest tests' fixtures).
make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect
dc_key = ingest_fixtures.dc_key


@pytest.fixture
def run_worker(broker: Any) -> Any:
    import dramatiq

    def run(queue: str = "ems-maintenance") -> None:
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
        worker.start()
        try:
            broker.join(queue, timeout=30_000)
            worker.join()
        finally:
            worker.stop()

    return run


def usage_of(database: Any, tenant_id: int) -> Any:
    from ems_tenants.models import TenantUsage

    with database.session() as s:
        return s.scalar(select(TenantUsage).where(TenantUsage.tenant_id == tenant_id))


def test_message_carries_and_binds_its_tenant(
    broker: Any, run_worker: Any, database: Any, world: Any
) -> None:
    from ems.context import TenantRef, current_tenant
    from ems.workers.actors import measure_tenant_storage
    from ems_tenants.models import TenantUsage

    alpha = world.tenants["alpha"]
    with database.transaction() as s:
        s.execute(delete(TenantUsage))
    token = current_tenant.set(TenantRef(alpha.id, alpha.slug, alpha.schema_name))
    try:
        message = measure_tenant_storage.send()
    finally:
        current_tenant.reset(token)
    assert message.options["ems_tenant"] == "alpha-works"
    run_worker()
    usage = usage_of(database, alpha.id)
    assert usage is not None and usage.storage_bytes > 0
    assert usage_of(database, world.tenants["beta"].id) is None, "the actor ran for another tenant"


def test_fan_out_reaches_every_active_tenant(
    broker: Any, run_worker: Any, database: Any, world: Any
) -> None:
    from ems.workers.actors import measure_all_storage

    measure_all_storage.send()
    run_worker()
    run_worker()  # the fan-out enqueues a second round of messages
    for key in ("alpha", "beta", "gamma"):
        assert usage_of(database, world.tenants[key].id) is not None, key


def test_message_for_an_inactive_tenant_is_skipped(
    broker: Any, run_worker: Any, database: Any, world: Any
) -> None:
    from ems.context import TenantRef, current_tenant
    from ems.workers.actors import measure_tenant_storage
    from ems_tenants.models import TenantUsage

    with database.transaction() as s:
        s.execute(delete(TenantUsage))
    ghost = TenantRef(id=999_999, slug="no-such-tenant", schema_name="t_no_such_tenant")
    token = current_tenant.set(ghost)
    try:
        measure_tenant_storage.send()
    finally:
        current_tenant.reset(token)
    run_worker()
    with database.session() as s:
        assert s.scalars(select(TenantUsage)).all() == []


def test_storage_over_quota_refuses_writes(
    app: Any, database: Any, world: Any, client_for: Any
) -> None:
    from sqlalchemy.dialects.postgresql import insert

    from ems.db import utcnow
    from ems_tenants.models import TenantUsage

    gamma = world.tenants["gamma"]
    huge = 10**15
    stmt = insert(TenantUsage).values(tenant_id=gamma.id, storage_bytes=huge, measured_at=utcnow())
    with database.transaction() as s:
        s.execute(
            stmt.on_conflict_do_update(index_elements=["tenant_id"], set_={"storage_bytes": huge})
        )
    pat = client_for("pat")
    try:
        r = pat.post("/api/v1/tenants/gamma-works/sites", json={"code": "Q1", "name": "q"})
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "quota_exceeded"
        assert pat.get("/api/v1/tenants/gamma-works/sites").status_code == 200  # reads still work
    finally:
        with database.transaction() as s:
            s.execute(delete(TenantUsage).where(TenantUsage.tenant_id == gamma.id))


def test_hourly_reconciliation_reaches_the_tenant_through_rabbitmq(
    broker: Any,
    run_worker: Any,
    database: Any,
    make_plant: Any,
    connect: Any,
    dc_key: Any,
    settings: Any,
) -> None:
    """Today's readings and ledger go through the real Ingestor; the periodic job fans
    out over RabbitMQ and the tenant's reconciliation appears, with the real clock."""
    from datetime import date

    from ems.ingest.core import Ingestor, Message
    from ems.ingest.registry import Registry
    from ems.telemetry.models import Reconciliation
    from ems.workers.actors import reconcile_all_tenants
    from ems_edge import wire

    plant = make_plant()
    now_ms = int(time.time()) * 1000
    ts = now_ms - 60_000
    acc = wire.DigestAccumulator()
    acc.add(ts, 7.0)
    silent = wire.PointLedger(0, 0, wire.DigestAccumulator().hexdigest())
    points = dict.fromkeys(plant.points, silent) | {
        "M1.energy": wire.PointLedger(1, 0, acc.hexdigest())
    }
    ledger = wire.Completeness(plant.gateway, wire.utc_day(ts), now_ms, points)
    ingestor = Ingestor(
        Registry(connect), settings.dc_name, dc_key, connect, clock=lambda: now_ms / 1000
    )
    try:
        outcome = ingestor.handle(
            [
                Message(
                    wire.topic(plant.gateway, wire.Channel.READINGS),
                    wire.encode_batch(
                        plant.gateway, "c", [(1, "M1.energy", ts, 7.0)], now_ms, plant.key
                    ),
                ),
                Message(
                    wire.topic(plant.gateway, wire.Channel.COMPLETENESS),
                    wire.encode_completeness(ledger, plant.key),
                ),
            ]
        )
        assert outcome.stored == 1
    finally:
        ingestor.close()

    reconcile_all_tenants.send()
    run_worker()
    run_worker()  # the fan-out sends one message per tenant

    with database.session(plant.schema) as session:
        row = session.get(
            Reconciliation, (plant.gateway, date.fromisoformat(ledger.day), "M1.energy")
        )
        assert row is not None
        assert (row.status, row.stored_count, row.agent_count) == ("match", 1, 1)


def test_daily_partition_maintenance_creates_the_coming_months(
    broker: Any, run_worker: Any, make_plant: Any, connect: Any
) -> None:
    from datetime import UTC, datetime

    from ems.telemetry import partitions
    from ems.workers.actors import maintain_all_partitions

    plant = make_plant()
    maintain_all_partitions.send()
    run_worker()
    run_worker()  # the fan-out sends one message per tenant

    month = datetime.now(UTC).date().replace(day=1)
    wanted = {
        month,
        partitions.next_month(month),
        partitions.next_month(partitions.next_month(month)),
    }
    with connect() as conn:
        assert wanted <= partitions.existing(conn, plant.schema)


def test_daily_reminders_reach_the_tenant_through_rabbitmq(
    broker: Any, run_worker: Any, database: Any, world: Any
) -> None:
    """A meter of alpha falling due gets one reminder, notified, from the daily fan-out;
    another run (a second day's, or a retry) adds nothing."""
    import uuid
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from ems.meters.models import Meter
    from ems.reminders.models import Reminder
    from ems.workers.actors import send_reminders_all_tenants
    from ems.workers.scheduler import JOBS

    alpha = world.tenants["alpha"]
    due = datetime.now(ZoneInfo(alpha.timezone)).date() + timedelta(days=3)
    with database.transaction(alpha.schema_name) as s:
        meter = Meter(
            name="电能表 worker",
            level=1,
            management_number=f"WRK-{uuid.uuid4().hex[:6]}",
            next_due_on=due,
            next_due_overridden=True,
        )
        s.add(meter)
        s.flush()
        meter_id = meter.id
    jobs = {job.actor.actor_name: job.every_seconds for job in JOBS}
    assert jobs["send_reminders_all_tenants"] == 86400
    for _ in range(2):
        send_reminders_all_tenants.send()
        run_worker()
        run_worker()  # the fan-out sends one message per tenant
    with database.session(alpha.schema_name) as s:
        rows = s.scalars(
            select(Reminder).where(
                Reminder.subject_type == "meter", Reminder.subject_id == meter_id
            )
        ).all()
    assert [(r.kind, r.due) for r in rows] == [("calibration_due", due)]
    assert rows[0].notified_at is not None


class CountingActor:
    """Stands in for an actor: the scheduler only calls ``send``."""

    actor_name = "counting"

    def __init__(self) -> None:
        self.sent = 0

    def send(self) -> None:
        self.sent += 1


def test_exactly_one_scheduler_leads(database: Any) -> None:
    from ems.workers.scheduler import PeriodicJob, run_scheduler

    actor = CountingActor()
    leaders: list[str] = []
    stops = {name: threading.Event() for name in ("a", "b")}
    threads = {
        name: threading.Thread(
            target=run_scheduler,
            args=(database.engine, stop),
            kwargs=dict(
                jobs=[PeriodicJob(actor, every_seconds=1)],
                tick_seconds=0.05,
                standby_seconds=0.2,
                on_leader=lambda name=name: leaders.append(name),
            ),
            daemon=True,
        )
        for name, stop in stops.items()
    }
    for thread in threads.values():
        thread.start()
    time.sleep(2.5)
    assert len(leaders) == 1, leaders
    first = leaders[0]
    sent_while_one_led = actor.sent
    assert 1 <= sent_while_one_led <= 3
    # The leader stops (or dies): the standby takes over.
    stops[first].set()
    threads[first].join(timeout=5)
    deadline = time.time() + 5
    while len(leaders) < 2 and time.time() < deadline:
        time.sleep(0.05)
    other = next(n for n in stops if n != first)
    stops[other].set()
    threads[other].join(timeout=5)
    assert leaders == [first, other]


def test_upload_cycle_reaches_the_platform_through_rabbitmq(
    broker: Any, run_worker: Any, database: Any, connect: Any, make_plant: Any, settings: Any
) -> None:
    """The 5-minute fan-out sends each tenant's cycle; the closed quarters' figures arrive."""
    from datetime import timedelta

    from ems.db import utcnow
    from ems.upload import periods
    from ems.upload.models import StatType
    from ems.workers.actors import upload_all_tenants
    from ems.workers.scheduler import JOBS
    from ems_provsim.server import Simulator
    from tests.telemetry.test_rollups import roll, write
    from tests.upload.sender_fixtures import TZ, registered

    jobs = {job.actor.actor_name: job.every_seconds for job in JOBS}
    assert jobs["upload_all_tenants"] == 300
    plant = make_plant()
    now = utcnow()
    since = periods.floor(StatType.REALTIME, now - timedelta(hours=1), TZ)
    readings = [(since + timedelta(minutes=15 * i), 100.0 + 7 * i) for i in range(6)]
    write(connect, plant.schema, plant.points["M1.energy"], readings)
    roll(database, plant.schema, "Asia/Shanghai")
    sim = Simulator("national").start()
    try:
        registered(database, str(settings.secret_key), plant, sim_platform(sim), since)
        upload_all_tenants.send()
        run_worker()
        run_worker("ems-upload")
        closed = periods.closed_between(
            StatType.REALTIME, since, utcnow() - timedelta(minutes=3), TZ
        )
        got = {r["statDate"]: r["dataValue"] for r in sim.records()}
        assert len(got) == len(closed) >= 3
        # Each closed quarter carries 7 kWh, if its end reading is already written.
        assert all(
            v == 7
            for k, v in got.items()
            if k < readings[-1][0].astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")
        )
    finally:
        sim.stop()


def sim_platform(sim: Any) -> Any:
    from tests.upload.sender_fixtures import Platform

    return Platform(sim)


def test_a_ledger_import_job_runs_through_rabbitmq(
    broker: Any, run_worker: Any, database: Any, world: Any
) -> None:
    """A job written in a transaction is sent when it commits, and a worker runs it."""
    import uuid

    from ems.context import TenantRef, current_tenant
    from ems.jobs import services
    from ems.jobs.models import Job, JobKind
    from ems.meters.models import Meter

    alpha = world.tenants["alpha"]
    number = f"JOB-{uuid.uuid4().hex[:6]}"
    content = f"管理编号,计量器具名称,器具等级\r\n{number},电能表,1\r\n".encode()
    token = current_tenant.set(TenantRef(alpha.id, alpha.slug, alpha.schema_name))
    try:
        with database.transaction(alpha.schema_name) as session:
            job = services.create_job(
                session, JobKind.LEDGER_IMPORT, {"ledger": "meters"}, input_file=("m.csv", content)
            )
            services.send_after_commit(session, job, services.send_to_worker)
            job_id = job.id
    finally:
        current_tenant.reset(token)
    run_worker("ems-jobs")
    with database.session(alpha.schema_name) as s:
        done = s.get(Job, job_id)
        assert done is not None and done.status == "done", (done.status, done.result)
        assert done.result is not None and done.result["created"] == 1
        assert s.scalar(select(Meter.id).where(Meter.management_number == number)) is not None
