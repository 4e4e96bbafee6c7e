"""Roles, scopes and the permissions they grant: the one place access is decided.

Every tenant route names (or defaults to) one permission; :func:`authorize`
answers for every role and every kind of principal. A principal with no
membership in the tenant gets ``NotFound``, exactly as for a tenant that does
not exist, so tenants cannot be discovered by probing slugs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from ems.context import Actor
from ems.errors import Forbidden, NotFound, Unauthenticated


class Permission(enum.StrEnum):
    """What a principal may do inside one tenant."""

    TENANT_READ = "tenant:read"
    DATA_WRITE = "data:write"  # manual readings, alarm handling: operators' work
    CONFIG_WRITE = "config:write"  # sites, ledgers, points: energy managers' work
    MEMBERS_MANAGE = "members:manage"
    CLIENTS_MANAGE = "clients:manage"
    AUDIT_READ = "audit:read"


_ALL = frozenset(Permission)
_READ = frozenset({Permission.TENANT_READ})

ROLE_PERMISSIONS: Mapping[str, frozenset[Permission]] = {
    "tenant_admin": _ALL,
    "energy_manager": _READ
    | {Permission.DATA_WRITE, Permission.CONFIG_WRITE, Permission.AUDIT_READ},
    "operator": _READ | {Permission.DATA_WRITE},
    "viewer": _READ,
    "provider_engineer": _READ
    | {Permission.DATA_WRITE, Permission.CONFIG_WRITE, Permission.AUDIT_READ},
}

# Scopes an integration (API client, role "api_client") may be granted; each is one permission.
CLIENT_SCOPES: Mapping[str, Permission] = {
    "tenant:read": Permission.TENANT_READ,
    "data:write": Permission.DATA_WRITE,
    "config:write": Permission.CONFIG_WRITE,
}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a portal user or an OAuth client."""

    kind: str  # "user" | "client"
    id: str
    name: str
    is_platform_admin: bool = False
    regulator_region: str | None = None
    provider_org_id: int | None = None
    roles: Mapping[int, str] = field(default_factory=dict)  # tenant id -> role
    scopes: frozenset[str] = frozenset()

    @property
    def actor(self) -> Actor:
        """The audit log's view of this principal."""
        return Actor(kind=self.kind, id=self.id, name=self.name)

    def permissions_in(self, tenant_id: int) -> frozenset[Permission]:
        """What this principal may do in ``tenant_id`` (empty when not a member)."""
        role = self.roles.get(tenant_id)
        if role is None:
            return frozenset()
        if role == "api_client":
            return frozenset(CLIENT_SCOPES[s] for s in self.scopes if s in CLIENT_SCOPES)
        return ROLE_PERMISSIONS.get(role, frozenset())


def authorize(principal: Principal | None, tenant_id: int, permission: Permission) -> None:
    """Allow or refuse ``permission`` in a tenant; raises the error to answer with."""
    if principal is None:
        raise Unauthenticated("authentication required")
    granted = principal.permissions_in(tenant_id)
    if not granted:
        raise NotFound("tenant not found")
    if permission not in granted:
        raise Forbidden(f"your role does not allow {permission.value}")


def require_platform_admin(principal: Principal | None) -> Principal:
    """The principal, if it is a platform administrator."""
    if principal is None:
        raise Unauthenticated("authentication required")
    if not principal.is_platform_admin:
        raise Forbidden("platform administrators only")
    return principal


def require_regulator(principal: Principal | None) -> str:
    """The region code a regulator is scoped to."""
    if principal is None:
        raise Unauthenticated("authentication required")
    if principal.regulator_region is None:
        raise Forbidden("regulators only")
    return principal.regulator_region
