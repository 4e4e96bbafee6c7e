"""What every portal page uses: tenant-bound blueprints, the signed-in user, forms, rendering.

Pages call the same services as the API; this module only adapts the browser's
side of it (HTML forms instead of JSON, redirects instead of 201s). Errors are
rendered as pages by ``errors.py`` and commits happen at the request boundary,
as for the API: a form that fails validation answers 422 and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import marshmallow as ma
from flask import Blueprint, Response, redirect, render_template, request, url_for

from ems.auth.permissions import Permission, Principal
from ems.errors import EmsError, Unauthenticated
from ems.portal.i18n import mark
from ems.web.pipeline import current_principal, db
from ems.web.tenancy import bind_each_request, bound_tenant_row

FieldErrors = dict[str, list[str]]


def pages_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint of tenant pages under ``/t/<slug>``; each request is bound to that tenant.

    The permission of a page is declared with ``ems.web.tenancy.requires`` (default:
    read for GET, config:write for POST), exactly as for API routes.
    """
    blp = Blueprint(name, import_name, url_prefix="/t/<slug>")
    bind_each_request(blp)
    return blp


def signed_in() -> Principal:
    """The signed-in user; pages without one redirect to the login page."""
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("authentication required")
    return principal


def can(permission: Permission) -> bool:
    """Whether the signed-in user may do ``permission`` in the page's tenant (hides buttons)."""
    principal = current_principal()
    return principal is not None and permission in principal.permissions_in(bound_tenant_row().id)


def tenant_url(endpoint: str, **values: Any) -> str:
    """``url_for`` for a page of the current tenant."""
    return url_for(endpoint, slug=bound_tenant_row().slug, **values)


def safe_next(target: str | None, default: str) -> str:
    """A redirect target from a form: a local path only (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _nest(flat: Mapping[str, str]) -> dict[str, Any]:
    # "tenant.name" -> {"tenant": {"name": ...}}: forms are flat, schemas may nest.
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def flatten(messages: Any, prefix: str = "") -> FieldErrors:
    """Marshmallow's nested messages -> {"tenant.name": [...]}, the form's field names."""
    out: FieldErrors = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "_form"] = list(messages)
    else:
        out[prefix or "_form"] = [str(messages)]
    return out


def form_values(schema: ma.Schema) -> dict[str, Any]:
    """The submitted form as the schema's input: blank optional fields are left out."""
    names = _field_names(schema)
    flat = {
        key: value.strip()
        for key, value in request.form.items()
        if key in names and value.strip() != ""
    }
    return _nest(flat)


def _field_names(schema: ma.Schema, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, field in schema.fields.items():
        key = f"{prefix}{field.data_key or name}"
        if isinstance(field, ma.fields.Nested) and isinstance(field.schema, ma.Schema):
            names |= _field_names(field.schema, key + ".")
        else:
            names.add(key)
    return names


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_MESSAGE = mark("contains a control character")


def _control_characters(values: Mapping[str, str]) -> FieldErrors:
    # PostgreSQL text cannot hold NUL, and no field of a form means any control character:
    # refused next to the field before a schema or a query sees it.
    return {name: [CONTROL_MESSAGE] for name, value in values.items() if CONTROL.search(value)}


def _with_nested(schema: ma.Schema, values: dict[str, Any]) -> dict[str, Any]:
    # An empty section still gets its dict, so each of its required fields is named.
    for name, field in schema.fields.items():
        if isinstance(field, ma.fields.Nested) and isinstance(field.schema, ma.Schema):
            key = field.data_key or name
            if isinstance(values.get(key, {}), dict):
                values[key] = _with_nested(field.schema, dict(values.get(key, {})))
    return values


def load_form(schema: ma.Schema) -> tuple[dict[str, Any], FieldErrors]:
    """Validate the submitted form with the API's own schema: (data, errors per field)."""
    names = _field_names(schema)
    problems = _control_characters({k: v for k, v in request.form.items() if k in names})
    if problems:
        return {}, problems
    try:
        return schema.load(_with_nested(schema, form_values(schema))), {}
    except ma.ValidationError as error:
        return {}, flatten(error.messages)


def load_query(schema: ma.Schema) -> tuple[dict[str, Any], FieldErrors]:
    """Validate a GET form (the query string: pickers, filters) with the API's own schema."""
    names = _field_names(schema)
    flat = {k: v.strip() for k, v in request.args.items() if k in names and v.strip() != ""}
    problems = _control_characters(flat)
    if problems:
        return {}, problems
    try:
        return schema.load(_nest(flat)), {}
    except ma.ValidationError as error:
        return {}, flatten(error.messages)


T = TypeVar("T")


def apply_form(
    loaded: tuple[dict[str, Any], FieldErrors], save: Callable[[dict[str, Any]], T]
) -> tuple[T | None, FieldErrors]:
    """``save`` the validated form (from ``load_form``): (what it returned, no errors), or
    (None, the errors), a service's refusal placed next to the fields it names.

    On a refusal the request's session is rolled back: the answer is 422 either way, and the
    form is drawn again from a clean session.
    """
    data, errors = loaded
    if errors:
        return None, errors
    try:
        return save(data), {}
    except EmsError as error:
        db().rollback()
        return None, service_errors(error)


def service_errors(error: EmsError) -> FieldErrors:
    """A service's refusal as errors next to the fields it names (else on the form)."""
    fields = {k: v if isinstance(v, list) else [str(v)] for k, v in error.fields.items()}
    return fields or {"_form": [error.message]}


def page(template: str, http_status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a page (422 when a form is shown again with its errors)."""
    if context.get("errors") and http_status == 200:
        http_status = 422
    return render_template(template, **context), http_status


def see_other(endpoint: str, **values: Any) -> Response:
    """After a successful POST: redirect, so a reload does not post again."""
    return redirect(url_for(endpoint, **values), code=303)  # type: ignore[return-value]


def wants_fragment() -> bool:
    """An htmx request asks for the part of the page it swaps, not the whole page."""
    return request.headers.get("HX-Request") == "true"
