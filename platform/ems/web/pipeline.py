"""The request pipeline: request ids, the request's database session,
authentication, CSRF, and the commit at the request boundary.

Services never commit. A request whose answer is a success commits its session
after the view returns; any error answer rolls it back, so a refused request
leaves nothing half-written.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
import uuid

from flask import Flask, Response, g, request, session
from sqlalchemy.orm import Session

from ems.auth.permissions import Principal
from ems.auth.principals import client_principal, user_principal
from ems.context import TenantRef, current_actor, current_request_id, current_tenant
from ems.errors import Forbidden, NotFound, Unauthenticated
from ems.web import metrics
from ems.web.state import state

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
BACKGROUND_HEADER = "X-EMS-Background"
IDLE_RESOLUTION = 30  # seconds between refreshes of the idle clock
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def db() -> Session:
    """The request's session; bound to the request's tenant once one is bound."""
    if "db" not in g:
        tenant: TenantRef | None = g.get("tenant")
        g.db = state().db.session(tenant.schema_name if tenant else None)
    return g.db  # type: ignore[no-any-return]


def bind_tenant(tenant: TenantRef) -> None:
    """Bind the request to ``tenant`` (from the registry, after authorization)."""
    if "db" in g:
        # A session opened before binding would be bound to no tenant.
        g.pop("db").close()
    g.tenant = tenant
    g.tenant_token = current_tenant.set(tenant)


def _authenticate() -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer <access token>'")
        st = state()
        return client_principal(
            db(),
            token.strip(),
            st.keys.public_keys(),
            issuer=st.settings.issuer,
            audience=st.settings.audience,
        )
    user_id = session.get("uid")
    if not isinstance(user_id, int):
        return None
    now = time.time()
    settings = state().settings
    seen = float(session.get("seen_at", session.get("auth_at", 0)))
    if now - float(session.get("auth_at", 0)) > settings.session_ttl or (
        now - seen > settings.session_idle
    ):
        session.clear()
        g.session_expired = True
        return None
    if now - seen > IDLE_RESOLUTION and not request.headers.get(BACKGROUND_HEADER):
        # A page's own polling (X-EMS-Background) is not the user being there.
        session["seen_at"] = now  # not on every request: each change re-sends the cookie
    principal = user_principal(db(), user_id)
    if principal is None:
        session.clear()
        return None
    if request.method not in SAFE_METHODS:
        _check_csrf()
    return principal


def current_principal() -> Principal | None:
    """Who is calling (None for an anonymous request); computed once per request."""
    if "principal" not in g:
        g.principal = _authenticate()
        if g.principal is not None:
            g.actor_token = current_actor.set(g.principal.actor)
    return g.principal  # type: ignore[no-any-return]


def new_csrf_token() -> str:
    """Start a fresh CSRF token for the session (at login)."""
    token = secrets.token_urlsafe(32)
    session["csrf"] = token
    return token


def _check_csrf() -> None:
    # Cookie-authenticated writes must echo the session's token in a header a
    # cross-site form cannot set (synchroniser token pattern).
    # Portal forms send it as a hidden field; htmx and API clients in the header.
    expected = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER) or _form_token()
    if not expected or not hmac.compare_digest(str(expected), sent):
        raise Forbidden(f"missing or wrong {CSRF_HEADER} header")


def _form_token() -> str:
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return ""
    # A body over the limit raises RequestEntityTooLarge here: the answer is 413, not a
    # CSRF refusal (the error page then renders as to a visitor: ems.portal.layout).
    return str(request.form.get(CSRF_FIELD, ""))


def _start() -> None:
    if "\x00" in request.path:
        # No route, slug or id holds a NUL (PostgreSQL text cannot): nothing is there.
        raise NotFound("not found")
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.request_id_token = current_request_id.set(g.request_id)


def _finish(response: Response) -> Response:
    session_ = g.pop("db", None)
    if session_ is not None:
        try:
            if response.status_code < 400:
                session_.commit()
            else:
                session_.rollback()
        finally:
            session_.close()
    response.headers["X-Request-ID"] = g.get("request_id", "")
    metrics.observe(request, response, time.perf_counter() - g.get("started", time.perf_counter()))
    return response


def _teardown(exc: BaseException | None) -> None:
    session_ = g.pop("db", None)
    if session_ is not None:
        session_.rollback()
        session_.close()
    for var, key in (
        (current_tenant, "tenant_token"),
        (current_actor, "actor_token"),
        (current_request_id, "request_id_token"),
    ):
        token = g.pop(key, None)
        if token is not None:
            var.reset(token)


def register(app: Flask) -> None:
    """Install the pipeline on ``app``."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
