"""A provider engineer's plants across tenants: each one's health, read in its own schema.

The engineer's memberships decide which tenants (``tenants_of``), never the
request. Each tenant is read through its own session, bound to the schema its
registry row names: one ORM session per tenant, because the identity map would
confuse equal primary keys from two schemas (DESIGN §3). Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.auth.permissions import Principal
from ems.auth.sessions import TenantAccess, tenants_of
from ems.db import Database, utcnow
from ems.errors import Forbidden, Unauthenticated
from ems.overview.services import PlantHealth, plant_health
from ems.web.pipeline import current_principal, db
from ems.web.state import state
from ems_tenants.models import Tenant, TenantStatus


@dataclass(frozen=True)
class PlantOverview:
    """One tenant of the engineer, with its health."""

    slug: str
    name: str
    role: str
    status: str
    region_code: str
    health: PlantHealth | None  # None while the tenant is suspended


def require_provider_engineer(principal: Principal | None) -> Principal:
    """The principal, if it is a service provider's engineer."""
    if principal is None:
        raise Unauthenticated("authentication required")
    if principal.kind != "user" or principal.provider_org_id is None:
        raise Forbidden("service providers' engineers only")
    return principal


def tenant_health(database: Database, tenant: Tenant, now: datetime) -> PlantHealth:
    """``plant_health`` of one tenant, in a session of its own schema (read only)."""
    assert tenant.schema_name is not None  # noqa: S101 - callers pass provisioned tenants
    session = database.session(tenant.schema_name)
    try:
        return plant_health(session, tenant.id, now)
    finally:
        session.close()  # rolls back: nothing here writes


def provider_overview(
    control: Session, database: Database, memberships: Sequence[TenantAccess], now: datetime
) -> list[PlantOverview]:
    """The health of every tenant in ``memberships``, in their order."""
    slugs = [access.slug for access in memberships]
    rows = {t.slug: t for t in control.scalars(select(Tenant).where(Tenant.slug.in_(slugs)))}
    out = []
    for access in memberships:
        row = rows.get(access.slug)
        if row is None or row.schema_name is None:
            continue  # not provisioned: nothing to read yet
        out.append(
            PlantOverview(
                slug=row.slug,
                name=row.name,
                role=access.role,
                status=str(row.status),
                region_code=row.region_code,
                # A suspended tenant's data stays closed, as on its own pages (403):
                # the engineer sees that it is suspended, not its figures.
                health=tenant_health(database, row, now)
                if row.status == TenantStatus.ACTIVE
                else None,
            )
        )
    return out


def current_engineer_overview() -> list[PlantOverview]:
    """The overview of the request's provider engineer (403 for anyone else)."""
    principal = require_provider_engineer(current_principal())
    return provider_overview(db(), state().db, tenants_of(principal), utcnow())
