"""Binding a request to its tenant.

Tenant routes live under ``/api/v1/tenants/<slug>/...``. The slug only names
which tenant the caller asks for; the tenant is looked up in the registry and
the caller's membership checked (``authorize``) before anything else runs. The
schema the request's session is bound to comes from the registry row, never
from the URL. A tenant the caller is not a member of answers 404, exactly like
one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_smorest import Blueprint
from sqlalchemy import select

from ems.auth.permissions import Permission, Principal, authorize
from ems.context import TenantRef
from ems.errors import NotFound, QuotaExceeded, TenantSuspended, Unauthenticated
from ems.web.pipeline import (
    BACKGROUND_HEADER,
    SAFE_METHODS,
    bind_tenant,
    current_principal,
    db,
)
from ems.web.ratelimit import rate_limit
from ems_tenants.models import Tenant, TenantStatus, TenantUsage

TENANT_PREFIX = "/api/v1/tenants/<slug>"

F = TypeVar("F", bound=Callable[..., Any])


def requires(permission: Permission) -> Callable[[F], F]:
    """Declare the permission a view method needs (default: read for GET, config:write else)."""

    def mark(view: F) -> F:
        view.ems_permission = permission  # type: ignore[attr-defined]
        return view

    return mark


def _permission_for_request() -> Permission:
    view = current_app.view_functions.get(request.endpoint or "")
    cls = getattr(view, "view_class", None)
    method = "get" if request.method == "HEAD" else request.method.lower()
    target = getattr(cls, method, None) if cls is not None else view
    declared = getattr(target, "ems_permission", None)
    if isinstance(declared, Permission):
        return declared
    return Permission.TENANT_READ if request.method in SAFE_METHODS else Permission.CONFIG_WRITE


def _over_storage(tenant: Tenant) -> bool:
    usage = db().get(TenantUsage, tenant.id)
    return usage is not None and usage.storage_bytes > tenant.plan.storage_bytes


def access_tenant(slug: str, permission: Permission) -> Tenant:
    """The tenant named by ``slug`` if the caller may do ``permission`` in it."""
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("authentication required")
    tenant = db().scalar(select(Tenant).where(Tenant.slug == slug))
    if (
        tenant is None
        or tenant.schema_name is None
        or tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)
    ):
        raise NotFound("tenant not found")
    authorize(principal, tenant.id, permission)
    if tenant.status == TenantStatus.SUSPENDED:
        raise TenantSuspended("this tenant is suspended; its data is kept")
    if permission is not Permission.TENANT_READ and _over_storage(tenant):
        raise QuotaExceeded("the plan's storage is used up; writes are refused until it is raised")
    rate_limit(*_budget(tenant, principal))
    return tenant


# What the portal's own pages poll (job progress, real-time panels) in a minute at most,
# per tenant: kept apart from the plan's API budget, so that two open job pages cannot
# starve the tenant's integrations, and a flood of polls still stops somewhere.
BACKGROUND_PER_MINUTE = 1200


def _budget(tenant: Tenant, principal: Principal) -> tuple[str, int]:
    if principal.kind == "user" and request.headers.get(BACKGROUND_HEADER):
        return f"tenant:{tenant.id}:background", BACKGROUND_PER_MINUTE
    return f"tenant:{tenant.id}", tenant.plan.api_requests_per_minute


def _pop_slug(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.tenant_slug = values.pop("slug", "") if values else ""


def _bind_from_url() -> None:
    tenant = access_tenant(g.tenant_slug, _permission_for_request())
    assert tenant.schema_name is not None  # noqa: S101 - checked in access_tenant
    g.tenant_row = tenant
    bind_tenant(TenantRef(id=tenant.id, slug=tenant.slug, schema_name=tenant.schema_name))


def bind_each_request(blp: Any) -> None:
    """Bind every request of ``blp`` (routes under ``<slug>``) to the tenant in its URL."""
    blp.url_value_preprocessor(_pop_slug)
    blp.before_request(_bind_from_url)


def tenant_blueprint(name: str, import_name: str, suffix: str = "", **kwargs: Any) -> Blueprint:
    """A flask-smorest blueprint whose every route is bound to the tenant in its URL."""
    blp = Blueprint(name, import_name, url_prefix=TENANT_PREFIX + suffix, **kwargs)
    bind_each_request(blp)
    return blp


def bound_tenant() -> TenantRef:
    """The tenant of the current request (only inside tenant routes)."""
    tenant: TenantRef = g.tenant
    return tenant


def bound_tenant_row() -> Tenant:
    """The registry row of the current request's tenant."""
    row: Tenant = g.tenant_row
    return row
