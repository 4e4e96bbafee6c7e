"""Tenant life cycle: create, sign up, approve and provision, suspend, resume.

Services take a session and never commit: the request, the CLI command or the
actor that calls them is the transaction boundary. Export and deletion live in
``archive.py``; users and memberships in ``members.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ems.db import utcnow
from ems.errors import Conflict, InvalidInput, NotFound
from ems.migrate import upgrade_tenant
from ems_tenants import validation
from ems_tenants.models import AdminDivision, Plan, Tenant, TenantStatus


@dataclass(frozen=True)
class TenantDraft:
    """What a tenant is created from (API, CLI, signup)."""

    slug: str
    name: str
    credit_code: str
    region_code: str
    industry_code: str
    timezone: str = "Asia/Shanghai"
    plan: str = "trial"
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None


def get_plan(session: Session, code: str) -> Plan:
    """The plan with ``code``; ``InvalidInput`` naming the field when unknown."""
    plan = session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        raise InvalidInput(f"unknown plan {code!r}", fields={"plan": [f"no plan {code!r}"]})
    return plan


def _check_region(session: Session, code: str) -> str:
    code = validation.region_code(code)
    province = code[:2] + "0000"
    known = session.scalar(
        select(AdminDivision.code).where(AdminDivision.code == province).limit(1)
    )
    if known is None:
        raise InvalidInput(
            "administrative division code names no province",
            fields={"region_code": [f"{code[:2]} is not a GB/T 2260 province code"]},
        )
    return code


def create_tenant(
    session: Session, draft: TenantDraft, status: TenantStatus = TenantStatus.PENDING
) -> Tenant:
    """Register a tenant (not yet provisioned); validates every identifier."""
    tenant = Tenant(
        slug=validation.slug(draft.slug),
        name=draft.name.strip(),
        credit_code=validation.credit_code(draft.credit_code),
        region_code=_check_region(session, draft.region_code),
        industry_code=validation.industry_code(draft.industry_code),
        timezone=validation.timezone(draft.timezone),
        plan=get_plan(session, draft.plan),
        status=status,
        contact_name=draft.contact_name,
        contact_phone=draft.contact_phone,
        contact_email=draft.contact_email,
    )
    if not tenant.name:
        raise InvalidInput("name is empty", fields={"name": ["must not be empty"]})
    _ensure_unique(session, tenant)
    session.add(tenant)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict("a tenant with this slug or credit code exists") from exc
    return tenant


def _ensure_unique(session: Session, tenant: Tenant) -> None:
    if session.scalar(select(Tenant.id).where(Tenant.slug == tenant.slug)) is not None:
        raise Conflict("slug is taken", fields={"slug": ["already in use"]})
    live = session.scalar(
        select(Tenant.id).where(
            Tenant.credit_code == tenant.credit_code, Tenant.status != TenantStatus.DELETED
        )
    )
    if live is not None:
        raise Conflict(
            "an enterprise with this credit code is subscribed",
            fields={"credit_code": ["already subscribed"]},
        )


def get_tenant(session: Session, slug: str) -> Tenant:
    """A tenant by slug, for platform administration (any status)."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


def provision(session: Session, engine: Engine, migrations_dir: Path, tenant: Tenant) -> None:
    """Create the tenant's schema and run the tenant migrations; mark it active.

    Safe to run twice: the schema is created if missing and Alembic upgrades
    only what is behind. The migrations run in their own transaction, so a
    provisioned schema exists even if the caller's transaction then fails; the
    next attempt finds it and carries on.
    """
    if tenant.status not in (TenantStatus.PENDING, TenantStatus.ACTIVE):
        raise Conflict(f"a {tenant.status} tenant cannot be provisioned")
    schema = tenant.schema_name or validation.schema_name_for(tenant.slug)
    upgrade_tenant(engine, migrations_dir, schema)
    tenant.schema_name = schema
    tenant.status = TenantStatus.ACTIVE
    tenant.approved_at = tenant.approved_at or utcnow()


def reject(session: Session, tenant: Tenant) -> None:
    """Refuse a pending signup."""
    if tenant.status != TenantStatus.PENDING:
        raise Conflict(f"only a pending tenant can be rejected; this one is {tenant.status}")
    tenant.status = TenantStatus.REJECTED


def suspend(session: Session, tenant: Tenant) -> None:
    """Suspend an active tenant: its API answers 403, its data stays."""
    if tenant.status != TenantStatus.ACTIVE:
        raise Conflict(f"only an active tenant can be suspended; this one is {tenant.status}")
    tenant.status = TenantStatus.SUSPENDED
    tenant.suspended_at = utcnow()


def resume(session: Session, tenant: Tenant) -> None:
    """Lift a suspension."""
    if tenant.status != TenantStatus.SUSPENDED:
        raise Conflict(f"only a suspended tenant can be resumed; this one is {tenant.status}")
    tenant.status = TenantStatus.ACTIVE
    tenant.suspended_at = None


def change_plan(session: Session, tenant: Tenant, plan_code: str) -> None:
    """Move a tenant to another plan."""
    tenant.plan = get_plan(session, plan_code)


def live_schemas(session: Session) -> list[str]:
    """Every provisioned, not deleted tenant schema (what ``ems db upgrade`` walks)."""
    return list(
        session.scalars(
            select(Tenant.schema_name)
            .where(Tenant.schema_name.is_not(None), Tenant.status != TenantStatus.DELETED)
            .order_by(Tenant.id)
        )
    )
