"""Metering personnel pages (DB53/T 1026 table A.2): the list, a person with their documents,
the form, and import and export as jobs.

Reading needs ``tenant:read``; the form and imports ``config:write``; an export is a
read (as ``GET .../personnel/export`` is) and only starts a job.
"""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select

from ems.auth.permissions import Permission
from ems.errors import Conflict
from ems.personnel import services
from ems.personnel.models import Person, PersonDocument
from ems.personnel.schemas import PersonInputSchema, PersonQuerySchema
from ems.portal import listing
from ems.portal.i18n import mark
from ems.portal.web import (
    FieldErrors,
    apply_form,
    load_form,
    load_query,
    page,
    pages_blueprint,
    see_other,
)
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, requires

blp = pages_blueprint("personnel_pages", __name__)
# Ids are PostgreSQL integers: a larger one in a URL matches no route (404) instead of
# failing in the database (<int(max=...)> below).
listing.accept_files(blp, {"personnel_pages.import_post"})

FILTERS = ("q", "department", "qualified")
FORM_FIELDS = tuple(PersonInputSchema().fields)
SEXES = {"male": mark("Male"), "female": mark("Female")}
QUALIFIED = {"true": mark("With a certificate number"), "false": mark("Without one")}
DOCUMENT_KINDS = {
    "archive": mark("Personnel file"),
    "qualification": mark("Qualification certificate"),
    "training": mark("Training record"),
}


def _departments() -> listing.Options:
    rows = db().scalars(
        select(Person.department)
        .where(Person.department.is_not(None))
        .distinct()
        .order_by(Person.department)
    )
    return [(name, name) for name in rows if name]


def _choices() -> dict[str, listing.Options]:
    return {
        "sexes": listing.labelled(SEXES),
        "qualified": listing.labelled(QUALIFIED),
        "departments": _departments(),
        "document_kinds": listing.labelled(DOCUMENT_KINDS),
    }


@blp.get("/personnel")
def index() -> Any:
    """The ledger: search by name or certificate, filter by department and certificate."""
    query, errors = load_query(PersonQuerySchema())
    choices = _choices()
    return page(
        "personnel/index.html",
        listing=listing.paged(services.list_query(query if not errors else {})),
        filters=listing.filter_args(FILTERS),
        errors=errors,
        choices=choices,
        names={key: dict(options) for key, options in choices.items()},
    )


@blp.get("/personnel/<id:person_id>")
def show(person_id: int) -> Any:
    """A person: their table A.2 row and documents."""
    person = services.access_person(db(), person_id)
    documents = db().scalars(
        select(PersonDocument)
        .where(PersonDocument.person_id == person.id)
        .order_by(PersonDocument.id)
    )
    return page(
        "personnel/show.html",
        person=person,
        documents=list(documents),
        names={key: dict(options) for key, options in _choices().items()},
    )


def _form(person: Person | None, values: Any, errors: FieldErrors | None = None) -> Any:
    return page(
        "personnel/form.html",
        person=person,
        values=values,
        errors=listing.placed(errors or {}, FORM_FIELDS),
        choices=_choices(),
    )


@blp.get("/personnel/new")
@requires(Permission.CONFIG_WRITE)
def new() -> Any:
    """An empty form."""
    return _form(None, {})


@blp.post("/personnel/new")
def create() -> Any:
    """Add a person (the API's schema and service); 422 shows the form again."""
    person, errors = apply_form(
        load_form(PersonInputSchema()), lambda data: services.create_person(db(), data)
    )
    if person is not None:
        return see_other("personnel_pages.show", slug=bound_tenant_row().slug, person_id=person.id)
    return _form(None, request.form, errors)


@blp.get("/personnel/<id:person_id>/edit")
@requires(Permission.CONFIG_WRITE)
def edit(person_id: int) -> Any:
    """The form of a person, filled in."""
    person = services.access_person(db(), person_id)
    values = listing.text_values(person, FORM_FIELDS)
    return _form(person, {**values, "version": person.updated_at.isoformat()})


@blp.post("/personnel/<id:person_id>/edit")
def update(person_id: int) -> Any:
    """Replace a person's columns, unless someone changed them since the form was opened."""
    person = services.access_person(db(), person_id)

    def save(data: dict[str, Any]) -> None:
        _same_version(person)
        services.update_person(db(), person, data)

    _, errors = apply_form(load_form(PersonInputSchema()), save)
    if not errors:
        return see_other("personnel_pages.show", slug=bound_tenant_row().slug, person_id=person_id)
    return _form(services.access_person(db(), person_id), request.form, errors)


def _shown(person_id: int) -> Any:
    return see_other("personnel_pages.show", slug=bound_tenant_row().slug, person_id=person_id)


def _same_version(person: Person) -> None:
    # The API asks for If-Match; a form carries the version it was drawn from instead.
    if request.form.get("version") != person.updated_at.isoformat():
        raise Conflict(
            "the person was changed since this form was opened",
            fields={"_form": [mark("Someone changed this entry meanwhile. Reload the form.")]},
        )


def _import_context() -> dict[str, Any]:
    return {
        "title": mark("Import the personnel ledger"),
        "action": "personnel_pages.import_post",
        "back": "personnel_pages.index",
        "standard": mark("Table A.2 of DB53/T 1026-2021"),
    }


@blp.get("/personnel/import")
@requires(Permission.CONFIG_WRITE)
def import_form() -> Any:
    """The import page: which file, which columns."""
    return listing.import_page("personnel", **_import_context())


@blp.post("/personnel/import")
def import_post() -> Any:
    """Import the file as a job; its page shows the progress and the outcome."""
    return listing.post_import("personnel", **_import_context())


@blp.post("/personnel/export")
@requires(Permission.TENANT_READ)
def export() -> Any:
    """Export the whole ledger (as the API does) as a job."""
    return listing.post_export("personnel")
