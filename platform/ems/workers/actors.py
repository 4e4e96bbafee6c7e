"""The platform's actors. Import this module to start a worker (``ems worker``).

Actors are safe to run twice and take ids, not objects.
"""

from __future__ import annotations

import dramatiq
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from ems.context import TenantRef, current_tenant
from ems.db import utcnow
from ems.workers import broker as _broker  # noqa: F401 - sets the broker before actors exist
from ems.workers.runtime import database, tenant_transaction
from ems.workers.scheduler import periodic
from ems_tenants.models import Tenant, TenantStatus, TenantUsage

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
