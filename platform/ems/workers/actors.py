"""The platform's actors. Import this module to start a worker (``ems worker``).

Actors are safe to run twice and take ids, not objects.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import dramatiq
import psycopg
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from ems.config import load_settings
from ems.context import TenantRef, current_tenant
from ems.db import libpq_url, utcnow
from ems.jobs import tasks as _jobs  # noqa: F401 - registers the job actor (ems-jobs)
from ems.reminders import notify as reminder_notify
from ems.reminders import services as reminders
from ems.telemetry import partitions, reconcile, rollups
from ems.upload import service as upload_service
from ems.workers import broker as _broker  # noqa: F401 - sets the broker before actors exist
from ems.workers.runtime import database, tenant_transaction
from ems.workers.scheduler import periodic
from ems_tenants.models import Plan, Tenant, TenantStatus, TenantUsage

log = logging.getLogger(__name__)

SCHEMA_BYTES = text(
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'm', 'p')"
)


@dramatiq.actor(queue_name="ems-maintenance", max_retries=3)
def measure_tenant_storage() -> None:
    """Record how many bytes the bound tenant's schema takes (for the storage quota)."""
    tenant = current_tenant.get()
    assert tenant is not None  # noqa: S101 - enqueued with a tenant by measure_all_storage
    with tenant_transaction() as session:
        size = int(session.execute(SCHEMA_BYTES, {"schema": tenant.schema_name}).scalar_one())
        stmt = insert(TenantUsage).values(
            tenant_id=tenant.id, storage_bytes=size, measured_at=utcnow()
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[TenantUsage.tenant_id],
                set_={"storage_bytes": size, "measured_at": utcnow()},
            )
        )


@periodic(every_seconds=3600)
@dramatiq.actor(queue_name="ems-maintenance", max_retries=0)
def measure_all_storage() -> None:
    """Fan out one storage measurement per active tenant."""
    with database().session() as session:
        tenants = session.execute(
            select(Tenant.id, Tenant.slug, Tenant.schema_name).where(
                Tenant.status == TenantStatus.ACTIVE, Tenant.schema_name.is_not(None)
            )
        ).all()
    for tenant_id, slug, schema in tenants:
        token = current_tenant.set(TenantRef(id=tenant_id, slug=slug, schema_name=str(schema)))
        try:
            measure_tenant_storage.send()
        finally:
            current_tenant.reset(token)


# One rollup message works at most this long, then leaves the rest to the next
# minute's message: a tenant replaying a long backlog must not hold a worker
# thread (and Dramatiq's 10-minute time limit) for ever.
ROLLUP_BUDGET_SECONDS = 240.0


@dramatiq.actor(queue_name="ems-rollups", max_retries=3)
def rollup_tenant(tenant_id: int) -> None:
    """Recompute a tenant's rollups until it has no dirty ranges left.

    Safe to run twice, or twice at once: each round claims its dirty ranges in
    its own transaction, and a second message for a tenant already being
    rolled up finds it busy and returns.
    """
    db = database()
    with db.session() as session:
        row = session.execute(
            select(Tenant.schema_name, Tenant.timezone).where(
                Tenant.id == tenant_id, Tenant.status == TenantStatus.ACTIVE
            )
        ).one_or_none()
    if row is None or row.schema_name is None:
        log.info("rollup skipped: tenant %s is not active", tenant_id)
        return
    deadline = time.monotonic() + ROLLUP_BUDGET_SECONDS
    while time.monotonic() < deadline:
        run = rollups.process_dirty(db, row.schema_name, row.timezone)
        if run.busy or run.ranges == 0:
            return


@periodic(every_seconds=60)
@dramatiq.actor(queue_name="ems-maintenance", max_retries=0)
def rollup_dirty_tenants() -> None:
    """Send ``rollup_tenant`` for every active tenant that has dirty ranges."""
    with database().session() as session:
        tenants = session.execute(
            select(Tenant.id, Tenant.schema_name).where(
                Tenant.status == TenantStatus.ACTIVE, Tenant.schema_name.is_not(None)
            )
        ).all()
        dirty = [
            tenant_id
            for tenant_id, schema in tenants
            if schema is not None and rollups.has_dirty(session, schema)
        ]
    for tenant_id in dirty:
        rollup_tenant.send(tenant_id)


@dramatiq.actor(queue_name="ems-maintenance", max_retries=3)
def reconcile_tenant(tenant_id: int) -> None:
    """Reconcile a tenant's recent gateway-days (and days whose ledger just changed)."""
    db = database()
    with db.session() as session:
        row = session.execute(
            select(Tenant.slug, Tenant.schema_name).where(
                Tenant.id == tenant_id, Tenant.status == TenantStatus.ACTIVE
            )
        ).one_or_none()
    if row is None or row.schema_name is None:
        log.info("reconciliation skipped: tenant %s is not active", tenant_id)
        return
    token = current_tenant.set(TenantRef(id=tenant_id, slug=row.slug, schema_name=row.schema_name))
    try:
        with tenant_transaction() as session:
            now = utcnow()
            outcome = reconcile.reconcile(session, reconcile.days_to_check(session, now), now)
    finally:
        current_tenant.reset(token)
    if outcome.differences:
        log.warning(
            "tenant %s: %d point-days differ from their gateways' ledgers (%d events)",
            row.slug,
            outcome.differences,
            outcome.events,
        )


def _active_tenant_ids() -> list[int]:
    """Ids of the tenants with a schema that are active (the fan-outs' targets)."""
    with database().session() as session:
        return list(
            session.scalars(
                select(Tenant.id).where(
                    Tenant.status == TenantStatus.ACTIVE, Tenant.schema_name.is_not(None)
                )
            )
        )


@periodic(every_seconds=3600)
@dramatiq.actor(queue_name="ems-maintenance", max_retries=0)
def reconcile_all_tenants() -> None:
    """Send ``reconcile_tenant`` for every active tenant, hourly."""
    for tenant_id in _active_tenant_ids():
        reconcile_tenant.send(tenant_id)


@dramatiq.actor(queue_name="ems-maintenance", max_retries=3)
def maintain_partitions(tenant_id: int) -> None:
    """Create a tenant's coming months' partitions; archive and drop the expired ones.

    Raw readings are kept for the plan's ``retention_days`` (never under three years,
    construction code 4.1.4, 4.4.3), then archived as CSV.gz under the data directory
    before their month is dropped whole; the rollups stay.
    """
    settings = load_settings()
    with database().session() as session:
        row = session.execute(
            select(Tenant.slug, Tenant.schema_name, Plan.retention_days)
            .join(Plan, Plan.id == Tenant.plan_id)
            .where(Tenant.id == tenant_id, Tenant.status == TenantStatus.ACTIVE)
        ).one_or_none()
    if row is None or row.schema_name is None:
        log.info("partition maintenance skipped: tenant %s is not active", tenant_id)
        return
    archive = settings.data_dir / "archive" / row.schema_name
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as conn:
        done = partitions.maintain(
            conn, row.schema_name, utcnow().date(), row.retention_days, archive
        )
    for month in done.created:
        log.info("tenant %s: created the partition of %s", row.slug, month)
    for month, path in done.retired:
        log.info("tenant %s: retired the readings of %s (archive: %s)", row.slug, month, path)


@periodic(every_seconds=86400)
@dramatiq.actor(queue_name="ems-maintenance", max_retries=0)
def maintain_all_partitions() -> None:
    """Send ``maintain_partitions`` for every active tenant, daily."""
    for tenant_id in _active_tenant_ids():
        maintain_partitions.send(tenant_id)


@dramatiq.actor(queue_name="ems-maintenance", max_retries=3)
def send_reminders(tenant_id: int) -> None:
    """Create a tenant's reminders falling due within their lead times, then notify them.

    Safe to run twice, or twice at once: a reminder exists once per subject and due
    date, and pending ones are locked while they are notified. "Today" is the
    tenant's local date, since due dates are the plant's calendar days.
    """
    with database().session() as session:
        row = session.execute(
            select(Tenant.slug, Tenant.schema_name, Tenant.timezone).where(
                Tenant.id == tenant_id, Tenant.status == TenantStatus.ACTIVE
            )
        ).one_or_none()
    if row is None or row.schema_name is None:
        log.info("reminders skipped: tenant %s is not active", tenant_id)
        return
    tenant = TenantRef(id=tenant_id, slug=row.slug, schema_name=row.schema_name)
    token = current_tenant.set(tenant)
    try:
        today = datetime.now(ZoneInfo(row.timezone)).date()
        with tenant_transaction() as session:
            created = reminders.run(session, today)
        # Notified in a transaction of its own: the reminders exist even if delivery fails.
        with tenant_transaction() as session:
            delivered = reminder_notify.deliver(session, tenant)
    finally:
        current_tenant.reset(token)
    log.info("tenant %s: %d new reminders, %d notified", row.slug, len(created), delivered)


@periodic(every_seconds=86400)
@dramatiq.actor(queue_name="ems-maintenance", max_retries=0)
def send_reminders_all_tenants() -> None:
    """Send ``send_reminders`` for every active tenant, daily (00:00 UTC)."""
    for tenant_id in _active_tenant_ids():
        send_reminders.send(tenant_id)


@dramatiq.actor(queue_name="ems-upload", max_retries=0, time_limit=30 * 60 * 1000)
def upload_tenant(tenant_id: int) -> None:
    """One upload cycle of a tenant: version check, queue new figures, send the backlog.

    No Dramatiq retries: the outbox itself retries (with back-off) on the next cycle,
    and a cycle that overlaps a running one skips that registration (advisory lock).
    """
    settings = load_settings()
    for report in upload_service.cycle(database(), tenant_id, settings.secret_key, utcnow()):
        if report.sent is not None and (report.sent.accepted or report.sent.failed):
            log.info(
                "tenant %s, %s: %d accepted in %d requests%s",
                tenant_id,
                report.profile,
                report.sent.accepted,
                report.sent.requests,
                f"; stopped: {report.sent.reason}" if report.sent.failed else "",
            )


@periodic(every_seconds=300)
@dramatiq.actor(queue_name="ems-maintenance", max_retries=0)
def upload_all_tenants() -> None:
    """Send ``upload_tenant`` for every active tenant, every 5 minutes.

    Real-time items are 15 minutes long by default; a 5-minute tick queues each soon
    after it closes and gives the back-off (5 minutes doubling to an hour) its steps.
    """
    for tenant_id in _active_tenant_ids():
        upload_tenant.send(tenant_id)
