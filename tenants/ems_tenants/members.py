"""Users, memberships, service-provider organisations and OAuth clients."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ems.auth.passwords import MIN_LENGTH, hash_password
from ems.auth.permissions import CLIENT_SCOPES
from ems.db import utcnow
from ems.errors import Conflict, InvalidInput, NotFound
from ems_tenants import validation
from ems_tenants.models import Membership, OAuthClient, ProviderOrganisation, Role, Tenant, User
from ems_tenants.services import TenantDraft, create_tenant


def _password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            "password too short", fields={"password": [f"at least {MIN_LENGTH} characters"]}
        )
    return hash_password(password)


def normalise_email(email: str) -> str:
    """Lower-cased, stripped; ``InvalidInput`` when it cannot be an address."""
    value = email.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@") or len(value) > 254:
        raise InvalidInput("not an e-mail address", fields={"email": ["not an e-mail address"]})
    return value


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    is_platform_admin: bool = False,
    regulator_region: str | None = None,
    provider_org_id: int | None = None,
) -> User:
    """Create a portal user (does not commit)."""
    email = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("a user with this e-mail exists", fields={"email": ["already registered"]})
    if regulator_region is not None:
        validation.region_code(regulator_region, field="regulator_region")
    if provider_org_id is not None and session.get(ProviderOrganisation, provider_org_id) is None:
        raise InvalidInput("unknown provider", fields={"provider_org_id": ["no such provider"]})
    user = User(
        email=email,
        name=name.strip() or email,
        password_hash=_password(password),
        is_platform_admin=is_platform_admin,
        regulator_region=regulator_region,
        provider_org_id=provider_org_id,
    )
    session.add(user)
    session.flush()
    return user


def create_provider(session: Session, name: str, credit_code: str | None) -> ProviderOrganisation:
    """Register a service-provider organisation."""
    if session.scalar(select(ProviderOrganisation.id).where(ProviderOrganisation.name == name)):
        raise Conflict("a provider with this name exists", fields={"name": ["already registered"]})
    org = ProviderOrganisation(
        name=name, credit_code=validation.credit_code(credit_code) if credit_code else None
    )
    session.add(org)
    session.flush()
    return org


def _check_provider_role(user: User, role: str) -> None:
    if role == Role.PROVIDER_ENGINEER and user.provider_org_id is None:
        raise InvalidInput(
            "only a service provider's engineer can hold that role",
            fields={"role": ["the user belongs to no provider organisation"]},
        )


def add_member(session: Session, tenant: Tenant, email: str, role: str) -> Membership:
    """Give an existing user a role in ``tenant``."""
    if role not in Role.__members__.values():
        raise InvalidInput("unknown role", fields={"role": [f"one of {', '.join(Role)}"]})
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise InvalidInput("no user with this e-mail", fields={"email": ["no such user"]})
    _check_provider_role(user, role)
    existing = session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.tenant_id == tenant.id)
    )
    if existing is not None:
        raise Conflict("the user is already a member", fields={"email": ["already a member"]})
    membership = Membership(user=user, tenant_id=tenant.id, role=role)
    session.add(membership)
    session.flush()
    return membership


def access_membership(session: Session, tenant_id: int, membership_id: int) -> Membership:
    """A membership of ``tenant_id``; the same 404 for missing and for another tenant's."""
    membership = session.get(Membership, membership_id)
    if membership is None or membership.tenant_id != tenant_id:
        raise NotFound("membership not found")
    return membership


def list_members(session: Session, tenant_id: int) -> Select[Any]:
    """The tenant's memberships, oldest first (the API pages it, the portal shows it)."""
    return select(Membership).where(Membership.tenant_id == tenant_id).order_by(Membership.id)


def _keep_an_administrator(session: Session, membership: Membership) -> None:
    # Without a tenant administrator nobody could manage members again but the platform.
    if membership.role != Role.TENANT_ADMIN:
        return
    # Two administrators demoting each other at once must not both see the other one:
    # the tenant's row is locked until the transaction ends, so the counts are in turn.
    session.execute(select(Tenant.id).where(Tenant.id == membership.tenant_id).with_for_update())
    others = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.tenant_id == membership.tenant_id,
            Membership.role == Role.TENANT_ADMIN,
            Membership.id != membership.id,
        )
    )
    if not others:
        raise Conflict(
            "the tenant's last administrator cannot be removed or given another role",
            fields={"role": ["the last tenant administrator"]},
        )


def change_role(session: Session, membership: Membership, role: str) -> None:
    """Change a member's role (the last tenant administrator keeps theirs)."""
    if role not in Role.__members__.values():
        raise InvalidInput("unknown role", fields={"role": [f"one of {', '.join(Role)}"]})
    if role != membership.role:
        _check_provider_role(membership.user, role)
        _keep_an_administrator(session, membership)
    membership.role = role


def remove_member(session: Session, membership: Membership) -> None:
    """Take a user's role in the tenant away (never the last tenant administrator's)."""
    _keep_an_administrator(session, membership)
    session.delete(membership)
    session.flush()


@dataclass(frozen=True)
class IssuedClient:
    """A new client and its secret, shown once."""

    client: OAuthClient
    secret: str


def create_client(session: Session, tenant: Tenant, name: str, scopes: list[str]) -> IssuedClient:
    """Register an integration of ``tenant`` with the client-credentials grant."""
    unknown = sorted(set(scopes) - set(CLIENT_SCOPES))
    if unknown or not scopes:
        raise InvalidInput(
            "unknown scope", fields={"scopes": [f"allowed: {', '.join(CLIENT_SCOPES)}"]}
        )
    secret = secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id="ems_" + secrets.token_hex(12),
        secret_hash=hash_password(secret),
        tenant_id=tenant.id,
        name=name,
        scopes=" ".join(sorted(set(scopes))),
    )
    session.add(client)
    session.flush()
    return IssuedClient(client, secret)


def live_clients(session: Session, tenant_id: int) -> list[OAuthClient]:
    """The tenant's API clients that are not revoked, oldest first."""
    stmt = select(OAuthClient).where(
        OAuthClient.tenant_id == tenant_id, OAuthClient.revoked_at.is_(None)
    )
    return list(session.scalars(stmt.order_by(OAuthClient.id)))


def access_client(session: Session, tenant_id: int, client_id: str) -> OAuthClient:
    """A live client of ``tenant_id``; the same 404 for missing and for another tenant's."""
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or client.tenant_id != tenant_id or client.revoked_at is not None:
        raise NotFound("client not found")
    return client


def revoke_client(session: Session, client: OAuthClient) -> None:
    """Revoke a client: its tokens stop working on the next request."""
    client.revoked_at = utcnow()


def sign_up(
    session: Session, draft: TenantDraft, *, email: str, name: str, password: str
) -> Tenant:
    """An application: a pending tenant and its future administrator (who logs in once approved)."""
    tenant = create_tenant(session, draft)
    user = create_user(session, email=email, name=name, password=password)
    session.add(Membership(user=user, tenant_id=tenant.id, role="tenant_admin"))
    return tenant
