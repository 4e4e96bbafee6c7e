"""Platform administrators' pages: applications to approve, the tenant registry."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import case, select

from ems.auth.permissions import require_platform_admin
from ems.portal.web import page, see_other
from ems.web.pipeline import current_principal, db
from ems.web.state import state
from ems_tenants import services
from ems_tenants.models import Membership, Tenant, TenantStatus, User

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
        from ems.errors import NotFound

        raise NotFound(f"no action {action!r}")
    return see_other("admin_pages.tenants")
