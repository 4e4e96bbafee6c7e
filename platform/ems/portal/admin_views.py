"""Platform administrators' pages: applications to approve, the tenant registry, and one
tenant's plan and usage."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, request
from sqlalchemy import case, func, select

from ems.auth.permissions import require_platform_admin
from ems.errors import EmsError, NotFound
from ems.portal.i18n import mark
from ems.portal.web import FieldErrors, load_form, page, see_other, service_errors
from ems.telemetry.models import Point
from ems.web.pipeline import current_principal, db
from ems.web.state import state
from ems_tenants import services
from ems_tenants.models import (
    Gateway,
    GatewayStatus,
    Membership,
    Plan,
    Tenant,
    TenantStatus,
    TenantUsage,
    User,
)
from ems_tenants.schemas import PlanChangeSchema

blp = Blueprint("admin_pages", __name__, url_prefix="/admin")
STATUSES = tuple(status.value for status in TenantStatus)


@blp.before_request
def _platform_admin_only() -> None:
    require_platform_admin(current_principal())


@blp.get("/tenants")
def tenants() -> Any:
    """The registry, applications waiting for approval first."""
    status = request.args.get("status", "")
    pending_first = case((Tenant.status == TenantStatus.PENDING, 0), else_=1)
    stmt = select(Tenant).order_by(pending_first, Tenant.created_at.desc())
    if status in STATUSES:
        stmt = stmt.where(Tenant.status == status)
    rows = list(db().scalars(stmt.limit(500)))
    admins = dict(
        db()
        .execute(
            select(Membership.tenant_id, User.email)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.role == "tenant_admin", Membership.tenant_id.in_([t.id for t in rows])
            )
        )
        .all()
    )
    return page(
        "portal/admin_tenants.html", tenants=rows, admins=admins, status=status, statuses=STATUSES
    )


@blp.post("/tenants/<slug>/<action>")
def transition(slug: str, action: str) -> Response:
    """Approve (provision the schema), reject, suspend or resume a tenant."""
    session = db()
    tenant = services.get_tenant(session, slug)
    if action == "approve":
        st = state()
        services.provision(session, st.db.engine, st.settings.migrations_dir, tenant)
    elif action in ("reject", "suspend", "resume"):
        getattr(services, action)(session, tenant)
    else:
        raise NotFound(f"no action {action!r}")
    return see_other("admin_pages.tenants")


def _points(tenant: Tenant) -> int | None:
    """Points configured in the tenant's own schema (None before it is provisioned)."""
    if tenant.schema_name is None:
        return None
    session = state().db.session(tenant.schema_name)  # one session per tenant schema
    try:
        return session.scalar(select(func.count()).select_from(Point)) or 0
    finally:
        session.close()


def _usage(tenant: Tenant) -> dict[str, Any]:
    """What the tenant uses of its plan's limits."""
    session = db()
    gateways = session.scalar(
        select(func.count())
        .select_from(Gateway)
        .where(Gateway.tenant_id == tenant.id, Gateway.status == GatewayStatus.ACTIVE)
    )
    measured = session.get(TenantUsage, tenant.id)
    return {
        "gateways": gateways or 0,
        "points": _points(tenant),
        "storage_bytes": measured.storage_bytes if measured else 0,
        "measured_at": measured.measured_at if measured else None,
        "members": session.scalar(
            select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant.id)
        ),
    }


def _detail(tenant: Tenant, errors: FieldErrors | None = None, plan: str = "") -> tuple[str, int]:
    plans = list(db().scalars(select(Plan).order_by(Plan.id)))
    admins = db().scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant.id, Membership.role == "tenant_admin")
        .order_by(User.email)
    )
    return page(
        "portal/admin_tenant.html",
        t=tenant,
        plans=plans,
        usage=_usage(tenant),
        admins=list(admins),
        errors=errors or {},
        values={"plan": plan or tenant.plan.code},
    )


@blp.get("/tenants/<slug>")
def tenant_detail(slug: str) -> Any:
    """One tenant: registry facts, its plan next to the others, and what it uses."""
    return _detail(services.get_tenant(db(), slug))


@blp.post("/tenants/<slug>/plan")
def change_plan(slug: str) -> Any:
    """Move a tenant to another plan."""
    tenant = services.get_tenant(db(), slug)
    data, errors = load_form(PlanChangeSchema())
    if not errors:
        try:
            services.change_plan(db(), tenant, data["plan"])
        except EmsError as error:
            # An unknown plan is named in the message; the select's own message is enough.
            errors = {"plan": [mark("Must be one of the choices.")]} if error.fields else {}
            errors = errors or service_errors(error)
        else:
            flash(mark("Plan changed."))
            return see_other("admin_pages.tenant_detail", slug=slug)
    return _detail(tenant, errors, request.form.get("plan", ""))
