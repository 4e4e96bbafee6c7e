"""One upload cycle of one tenant: version check, queue, send, statistics.

The worker runs it every 5 minutes per tenant (``ems.workers.actors.upload_tenant``);
a user's manual upload runs the same code. One sender per registration at a time:
a session-level advisory lock, held on its own connection while the cycle commits
batch by batch (a transaction-level lock would end with the first commit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ems.context import TenantRef, current_tenant
from ems.db import Database
from ems.errors import NotFound
from ems.upload import outbox, periods, registration, stats
from ems.upload.client import PlatformClient
from ems.upload.models import RegistrationStatus, StatType, UploadItem, UploadRegistration
from ems_tenants.models import Tenant

log = logging.getLogger(__name__)

VERSION_CHECK_EVERY = timedelta(hours=24)


@dataclass
class CycleReport:
    """What a cycle did for one registration."""

    registration_id: int
    profile: str
    queued: outbox.Queued | None = None
    sent: outbox.Sent | None = None
    skipped: str | None = None


def _days_touched(tz: ZoneInfo, now: datetime) -> set[date]:
    today = now.astimezone(tz).date()
    return {today, today - timedelta(days=1)}


def _publish(
    session: Session, tenant_id: int, reg: UploadRegistration, days: set[date], now: datetime
) -> None:
    stats.publish(session, tenant_id, reg, sorted(days), now)


def cycle(
    db: Database,
    tenant_id: int,
    secret: str,
    now: datetime,
    *,
    factory: registration.ClientFactory | None = None,
    manual: bool = False,
    registration_ids: list[int] | None = None,
    queue: bool = True,
) -> list[CycleReport]:
    """Run one cycle for every enabled, registered platform of the tenant."""
    with db.session() as control:
        tenant = control.get(Tenant, tenant_id)
        if tenant is None or tenant.schema_name is None:
            return []
        ref = TenantRef(id=tenant.id, slug=tenant.slug, schema_name=tenant.schema_name)
        tz = ZoneInfo(tenant.timezone)
    build = factory or registration.client_factory(secret)
    token = current_tenant.set(ref)
    reports: list[CycleReport] = []
    try:
        with db.transaction(ref.schema_name) as session:
            stmt = select(UploadRegistration.id, UploadRegistration.profile).where(
                UploadRegistration.enabled.is_(True),
                UploadRegistration.status == RegistrationStatus.REGISTERED,
            )
            if registration_ids is not None:
                stmt = stmt.where(UploadRegistration.id.in_(registration_ids))
            targets = session.execute(stmt.order_by(UploadRegistration.id)).all()
        for reg_id, profile in targets:
            report = CycleReport(reg_id, profile)
            reports.append(report)
            key = outbox.lock_key(ref.schema_name, reg_id)
            with db.engine.connect() as lock:
                if not lock.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                    report.skipped = "another upload of this registration is running"
                    continue
                try:
                    _one(db, ref, tz, reg_id, secret, now, build, manual, queue, report)
                finally:
                    lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    lock.commit()
    finally:
        current_tenant.reset(token)
    return reports


def _one(
    db: Database,
    ref: TenantRef,
    tz: ZoneInfo,
    reg_id: int,
    secret: str,
    now: datetime,
    build: Callable[[UploadRegistration], PlatformClient],
    manual: bool,
    queue: bool,
    report: CycleReport,
) -> None:
    with db.transaction(ref.schema_name) as session:
        reg = session.get(UploadRegistration, reg_id)
        if reg is None:
            report.skipped = "registration gone"
            return
        with build(reg) as client:
            if reg.checked_at is None or now - reg.checked_at >= VERSION_CHECK_EVERY:
                registration.check_version(session, reg, client, secret, manual=manual)
                session.commit()
            if queue:
                report.queued = outbox.queue(session, reg, tz, now)
                session.commit()
            report.sent = outbox.send(
                session, ref.id, reg, client, secret, tz, now, manual=manual, commit=session.commit
            )
        days = _days_touched(tz, now)
        accepted_starts = session.scalars(
            select(UploadItem.period_start).where(
                UploadItem.registration_id == reg.id, UploadItem.accepted_at == now
            )
        )
        days.update(periods.local_day(start, tz) for start in accepted_starts)
        _publish(session, ref.id, reg, days, now)
    if report.sent and report.sent.failed:
        log.warning(
            "tenant %s, %s: upload stopped (%s); backing off",
            ref.slug,
            report.profile,
            report.sent.reason,
        )


def queue_range(
    db: Database,
    tenant_id: int,
    reg_id: int,
    since: datetime,
    until: datetime,
    stat_types: list[StatType],
    now: datetime,
) -> outbox.Queued:
    """A manual (re)computation of the figures of a range of periods."""
    with db.session() as control:
        tenant = control.get(Tenant, tenant_id)
        if tenant is None or tenant.schema_name is None:
            raise NotFound(f"tenant {tenant_id} has no schema")
        tz = ZoneInfo(tenant.timezone)
        schema = tenant.schema_name
    with db.transaction(schema) as session:
        reg = session.get(UploadRegistration, reg_id)
        if reg is None:
            raise NotFound(f"registration {reg_id} not found")
        return outbox.queue(session, reg, tz, now, since=since, until=until, stat_types=stat_types)
