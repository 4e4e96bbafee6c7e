"""Meter ledger pages (DB53/T 1026 table A.1): the list with its summary, a meter with its
states, verifications and points, the form, and import and export as jobs.

Reading needs ``tenant:read``; the form and imports ``config:write``; an export is
a read (as ``GET .../meters/export`` is) and only starts a job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import request
from sqlalchemy import select

from ems.auth.permissions import Permission
from ems.errors import Conflict, InvalidInput
from ems.meters import points, services
from ems.meters.models import InstrumentClass, Meter
from ems.meters.reminders import KIND as CALIBRATION_DUE
from ems.meters.schemas import MeterInputSchema, MeterQuerySchema
from ems.meters.summary import summary as ledger_summary
from ems.portal import listing
from ems.portal.i18n import current_language, mark
from ems.portal.web import (
    FieldErrors,
    apply_form,
    flatten,
    load_form,
    load_query,
    page,
    pages_blueprint,
    see_other,
)
from ems.reminders.services import lead_days
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, requires
from ems_tenants.models import Gateway

blp = pages_blueprint("meters_pages", __name__)
# Ids are PostgreSQL integers: a larger one in a URL matches no route (404) instead of
# failing in the database (<int(max=...)> below).
listing.accept_files(blp, {"meters_pages.import_post"})

FILTERS = ("q", "energy_type", "level", "state")
FORM_FIELDS = tuple(MeterInputSchema().fields)
LEVELS = {
    1: mark("Level 1: enterprise in/out"),
    2: mark("Level 2: main sub-unit in/out"),
    3: mark("Level 3: main energy-using equipment"),
}
STATES = {
    "normal": mark("Normal"),
    "faulty": mark("Faulty"),
    "out_of_service": mark("Out of service"),
}
INSTALLED_BY = {1: mark("The enterprise"), 2: mark("The energy supplier"), 3: mark("A third party")}
CONNECTED = {1: mark("The enterprise's own system"), 2: mark("The energy supplier's system")}
RESULTS = {"pass": mark("Pass"), "fail": mark("Fail")}
KINDS = {"verification": mark("Verification"), "calibration": mark("Calibration")}
LABELS: dict[str, Mapping[Any, str]] = {
    "levels": LEVELS,
    "states": STATES,
    "installed_by": INSTALLED_BY,
    "connected": CONNECTED,
    "results": RESULTS,
    "kinds": KINDS,
}


def _today() -> Any:
    """Today in the tenant's zone: due dates are the plant's calendar days."""
    return datetime.now(ZoneInfo(bound_tenant_row().timezone)).date()


def _class_options() -> listing.Options:
    zh = current_language() == "zh"
    rows = db().scalars(
        select(InstrumentClass)
        .where(InstrumentClass.code.is_not(None))
        .order_by(InstrumentClass.code)
    )
    return [(c.code, f"{c.code} {c.name_zh if zh else c.name_en}") for c in rows]


def _gateway_options() -> listing.Options:
    rows = db().scalars(
        select(Gateway).where(Gateway.tenant_id == bound_tenant_row().id).order_by(Gateway.id)
    )
    return [(g.id, f"{g.id} {g.name}") for g in rows]


def _choices() -> dict[str, listing.Options]:
    """What the form's and the filters' selects offer (labels in the page's language)."""
    return {
        "energy_types": listing.energy_type_options(),
        "classes": _class_options(),
        "sites": listing.site_options(),
        "units": listing.unit_options(),
        "gateways": _gateway_options(),
        **{key: listing.labelled(labels) for key, labels in LABELS.items()},
    }


@blp.get("/meters")
def index() -> Any:
    """The ledger: summary, search and filters, a page of meters."""
    query, errors = load_query(MeterQuerySchema())
    found = listing.paged(services.list_query(query if not errors else {}))
    summary = ledger_summary(db(), _today(), lead_days(db(), CALIBRATION_DUE))
    choices = _choices()
    return page(
        "meters/index.html",
        listing=found,
        filters=listing.filter_args(FILTERS),
        errors=errors,
        summary=summary,
        by_state={entry["state"]: entry["count"] for entry in summary["by_state"]},
        choices=choices,
        names={key: dict(options) for key, options in choices.items()},
    )


@blp.get("/meters/<id:meter_id>")
def show(meter_id: int) -> Any:
    """A meter: its table A.1 row, state history, verifications and the points it feeds."""
    meter = services.access_meter(db(), meter_id)
    return page(
        "meters/show.html",
        meter=meter,
        states=services.state_history(db(), meter),
        verifications=services.verifications(db(), meter),
        linked=points.linked_points(db(), meter),
        names={key: dict(options) for key, options in _choices().items()},
    )


def _form(meter: Meter | None, values: Any, errors: FieldErrors | None = None) -> Any:
    return page(
        "meters/form.html",
        meter=meter,
        values=values,
        errors=listing.placed(errors or {}, FORM_FIELDS),
        choices=_choices(),
    )


@blp.get("/meters/new")
@requires(Permission.CONFIG_WRITE)
def new() -> Any:
    """An empty meter form."""
    return _form(None, {"state": "normal"})


@blp.post("/meters/new")
def create() -> Any:
    """Add a meter (validated by the API's schema and service); 422 shows the form again."""
    meter, errors = apply_form(
        load_form(MeterInputSchema()),
        lambda data: services.save_meter(db(), data, reason="建档 created"),
    )
    if meter is not None:
        return see_other("meters_pages.show", slug=bound_tenant_row().slug, meter_id=meter.id)
    return _form(None, request.form, errors)


@blp.get("/meters/<id:meter_id>/edit")
@requires(Permission.CONFIG_WRITE)
def edit(meter_id: int) -> Any:
    """The form of a meter, filled in."""
    meter = services.access_meter(db(), meter_id)
    values = listing.text_values(meter, FORM_FIELDS)
    return _form(meter, {**values, "version": meter.updated_at.isoformat()})


@blp.post("/meters/<id:meter_id>/edit")
def update(meter_id: int) -> Any:
    """Replace a meter's fields, unless someone changed it since the form was opened."""
    meter = services.access_meter(db(), meter_id)

    def save(data: dict[str, Any]) -> None:
        _same_version(meter)
        services.save_meter(db(), data, meter)

    _, errors = apply_form(load_form(MeterInputSchema()), save)
    if not errors:
        return see_other("meters_pages.show", slug=bound_tenant_row().slug, meter_id=meter_id)
    return _form(services.access_meter(db(), meter_id), request.form, errors)


def _same_version(meter: Meter) -> None:
    # The API asks for If-Match; a form carries the version it was drawn from instead.
    if request.form.get("version") != meter.updated_at.isoformat():
        raise Conflict(
            "the meter was changed since this form was opened",
            fields={"_form": [mark("Someone changed this meter meanwhile. Reload the form.")]},
        )


@blp.get("/meters/import")
@requires(Permission.CONFIG_WRITE)
def import_form() -> Any:
    """The import page: which file, which columns."""
    return listing.import_page("meters", **_import_context())


@blp.post("/meters/import")
def import_post() -> Any:
    """Import the file as a job; its page shows the progress and the outcome."""
    return listing.post_import("meters", **_import_context())


def _import_context() -> dict[str, Any]:
    return {
        "title": mark("Import the meter ledger"),
        "action": "meters_pages.import_post",
        "back": "meters_pages.index",
        "standard": mark("Table A.1 of DB53/T 1026-2021"),
    }


@blp.post("/meters/export")
@requires(Permission.TENANT_READ)
def export() -> Any:
    """Export the meters as listed (the same filters) as a job."""
    query = {k: v.strip() for k, v in request.form.items() if k in FILTERS and v.strip()}
    try:
        MeterQuerySchema().load(query)  # a bad filter is refused here, not in the worker
    except ma.ValidationError as error:
        raise InvalidInput("bad filters", fields=flatten(error.messages)) from None
    return listing.post_export("meters", query=query)
