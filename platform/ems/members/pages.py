"""Users and roles of a tenant: members, their roles, and the tenant's API clients.

The same services and schemas as ``/api/v1/tenants/<slug>/members`` and
``/api-clients`` (:mod:`ems_tenants.members`, :mod:`ems_tenants.schemas`). Every
route needs ``members:manage`` (the clients' ``clients:manage`` as well), so a
viewer or operator gets 403 on each of them, reads included.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, flash, make_response, request

from ems.auth.permissions import CLIENT_SCOPES, Permission
from ems.errors import EmsError
from ems.portal.i18n import mark
from ems.portal.web import (
    FieldErrors,
    can,
    flatten,
    load_form,
    page,
    pages_blueprint,
    see_other,
    service_errors,
    signed_in,
)
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, requires
from ems_tenants import members
from ems_tenants.models import Membership, Role
from ems_tenants.schemas import ClientInputSchema, MemberInputSchema, MemberUpdateSchema

blp = pages_blueprint("members_pages", __name__)
ROLES = tuple(role.value for role in Role)
ROLE_LABELS = (
    mark("role:tenant_admin"),
    mark("role:energy_manager"),
    mark("role:operator"),
    mark("role:viewer"),
    mark("role:provider_engineer"),
)
# What the services answer, translated where it is shown (next to a field or on the form).
MESSAGES = (
    mark("no such user"),
    mark("already a member"),
    mark("the user belongs to no provider organisation"),
    mark("not an e-mail address"),
    mark("the last tenant administrator"),
    mark("the tenant's last administrator cannot be removed or given another role"),
    mark("membership not found"),
    mark("client not found"),
)
CHOICE = mark("Must be one of the choices.")


def _form(schema: ma.Schema) -> tuple[dict[str, Any], FieldErrors]:
    data, errors = load_form(schema)
    # A tampered select gets the plain message, not the list of internal values.
    for key in {"role", "scopes"} & set(errors):
        errors[key] = [CHOICE]
    return data, errors


def _members() -> list[Membership]:
    return list(db().scalars(members.list_members(db(), bound_tenant_row().id)))


def _render(http_status: int = 200, **context: Any) -> tuple[str, int]:
    """The page, with whatever form is shown again with its errors."""
    tenant = bound_tenant_row()
    show_clients = can(Permission.CLIENTS_MANAGE)
    context.setdefault("errors", {})
    context.setdefault("values", {"role": Role.VIEWER.value})  # the least a new member gets
    return page(
        "members/index.html",
        http_status=http_status,
        members=_members(),
        me=int(signed_in().id),
        roles=ROLES,
        clients=members.live_clients(db(), tenant.id) if show_clients else None,
        scopes=list(CLIENT_SCOPES),
        **context,
    )


@blp.get("/members/")
@requires(Permission.MEMBERS_MANAGE)
def index() -> Any:
    """Members and their roles; the forms to add, change and remove them."""
    return _render()


@blp.post("/members/")
@requires(Permission.MEMBERS_MANAGE)
def add() -> Any:
    """Give an existing user a role in the tenant."""
    data, errors = _form(MemberInputSchema())
    if not errors:
        try:
            members.add_member(db(), bound_tenant_row(), data["email"], data["role"])
        except EmsError as error:
            errors = service_errors(error)
        else:
            flash(mark("Member added."))
            return see_other("members_pages.index", slug=bound_tenant_row().slug)
    values = {key: request.form.get(key, "") for key in ("email", "role")}
    return _render(422, errors=errors, values=values)


def _membership(membership_id: int) -> Membership:
    return members.access_membership(db(), bound_tenant_row().id, membership_id)


@blp.post("/members/<id:membership_id>/role")
@requires(Permission.MEMBERS_MANAGE)
def change_role(membership_id: int) -> Any:
    """Change a member's role."""
    membership = _membership(membership_id)
    data, errors = _form(MemberUpdateSchema())
    if not errors:
        try:
            members.change_role(db(), membership, data["role"])
        except EmsError as error:
            errors = service_errors(error)
        else:
            flash(mark("Role changed."))
            return see_other("members_pages.index", slug=bound_tenant_row().slug)
    return _render(422, row_errors={membership_id: errors})


@blp.post("/members/<id:membership_id>/remove")
@requires(Permission.MEMBERS_MANAGE)
def remove(membership_id: int) -> Any:
    """Take a member's role in the tenant away."""
    membership = _membership(membership_id)
    own = membership.user_id == int(signed_in().id)
    try:
        members.remove_member(db(), membership)
    except EmsError as error:
        return _render(422, row_errors={membership_id: service_errors(error)})
    if own:
        return see_other("portal.home")  # no longer a member: the tenant's pages answer 404
    flash(mark("Member removed."))
    return see_other("members_pages.index", slug=bound_tenant_row().slug)


def _client_form() -> tuple[dict[str, Any], FieldErrors]:
    # Scopes are checkboxes: a list, which the generic flat form reader does not build.
    raw = {"name": request.form.get("name", "").strip(), "scopes": request.form.getlist("scopes")}
    try:
        return ClientInputSchema().load(raw), {}
    except ma.ValidationError as error:
        return {}, flatten(error.messages)


@blp.post("/members/clients")
@requires(Permission.CLIENTS_MANAGE)
def create_client() -> Any:
    """Register an API client; its secret is shown on this answer only."""
    data, errors = _client_form()
    if not errors:
        try:
            issued = members.create_client(db(), bound_tenant_row(), data["name"], data["scopes"])
        except EmsError as error:
            errors = service_errors(error)
        else:
            # Rendered, not redirected: the secret must not travel in a cookie or a URL,
            # nor stay in the browser's cache or back/forward history.
            response = make_response(_render(201, issued=issued))
            response.headers["Cache-Control"] = "no-store"
            return response
    values = {"name": request.form.get("name", ""), "scopes": request.form.getlist("scopes")}
    return _render(422, client_errors=errors, client_values=values)


@blp.post("/members/clients/<client_id>/revoke")
@requires(Permission.CLIENTS_MANAGE)
def revoke_client(client_id: str) -> Response:
    """Revoke an API client; its tokens stop working at once."""
    client = members.access_client(db(), bound_tenant_row().id, client_id)
    members.revoke_client(db(), client)
    flash(mark("API client revoked."))
    return see_other("members_pages.index", slug=bound_tenant_row().slug)
