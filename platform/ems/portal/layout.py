"""The page frame: Jinja set-up, the navigation by role, and what every template sees.

Navigation entries name endpoints; an entry whose page set is not installed,
or whose permission the user lacks, is simply not shown. A feature adds its
pages by registering its blueprint and, here, one line in ``TENANT_NAV``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request, session
from werkzeug.exceptions import HTTPException

from ems.auth.permissions import Permission, Principal
from ems.auth.sessions import TenantAccess, tenants_of
from ems.errors import EmsError
from ems.portal import i18n
from ems.portal.i18n import mark
from ems.portal.web import can, tenant_url
from ems.web.pipeline import CSRF_FIELD, CSRF_HEADER, current_principal, new_csrf_token
from ems.web.state import state


@dataclass(frozen=True)
class NavItem:
    """One entry of the side navigation."""

    endpoint: str
    label: str  # an English message id, translated when shown
    icon: str
    permission: Permission = Permission.TENANT_READ


TENANT_NAV: tuple[NavItem, ...] = (
    NavItem("dashboard.index", mark("Dashboard"), "◉"),
    NavItem("actuals_pages.index", mark("Energy actuals"), "▤"),
    NavItem("network_pages.index", mark("Networks"), "⌘"),
    NavItem("meters_pages.index", mark("Meters"), "◎"),
    NavItem("personnel_pages.index", mark("Personnel"), "☺"),
    NavItem("equipment_pages.index", mark("Key equipment"), "⚙"),
    NavItem("gateways_pages.index", mark("Gateways"), "⇄"),
    NavItem("upload_pages.index", mark("Provincial upload"), "⇪"),
    NavItem("members_pages.index", mark("Users and roles"), "☷", Permission.MEMBERS_MANAGE),
)


def _has(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def tenant_nav(principal: Principal, tenant_id: int) -> list[NavItem]:
    """The tenant pages this user may open, in menu order."""
    granted = principal.permissions_in(tenant_id)
    return [item for item in TENANT_NAV if item.permission in granted and _has(item.endpoint)]


def csrf_token() -> str:
    """The session's CSRF token (anonymous forms get one too: login and signup)."""
    token = session.get("csrf")
    return str(token) if token else new_csrf_token()


def _principal() -> Principal | None:
    # An error page may be rendered because authentication itself failed (a bad CSRF
    # token): it is then shown as to an anonymous visitor instead of failing again.
    try:
        return current_principal()
    except (EmsError, HTTPException):
        return None


def _tenant_row() -> Any:
    return g.get("tenant_row")


def _my_tenants() -> list[TenantAccess]:
    principal = _principal()
    if principal is None:
        return []
    if "my_tenants" not in g:
        g.my_tenants = tenants_of(principal)
    tenants: list[TenantAccess] = g.my_tenants
    return tenants


def _context() -> dict[str, Any]:
    principal = _principal()
    tenant = _tenant_row()
    nav = tenant_nav(principal, tenant.id) if principal is not None and tenant else []
    return {
        "principal": principal,
        "tenant": tenant,
        "my_tenants": _my_tenants,
        "nav": nav,
        "lang": i18n.current_language(),
        "languages": i18n.LANGUAGES,
        "has_page": _has,
        "Permission": Permission,
        "tenant_url": tenant_url,
        "request_path": request.full_path.rstrip("?"),
        "session_idle": state().settings.session_idle if principal else 0,
    }


def options(items: Any, value: str, label: str) -> list[tuple[Any, Any]]:
    """(value, label) pairs for a select, from objects or mappings."""

    def get(item: Any, name: str) -> Any:
        return item[name] if isinstance(item, dict) else getattr(item, name)

    return [(get(item, value), get(item, label)) for item in items]


def install(app: Flask) -> None:
    """Configure Jinja for the portal: translations, formatting filters, the common context."""
    env = app.jinja_env
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.globals["can"] = can
    env.globals["options"] = options
    # Globals, not context: macros imported without context use them too.
    env.globals.update(csrf_token=csrf_token, csrf_field=CSRF_FIELD, csrf_header=CSRF_HEADER)
    env.filters.update(
        number=i18n.format_number,
        percent=i18n.format_percent,
        date=i18n.format_date,
        datetime=i18n.format_datetime,
        unit=i18n.unit,
        tr=i18n.translate_message,
    )
    app.context_processor(_context)
