"""Demo data for the one-machine run: idempotent, so the run command can repeat it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.config import Settings
from ems.db import Database
from ems_tenants import members, services
from ems_tenants.models import Membership, Tenant, User

ADMIN_EMAIL = "admin@demo.ems.local"
MANAGER_EMAIL = "manager@demo.ems.local"
DEMO_SLUG = "demo-steel"


def seed(session: Session, db: Database, settings: Settings, password: str) -> list[str]:
    """Create what is missing of the demo; returns lines to print."""
    if session.scalar(select(User).where(User.email == ADMIN_EMAIL)) is None:
        members.create_user(
            session, email=ADMIN_EMAIL, name="平台管理员", password=password, is_platform_admin=True
        )
    tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
    if tenant is None:
        tenant = services.create_tenant(
            session,
            services.TenantDraft(
                slug=DEMO_SLUG,
                name="云南示范钢铁有限公司",
                credit_code="91530100MA6K1X2Y3W",
                region_code="530100",
                industry_code="C3110",
                plan="standard",
            ),
        )
    services.provision(session, db.engine, settings.migrations_dir, tenant)
    manager = session.scalar(select(User).where(User.email == MANAGER_EMAIL))
    if manager is None:
        manager = members.create_user(
            session, email=MANAGER_EMAIL, name="能源管理员", password=password
        )
    has_membership = session.scalar(
        select(Membership.id).where(
            Membership.user_id == manager.id, Membership.tenant_id == tenant.id
        )
    )
    if has_membership is None:
        members.add_member(session, tenant, MANAGER_EMAIL, "energy_manager")
    return [
        f"platform admin: {ADMIN_EMAIL} / {password}",
        f"energy manager: {MANAGER_EMAIL} / {password} (tenant {DEMO_SLUG})",
    ]
