"""Control-plane API: self-service signup and platform administration."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from ems.auth.permissions import require_platform_admin
from ems.web.pagination import paginate
from ems.web.pipeline import current_principal, db
from ems.web.ratelimit import rate_limit
from ems.web.state import state
from ems_tenants import archive, members, services
from ems_tenants.models import (
    Plan,
    ProviderOrganisation,
    Tenant,
    TenantExport,
    TenantStatus,
    User,
)
from ems_tenants.schemas import (
    DeleteSchema,
    ExportSchema,
    PlanChangeSchema,
    PlanSchema,
    ProviderInputSchema,
    ProviderSchema,
    SignupResultSchema,
    SignupSchema,
    TenantInputSchema,
    TenantQuerySchema,
    TenantSchema,
    UserInputSchema,
    UserSchema,
)

signup_blp = Blueprint(
    "signup", __name__, url_prefix="/api/v1/signup", description="Self-service subscription"
)
admin_blp = Blueprint(
    "admin", __name__, url_prefix="/api/v1/admin", description="Platform administration"
)


@admin_blp.before_request
def _platform_admin_only() -> None:
    require_platform_admin(current_principal())


@signup_blp.route("")
class Signup(MethodView):
    """Apply for a subscription."""

    @signup_blp.arguments(SignupSchema)
    @signup_blp.response(202, SignupResultSchema)
    def post(self, data: dict[str, Any]) -> dict[str, str]:
        """Apply for a subscription; a platform administrator approves it."""
        rate_limit(f"signup:{request.remote_addr}", state().settings.signups_per_minute)
        admin = data["admin"]
        tenant = members.sign_up(
            db(),
            services.TenantDraft(**data["tenant"]),
            email=admin["email"],
            name=admin["name"],
            password=admin["password"],
        )
        return {
            "slug": tenant.slug,
            "status": tenant.status,
            "message": "application received; you can log in once it is approved",
        }


@admin_blp.route("/tenants")
class Tenants(MethodView):
    """The tenant registry."""

    @admin_blp.arguments(TenantQuerySchema, location="query")
    @admin_blp.response(200, TenantSchema(many=True))
    @admin_blp.paginate()
    def get(self, filters: dict[str, str], pagination_parameters: Any) -> list[Tenant]:
        """List tenants."""
        stmt = select(Tenant).order_by(Tenant.id)
        if "status" in filters:
            stmt = stmt.where(Tenant.status == filters["status"])
        if "region_code" in filters:
            stmt = stmt.where(Tenant.region_code == filters["region_code"])
        return paginate(db(), stmt, pagination_parameters)

    @admin_blp.arguments(TenantInputSchema)
    @admin_blp.response(201, TenantSchema)
    def post(self, data: dict[str, Any]) -> Tenant:
        """Create and provision a tenant."""
        session = db()
        tenant = services.create_tenant(session, services.TenantDraft(**data))
        st = state()
        services.provision(session, st.db.engine, st.settings.migrations_dir, tenant)
        return tenant


@admin_blp.route("/tenants/<slug>")
class TenantBySlug(MethodView):
    """One tenant."""

    @admin_blp.response(200, TenantSchema)
    def get(self, slug: str) -> Tenant:
        """Show a tenant."""
        return services.get_tenant(db(), slug)

    @admin_blp.arguments(DeleteSchema, location="query")
    @admin_blp.response(204)
    def delete(self, args: dict[str, str], slug: str) -> None:
        """Delete a suspended, exported tenant for good (confirm with its slug)."""
        session = db()
        tenant = services.get_tenant(session, slug)
        archive.delete_tenant(session, state().db.engine, tenant, args["confirm"])


def _transition(name: str, summary: str) -> None:
    def view(slug: str) -> Tenant:
        session = db()
        tenant = services.get_tenant(session, slug)
        if name == "approve":
            st = state()
            services.provision(session, st.db.engine, st.settings.migrations_dir, tenant)
        else:
            getattr(services, name)(session, tenant)
        return tenant

    view.__name__ = f"tenant_{name}"
    view.__doc__ = summary
    decorated = admin_blp.response(200, TenantSchema)(view)
    admin_blp.route(f"/tenants/<slug>/{name}", methods=["POST"])(decorated)


_transition("approve", "Approve a pending signup: provision its schema and activate it.")
_transition("reject", "Reject a pending signup.")
_transition("suspend", "Suspend a tenant: its API answers 403, its data stays.")
_transition("resume", "Resume a suspended tenant.")


@admin_blp.route("/tenants/<slug>/plan", methods=["PUT"])
@admin_blp.arguments(PlanChangeSchema)
@admin_blp.response(200, TenantSchema)
def change_plan(data: dict[str, str], slug: str) -> Tenant:
    """Move a tenant to another plan."""
    session = db()
    tenant = services.get_tenant(session, slug)
    services.change_plan(session, tenant, data["plan"])
    return tenant


@admin_blp.route("/tenants/<slug>/exports")
class Exports(MethodView):
    """Archives of a tenant's data."""

    @admin_blp.response(200, ExportSchema(many=True))
    def get(self, slug: str) -> list[TenantExport]:
        """List a tenant's exports."""
        session = db()
        tenant = services.get_tenant(session, slug)
        stmt = select(TenantExport).where(TenantExport.tenant_id == tenant.id)
        return list(session.scalars(stmt.order_by(TenantExport.id)))

    @admin_blp.response(201, ExportSchema)
    def post(self, slug: str) -> TenantExport:
        """Export a tenant's data to an archive."""
        session = db()
        tenant = services.get_tenant(session, slug)
        st = state()
        return archive.export_tenant(
            session, st.db.engine, tenant, st.settings.data_dir / "exports"
        ).export


@admin_blp.route("/plans")
@admin_blp.response(200, PlanSchema(many=True))
def list_plans() -> list[Plan]:
    """List plans and their limits."""
    return list(db().scalars(select(Plan).order_by(Plan.id)))


@admin_blp.route("/users")
class Users(MethodView):
    """Portal users."""

    @admin_blp.response(200, UserSchema(many=True))
    @admin_blp.paginate()
    def get(self, pagination_parameters: Any) -> list[User]:
        """List users."""
        return paginate(db(), select(User).order_by(User.id), pagination_parameters)

    @admin_blp.arguments(UserInputSchema)
    @admin_blp.response(201, UserSchema)
    def post(self, data: dict[str, Any]) -> User:
        """Create a user (platform admin, regulator, provider engineer or enterprise staff)."""
        return members.create_user(db(), **data)


@admin_blp.route("/providers")
class Providers(MethodView):
    """Service-provider organisations."""

    @admin_blp.response(200, ProviderSchema(many=True))
    def get(self) -> list[ProviderOrganisation]:
        """List provider organisations."""
        return list(db().scalars(select(ProviderOrganisation).order_by(ProviderOrganisation.id)))

    @admin_blp.arguments(ProviderInputSchema)
    @admin_blp.response(201, ProviderSchema)
    def post(self, data: dict[str, Any]) -> ProviderOrganisation:
        """Register a provider organisation."""
        return members.create_provider(db(), data["name"], data.get("credit_code"))


__all__ = ["TenantStatus", "admin_blp", "signup_blp"]
