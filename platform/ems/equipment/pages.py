"""Key energy-using equipment pages (DB53/T 1026 table A.3): the list, one equipment, the
form, and import and export as jobs.

Reading needs ``tenant:read``; the form and imports ``config:write``; an export is a
read (as ``GET .../equipment/export`` is) and only starts a job. The running-state
point and threshold are kept as they are by the form (the API sets them).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request

from ems.auth.permissions import Permission
from ems.equipment import catalogue, services
from ems.equipment.models import Equipment
from ems.equipment.schemas import EquipmentInputSchema, EquipmentQuerySchema
from ems.errors import Conflict
from ems.portal import listing
from ems.portal.i18n import current_language, mark
from ems.portal.web import (
    FieldErrors,
    apply_form,
    flatten,
    form_values,
    load_query,
    page,
    pages_blueprint,
    see_other,
)
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, requires

blp = pages_blueprint("equipment_pages", __name__)
# Ids are PostgreSQL integers: a larger one in a URL matches no route (404) instead of
# failing in the database (<int(max=...)> below).
listing.accept_files(blp, {"equipment_pages.import_post"})

FILTERS = ("q", "class_code", "energy_type", "special")
# What the API sets alone (a point and its threshold); the form keeps them as they are.
API_ONLY = ("state_point_id", "state_threshold")
FORM_FIELDS = tuple(name for name in EquipmentInputSchema().fields if name not in API_ONLY)
YES_NO = {"true": mark("Yes"), "false": mark("No")}


def _class_options() -> listing.Options:
    zh = current_language() == "zh"
    return [(c.code, c.name_zh if zh else c.name_en) for c in catalogue.classes(db())]


def _choices() -> dict[str, listing.Options]:
    return {
        "classes": _class_options(),
        "energy_types": listing.energy_type_options(),
        "units": listing.unit_options(),
        "yes_no": listing.labelled(YES_NO),
    }


@blp.get("/equipment")
def index() -> Any:
    """The ledger: search by name or number, filter by class, energy type, special."""
    query, errors = load_query(EquipmentQuerySchema())
    choices = _choices()
    return page(
        "equipment/index.html",
        listing=listing.paged(services.list_query(query if not errors else {})),
        filters=listing.filter_args(FILTERS),
        errors=errors,
        choices=choices,
        names={key: dict(options) for key, options in choices.items()},
    )


@blp.get("/equipment/<id:equipment_id>")
def show(equipment_id: int) -> Any:
    """One equipment's table A.3 row and what the platform adds."""
    return page(
        "equipment/show.html",
        row=services.access_equipment(db(), equipment_id),
        names={key: dict(options) for key, options in _choices().items()},
    )


def _load() -> tuple[dict[str, Any], FieldErrors]:
    """The form through the API's schema; energy types are checkboxes (several values)."""
    schema = EquipmentInputSchema()
    values = form_values(schema)
    values["energy_types"] = [v for v in request.form.getlist("energy_types") if v.strip()]
    try:
        return schema.load(values), {}
    except ma.ValidationError as error:
        return {}, flatten(error.messages)


def _form(
    row: Equipment | None, values: Any, energy: list[str], errors: FieldErrors | None = None
) -> Any:
    return page(
        "equipment/form.html",
        row=row,
        values=values,
        chosen_energy=energy,
        errors=listing.placed(errors or {}, FORM_FIELDS),
        choices=_choices(),
    )


@blp.get("/equipment/new")
@requires(Permission.CONFIG_WRITE)
def new() -> Any:
    """An empty form."""
    return _form(None, {}, [])


@blp.post("/equipment/new")
def create() -> Any:
    """Add equipment (the API's schema and service); 422 shows the form again."""
    row, errors = apply_form(_load(), lambda data: services.create_equipment(db(), data))
    if row is not None:
        return _shown(row.id)
    return _form(None, request.form, request.form.getlist("energy_types"), errors)


@blp.get("/equipment/<id:equipment_id>/edit")
@requires(Permission.CONFIG_WRITE)
def edit(equipment_id: int) -> Any:
    """The form of an equipment, filled in."""
    row = services.access_equipment(db(), equipment_id)
    values = listing.text_values(row, FORM_FIELDS)
    special = "" if row.special is None else ("true" if row.special else "false")
    version = row.updated_at.isoformat()
    return _form(row, {**values, "special": special, "version": version}, row.energy_types)


@blp.post("/equipment/<id:equipment_id>/edit")
def update(equipment_id: int) -> Any:
    """Replace the equipment's fields, unless someone changed it since the form was opened."""
    row = services.access_equipment(db(), equipment_id)

    def save(data: dict[str, Any]) -> None:
        _same_version(row)
        kept = {name: getattr(row, name) for name in API_ONLY}
        services.update_equipment(db(), row, {**data, **kept})

    _, errors = apply_form(_load(), save)
    if not errors:
        return _shown(equipment_id)
    energy = request.form.getlist("energy_types")
    return _form(services.access_equipment(db(), equipment_id), request.form, energy, errors)


def _shown(equipment_id: int) -> Any:
    return see_other(
        "equipment_pages.show", slug=bound_tenant_row().slug, equipment_id=equipment_id
    )


def _same_version(row: Equipment) -> None:
    # The API asks for If-Match; a form carries the version it was drawn from instead.
    if request.form.get("version") != row.updated_at.isoformat():
        raise Conflict(
            "the equipment was changed since this form was opened",
            fields={"_form": [mark("Someone changed this entry meanwhile. Reload the form.")]},
        )


def _import_context() -> dict[str, Any]:
    return {
        "title": mark("Import the key equipment ledger"),
        "action": "equipment_pages.import_post",
        "back": "equipment_pages.index",
        "standard": mark("Table A.3 of DB53/T 1026-2021"),
    }


@blp.get("/equipment/import")
@requires(Permission.CONFIG_WRITE)
def import_form() -> Any:
    """The import page: which file, which columns."""
    return listing.import_page("equipment", **_import_context())


@blp.post("/equipment/import")
def import_post() -> Any:
    """Import the file as a job; its page shows the progress and the outcome."""
    return listing.post_import("equipment", **_import_context())


@blp.post("/equipment/export")
@requires(Permission.TENANT_READ)
def export() -> Any:
    """Export the whole ledger (as the API does; optionally the extra columns) as a job."""
    return listing.post_export("equipment", extended=request.form.get("extended") == "1")
