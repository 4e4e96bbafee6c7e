"""Turning request credentials into a :class:`Principal`.

Two kinds of credentials: the portal's session cookie (a user) and a bearer JWT
from the token endpoint (an integration). Both are checked against the registry
on every request, so a deactivated user or a revoked client loses access at
once, not when a token expires.
"""

from __future__ import annotations

from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.auth.permissions import Principal
from ems.auth.tokens import verify_access_token
from ems.errors import Unauthenticated
from ems_tenants.models import Membership, OAuthClient, Tenant, TenantStatus, User

_LIVE = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)


def user_principal(session: Session, user_id: int) -> Principal | None:
    """The principal of an active user, or None if the user is gone or disabled."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    rows = session.execute(
        select(Membership.tenant_id, Membership.role)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user.id, Tenant.status.in_(_LIVE))
    ).all()
    return Principal(
        kind="user",
        id=str(user.id),
        name=user.email,
        is_platform_admin=user.is_platform_admin,
        regulator_region=user.regulator_region,
        provider_org_id=user.provider_org_id,
        roles=dict(rows),
    )


def client_principal(
    session: Session, token: str, keys: KeySet, *, issuer: str, audience: str
) -> Principal:
    """The principal of a valid bearer token; ``Unauthenticated`` otherwise."""
    claims = verify_access_token(token, keys, issuer=issuer, audience=audience)
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == claims["client_id"]))
    if client is None or client.revoked_at is not None:
        raise Unauthenticated("access token rejected: client revoked")
    granted = set(str(claims.get("scope") or "").split()) & set(client.scopes.split())
    return Principal(
        kind="client",
        id=client.client_id,
        name=client.name,
        roles={client.tenant_id: "api_client"},
        scopes=frozenset(granted),
    )
