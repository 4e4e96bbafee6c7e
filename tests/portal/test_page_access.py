"""Every portal page answers 403 or 404 to a role that cannot use it.

The routes are enumerated from the app's URL map, so a page added later is
covered the day it exists. What a role may do comes from the one place access is
decided (``ems.auth.permissions``) and the permission each view declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from ems.auth.permissions import ROLE_PERMISSIONS, Permission
from ems.web.pipeline import SAFE_METHODS
from tests.conftest import World

# Users of tests/conftest.py and their role in alpha (None: not a member of alpha).
ALPHA_ROLES = {
    "alice": "tenant_admin",
    "mona": "energy_manager",
    "oscar": "operator",
    "vera": "viewer",
    "pat": "provider_engineer",
    "bob": None,  # beta's administrator
    "reggie": None,  # a regulator
    "admin": None,  # a platform administrator is not a tenant member
    "nobody": None,
}
MACHINE = re.compile(r"^/(api/|static/|healthz|readyz|metrics)")
PUBLIC = {"/", "/login", "/logout", "/signup", "/plans", "/switch", "/welcome"}


def _page_rules(app: Any) -> Iterator[tuple[str, str, Any]]:
    for rule in app.url_map.iter_rules():
        if MACHINE.match(rule.rule) or rule.rule in PUBLIC or rule.rule.startswith("/lang/"):
            continue
        if rule.rule.startswith("/signup/"):
            continue  # the applicant's confirmation page is public
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.rule, method, app.view_functions[rule.endpoint]


def _url(rule: str) -> str:
    # Ids of objects that may not exist: a refusal must come before the lookup anyway.
    url = rule.replace("<slug>", "alpha-works")
    url = re.sub(r"<(?:id|int(?:\([^)]*\))?):[a-z_]+>", "1", url)
    url = re.sub(r"<(?:string:|path:)?([a-z_]+)>", r"x-\1", url)
    return url


def _permission(view: Any, method: str) -> Permission:
    cls = getattr(view, "view_class", None)
    target = getattr(cls, method.lower(), None) if cls is not None else view
    declared = getattr(target, "ems_permission", None)
    if isinstance(declared, Permission):
        return declared
    return Permission.TENANT_READ if method in SAFE_METHODS else Permission.CONFIG_WRITE


def _allowed(user: str, rule: str, permission: Permission) -> bool:
    if rule.startswith("/t/"):
        role = ALPHA_ROLES[user]
        return role is not None and permission in ROLE_PERMISSIONS[role]
    if rule.startswith("/admin"):
        return user == "admin"
    if rule.startswith("/regulator"):
        return user == "reggie"
    if rule.startswith("/provider"):
        return user == "pat"
    raise AssertionError(f"page {rule} belongs to no role: add it to this test")


def test_the_page_routes_are_enumerated(app: Any) -> None:
    rules = {rule for rule, _, _ in _page_rules(app)}
    assert "/t/<slug>/" in rules and "/admin/tenants" in rules


@pytest.mark.parametrize("user", sorted(ALPHA_ROLES))
def test_a_page_a_role_cannot_use_answers_403_or_404(
    user: str, app: Any, pages_for: Any, world: World
) -> None:
    client = pages_for(user)
    token = client.token("/plans")
    checked = 0
    for rule, method, view in _page_rules(app):
        if _allowed(user, rule, _permission(view, method)):
            continue
        url = _url(rule)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.http.open(url, method=method, data={"csrf_token": token})
        assert response.status_code in (403, 404), (user, method, url, response.status_code)
        checked += 1
    if user in ("nobody", "bob"):
        assert checked > 5  # every tenant page of alpha, and the other roles' pages


def test_anonymous_visitors_are_sent_to_the_login_page(app: Any, pages_for: Any) -> None:
    client = pages_for()
    for rule, method, _ in _page_rules(app):
        if method != "GET":
            continue
        response = client.get(_url(rule))
        assert response.status_code == 303, (rule, response.status_code)
        assert response.headers["Location"].startswith("/login?next="), rule


@pytest.mark.parametrize("user", ["alice", "vera", "pat"])
def test_a_page_a_role_can_use_is_not_refused(user: str, app: Any, pages_for: Any) -> None:
    # The other side: the role's own list pages open (pages with ids may be 404: no object).
    client = pages_for(user)
    for rule, method, view in _page_rules(app):
        if method != "GET" or "<" in rule.replace("<slug>", ""):
            continue
        if _allowed(user, rule, _permission(view, method)):
            response = client.get(_url(rule))
            assert response.status_code == 200, (user, rule, response.status_code)
