"""Portal sessions: checking a password and starting a session, for the API and the pages."""

from __future__ import annotations

import time
from typing import NamedTuple

from flask import g, request, session
from sqlalchemy import select

from ems.auth.passwords import DUMMY_HASH, verify_password
from ems.auth.permissions import Principal
from ems.auth.principals import user_principal
from ems.db import utcnow
from ems.errors import Unauthenticated
from ems.web.pipeline import db, new_csrf_token
from ems.web.ratelimit import rate_limit
from ems_tenants.models import Membership, Tenant, TenantStatus, User

FAILED_LOGINS_PER_MINUTE = 10


class TenantAccess(NamedTuple):
    """A tenant the user may open, and the role held there."""

    slug: str
    name: str
    role: str
    status: str


def log_in(email: str, password: str) -> User:
    """Check the credentials and start a fresh session; ``Unauthenticated`` when wrong."""
    email = email.strip().lower()
    # Only failures count: a brute-force guard that never locks out a correct login.
    attempts = f"login-failures:{request.remote_addr}:{email}"
    rate_limit(attempts, FAILED_LOGINS_PER_MINUTE, count_this=False)
    user = db().scalar(select(User).where(User.email == email))
    valid = verify_password(user.password_hash if user else DUMMY_HASH, password)
    if user is None or not valid or not user.is_active:
        rate_limit(attempts, FAILED_LOGINS_PER_MINUTE + 1)
        raise Unauthenticated("wrong e-mail or password")
    user.last_login_at = utcnow()
    session.clear()  # a fresh session on login: no fixation
    session.permanent = True
    session["uid"] = user.id
    session["auth_at"] = session["seen_at"] = time.time()
    new_csrf_token()
    # This request authenticated by password; the CSRF check is for later writes.
    g.principal = user_principal(db(), user.id)
    return user


def tenants_of(principal: Principal) -> list[TenantAccess]:
    """The live tenants a user may open, by name, with the role held (the tenant switcher)."""
    if principal.kind != "user":
        return []
    rows = db().execute(
        select(Tenant.slug, Tenant.name, Tenant.status, Membership.role)
        .join(Membership, Membership.tenant_id == Tenant.id)
        .where(
            Membership.user_id == int(principal.id),
            Tenant.status.in_((TenantStatus.ACTIVE, TenantStatus.SUSPENDED)),
        )
        .order_by(Tenant.name)
    )
    return [TenantAccess(slug, name, role, status) for slug, name, status, role in rows]
