"""Tenant-scoped control-plane routes: the tenant's profile, members, API
clients, plan usage and audit log."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from ems.audit.models import AuditEntry
from ems.auth.permissions import Permission
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant, bound_tenant_row, requires, tenant_blueprint
from ems_tenants import members
from ems_tenants.models import Membership, OAuthClient, Tenant, TenantUsage
from ems_tenants.schemas import (
    ClientInputSchema,
    ClientSchema,
    IssuedClientSchema,
    MemberInputSchema,
    MemberSchema,
    MemberUpdateSchema,
    TenantSchema,
    UsageSchema,
)

blp = tenant_blueprint("tenant", __name__, description="The tenant, its members and clients")


@blp.route("")
@blp.response(200, TenantSchema)
def tenant_profile() -> Tenant:
    """Show the tenant's registry entry."""
    tenant = db().get(Tenant, bound_tenant().id)
    assert tenant is not None  # noqa: S101 - bound from the registry this request
    return tenant


@blp.route("/usage")
@blp.response(200, UsageSchema)
def tenant_usage() -> dict[str, Any]:
    """Show the tenant's plan limits and measured use."""
    tenant = bound_tenant_row()
    usage = db().get(TenantUsage, tenant.id)
    return {
        "plan": tenant.plan,
        "storage_bytes": usage.storage_bytes if usage else 0,
        "measured_at": usage.measured_at if usage else None,
    }


@blp.route("/members")
class Members(MethodView):
    """Who may use the tenant, in which role."""

    @blp.response(200, MemberSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[Membership]:
        """List the tenant's members."""
        stmt = members.list_members(db(), bound_tenant().id)
        return paginate(db(), stmt, pagination_parameters)

    @requires(Permission.MEMBERS_MANAGE)
    @blp.arguments(MemberInputSchema)
    @blp.response(201, MemberSchema)
    def post(self, data: dict[str, str]) -> Membership:
        """Give an existing user a role in the tenant."""
        return members.add_member(db(), bound_tenant_row(), data["email"], data["role"])


@blp.route("/members/<int:membership_id>")
class MemberById(MethodView):
    """One membership."""

    @blp.etag
    @blp.response(200, MemberSchema)
    def get(self, membership_id: int) -> Membership:
        """Show a membership."""
        return members.access_membership(db(), bound_tenant().id, membership_id)

    @requires(Permission.MEMBERS_MANAGE)
    @blp.etag
    @blp.arguments(MemberUpdateSchema)
    @blp.response(200, MemberSchema)
    def put(self, data: dict[str, str], membership_id: int) -> Membership:
        """Change a member's role (send the ETag in If-Match)."""
        membership = members.access_membership(db(), bound_tenant().id, membership_id)
        blp.check_etag(membership, MemberSchema)
        members.change_role(db(), membership, data["role"])
        return membership

    @requires(Permission.MEMBERS_MANAGE)
    @blp.response(204)
    def delete(self, membership_id: int) -> None:
        """Remove a member from the tenant."""
        membership = members.access_membership(db(), bound_tenant().id, membership_id)
        members.remove_member(db(), membership)


@blp.route("/api-clients")
class Clients(MethodView):
    """Integrations using the client-credentials grant."""

    @requires(Permission.CLIENTS_MANAGE)
    @blp.response(200, ClientSchema(many=True))
    def get(self) -> list[OAuthClient]:
        """List the tenant's live API clients."""
        return members.live_clients(db(), bound_tenant().id)

    @requires(Permission.CLIENTS_MANAGE)
    @blp.arguments(ClientInputSchema)
    @blp.response(201, IssuedClientSchema)
    def post(self, data: dict[str, Any]) -> SimpleNamespace:
        """Register an API client; its secret is shown only in this answer."""
        issued = members.create_client(db(), bound_tenant_row(), data["name"], data["scopes"])
        client = issued.client
        return SimpleNamespace(
            client_id=client.client_id,
            name=client.name,
            scopes=client.scopes,
            created_at=client.created_at,
            client_secret=issued.secret,
        )


@blp.route("/api-clients/<client_id>")
class ClientById(MethodView):
    """One API client."""

    @requires(Permission.CLIENTS_MANAGE)
    @blp.response(200, ClientSchema)
    def get(self, client_id: str) -> OAuthClient:
        """Show an API client."""
        return members.access_client(db(), bound_tenant().id, client_id)

    @requires(Permission.CLIENTS_MANAGE)
    @blp.response(204)
    def delete(self, client_id: str) -> None:
        """Revoke an API client; its tokens stop working at once."""
        members.revoke_client(db(), members.access_client(db(), bound_tenant().id, client_id))


class AuditEntrySchema(ma.Schema):
    """One audited write."""

    id = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    actor_kind = ma.fields.String()
    actor_id = ma.fields.String()
    actor_name = ma.fields.String()
    action = ma.fields.String()
    object_type = ma.fields.String()
    object_id = ma.fields.String()
    before = ma.fields.Dict(allow_none=True)
    after = ma.fields.Dict(allow_none=True)
    request_id = ma.fields.String(allow_none=True)


@blp.route("/audit")
@requires(Permission.AUDIT_READ)
@blp.response(200, AuditEntrySchema(many=True))
@blp.paginate()
def audit_log(pagination_parameters: Any) -> list[AuditEntry]:
    """List the tenant's audit log, newest first."""
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == bound_tenant().id)
    return paginate(db(), stmt.order_by(AuditEntry.id.desc()), pagination_parameters)
