"""Pages anyone reaches: home, login and logout, signup, plans, the language switch."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, redirect, request, session, url_for
from sqlalchemy import select

from ems.auth.api import LoginSchema
from ems.auth.sessions import log_in, tenants_of
from ems.errors import EmsError, Forbidden, Unauthenticated
from ems.portal import i18n
from ems.portal.web import load_form, page, safe_next, see_other, service_errors, signed_in
from ems.web.pipeline import CSRF_FIELD, current_principal, db
from ems.web.ratelimit import rate_limit
from ems.web.state import state
from ems_tenants import members, services
from ems_tenants.models import Plan
from ems_tenants.schemas import SignupSchema

blp = Blueprint("portal", __name__)
ONE_YEAR = 365 * 24 * 3600


def _check_anonymous_csrf() -> None:
    # Logged-in writes are checked by the request pipeline; the login and signup
    # forms are posted before there is a user, so their token is checked here.
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(str(expected), sent):
        raise Forbidden("the form expired or did not come from this site; reload and try again")


def _home_for() -> str:
    principal = current_principal()
    if principal is None:
        return url_for("portal.login")
    if principal.is_platform_admin:
        return url_for("admin_pages.tenants")
    if principal.regulator_region is not None and "regulator_pages.index" in _endpoints():
        return url_for("regulator_pages.index")
    tenants = tenants_of(principal)
    if principal.provider_org_id is not None and "provider_pages.overview" in _endpoints():
        return url_for("provider_pages.overview")
    if tenants:
        return url_for("dashboard.index", slug=tenants[0].slug)
    return url_for("portal.no_tenant")


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@blp.get("/")
def home() -> Response:
    """Each role starts on its own page."""
    return redirect(_home_for(), code=303)  # type: ignore[return-value]


@blp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in with e-mail and password."""
    target = safe_next(request.args.get("next"), "/")
    if request.method == "GET":
        return page("portal/login.html", next=target, expired=bool(request.args.get("expired")))
    _check_anonymous_csrf()
    data, errors = load_form(LoginSchema())
    if not errors:
        try:
            log_in(data["email"], data["password"])
        except Unauthenticated:
            errors = {"_form": ["wrong e-mail or password"]}
    if errors:
        email = request.form.get("email", "")
        return page("portal/login.html", http_status=422, errors=errors, email=email, next=target)
    return redirect(target if target != "/" else _home_for(), code=303)


@blp.post("/logout")
def logout() -> Response:
    """End the session (the pipeline has checked the form's CSRF token)."""
    current_principal()
    session.clear()
    return see_other("portal.login")


@blp.get("/lang/<code>")
def language(code: str) -> Response:
    """Switch the portal's language and go back where the user was."""
    if code not in i18n.LANGUAGES:
        code = i18n.DEFAULT_LANGUAGE
    response = redirect(safe_next(request.args.get("next"), "/"), code=303)
    response.set_cookie(i18n.COOKIE, code, max_age=ONE_YEAR, samesite="Lax", httponly=True)
    return response  # type: ignore[return-value]


@blp.get("/switch")
def switch_tenant() -> Response:
    """The tenant switcher's target: open the chosen tenant (its pages check the membership)."""
    signed_in()
    slug = request.args.get("slug", "")
    if not slug:
        return see_other("portal.home")
    return see_other("dashboard.index", slug=slug)


@blp.get("/plans")
def plans() -> Any:
    """Plans and their limits (public: applicants choose one)."""
    return page("portal/plans.html", plans=_plans())


def _plans() -> list[Plan]:
    return list(db().scalars(select(Plan).order_by(Plan.id)))


@blp.route("/signup", methods=["GET", "POST"])
def signup() -> Any:
    """Apply for a subscription; a platform administrator approves it."""
    if request.method == "GET":
        return page("portal/signup.html", values={}, plans=_plans())
    _check_anonymous_csrf()
    rate_limit(f"signup:{request.remote_addr}", state().settings.signups_per_minute)
    data, errors = load_form(SignupSchema())
    values = {k: v for k, v in request.form.items() if k != CSRF_FIELD and "password" not in k}
    if not errors:
        try:
            admin = data["admin"]
            tenant = members.sign_up(
                db(),
                services.TenantDraft(**data["tenant"]),
                email=admin["email"],
                name=admin["name"],
                password=admin["password"],
            )
        except EmsError as error:
            errors = _prefixed(service_errors(error))
        else:
            return see_other("portal.signup_done", slug=tenant.slug)
    return page("portal/signup.html", http_status=422, errors=errors, values=values, plans=_plans())


def _prefixed(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    # Services name the tenant's fields plainly ("credit_code"); the form nests them.
    admin_fields = {"email", "password", "name"}
    out: dict[str, list[str]] = {}
    for key, value in errors.items():
        if key == "_form" or "." in key:
            out[key] = value
        elif key in admin_fields and key != "name":
            out[f"admin.{key}"] = value
        else:
            out[f"tenant.{key}"] = value
    return out


@blp.get("/signup/done/<slug>")
def signup_done(slug: str) -> Any:
    """What an applicant is told after applying."""
    return page("portal/signup_done.html", slug=slug)


@blp.get("/welcome")
def no_tenant() -> Any:
    """A signed-in user with nothing to open yet (an application waiting for approval)."""
    signed_in()
    return page("portal/no_tenant.html")
