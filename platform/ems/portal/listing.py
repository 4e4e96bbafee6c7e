"""What the ledger pages share: a page of a filtered list, files posted to a form, and
errors placed next to the fields a form shows."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, request
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, select
from werkzeug.datastructures import FileStorage

from ems import tabular
from ems.documents.web import read_file
from ems.energy.models import EnergyType
from ems.errors import InvalidInput
from ems.jobs import web as jobs
from ems.jobs.ledgers import LEDGERS
from ems.org.models import Unit
from ems.portal.i18n import current_language, gettext, mark
from ems.portal.web import FieldErrors, page, see_other, service_errors
from ems.sites.models import Site
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row

PAGE_SIZE = 25
# What ems.tabular reads; checked on the form too, so a wrong file is named at once.
LEDGER_FILES = (".xlsx", ".csv", ".txt")
# A multipart body carries the file plus the form's fields and boundaries.
FILE_BODY_BYTES = tabular.MAX_BYTES + 1024 * 1024


@dataclass
class Paged:
    """One page of a list, and where it stands in the whole."""

    items: list[Any]
    page: int
    total: int
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def paged(stmt: Select[Any]) -> Paged:
    """The page of ``stmt`` the query string asks for (``page``), counted as the API does."""
    raw = request.args.get("page", "1")
    number = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 100_000 else 1
    params = PaginationParameters(number, PAGE_SIZE)
    items = paginate(db(), stmt, params)
    return Paged(items, number, int(params.item_count or 0))


def accept_files(blp: Blueprint, endpoints: Collection[str]) -> None:
    """Let forms posting a ledger file to ``endpoints`` exceed the app's small body limit."""

    # A URL value preprocessor, not a before_request function: binding the tenant (a
    # before_request) checks the form's CSRF token, which reads the body, limit and all.
    def raise_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
        if endpoint in endpoints and request.method == "POST":
            request.max_content_length = FILE_BODY_BYTES

    blp.url_value_preprocessor(raise_limit)


def posted_file(field: str = "file") -> tuple[str, bytes]:
    """The ledger file of the form: its name and bytes (InvalidInput names the field)."""
    storage = request.files.get(field)
    choose = mark("Choose a .xlsx or .csv file.")
    if not isinstance(storage, FileStorage) or not storage.filename:
        raise InvalidInput("no file was chosen", fields={field: [choose]})
    filename, content = read_file(storage, field)
    filename = _short_name(filename)
    if not filename.lower().endswith(LEDGER_FILES):
        raise InvalidInput("not a ledger file", fields={field: [choose]})
    if len(content) > tabular.MAX_BYTES:
        raise InvalidInput("the file is too large", fields={field: [mark("At most 10 MiB.")]})
    if not content:
        raise InvalidInput("the file is empty", fields={field: [mark("The file is empty.")]})
    return filename, content


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_FILENAME = 200  # the jobs table's column


def _short_name(filename: str) -> str:
    # A browser sends whatever the file is called; the job keeps at most 200 characters
    # of it (the extension kept, since it says how to read the file), never a control one.
    name = _CONTROL.sub("", filename)
    if len(name) <= MAX_FILENAME:
        return name
    stem, dot, extension = name.rpartition(".")
    keep = MAX_FILENAME - len(extension) - 1
    return f"{stem[:keep]}.{extension}" if dot and keep > 0 else name[:MAX_FILENAME]


_INDEX = re.compile(r"\.\d+$")


def placed(errors: FieldErrors, shown: Collection[str]) -> FieldErrors:
    """Errors keyed by the fields a form shows; others go on the form as a whole.

    A list field's item (``energy_types.1``) is shown on the list's field.
    """
    out: FieldErrors = {}
    for key, messages in errors.items():
        name = _INDEX.sub("", key)
        if name in shown or name == "_form":
            out.setdefault(name, []).extend(as_message_id(m) for m in messages)
        else:
            out.setdefault("_form", []).extend(as_message_id(f"{key}: {m}") for m in messages)
    return out


def as_message_id(text: str) -> str:
    """``text`` as templates show it: through the ``tr`` filter, which never %-formats."""
    return text


def filter_args(names: Collection[str]) -> dict[str, str]:
    """The list's filters as given in the query string (blank ones left out)."""
    return {k: v.strip() for k, v in request.args.items() if k in names and v.strip()}


Options = list[tuple[Any, str]]


def energy_type_options() -> Options:
    """The energy type catalogue as (code, name in the page's language)."""
    zh = current_language() == "zh"
    rows = db().scalars(select(EnergyType).order_by(EnergyType.code))
    return [(row.code, row.name_zh if zh else row.name_en) for row in rows]


def site_options() -> Options:
    """The tenant's sites as (id, "code name")."""
    return [(s.id, f"{s.code} {s.name}") for s in db().scalars(select(Site).order_by(Site.code))]


def unit_options() -> Options:
    """The tenant's organisation units as (id, "code name")."""
    return [(u.id, f"{u.code} {u.name}") for u in db().scalars(select(Unit).order_by(Unit.code))]


def labelled(labels: Mapping[Any, str]) -> Options:
    """(value, translated label) pairs of a mapping of message ids, for a select."""
    return [(value, gettext(label)) for value, label in labels.items()]


def text_values(source: Any, names: Collection[str]) -> dict[str, str]:
    """An object's fields as a form shows them ("" for none; dates in ISO)."""
    out: dict[str, str] = {}
    for name in names:
        value = getattr(source, name, None)
        out[name] = "" if value is None else str(value)
    return out


def import_page(ledger: str, errors: FieldErrors | None = None, **context: Any) -> Any:
    """The page asking for a ledger file, with the columns the file may have."""
    columns = LEDGERS[ledger].columns(db())
    return page("ledgers/import.html", columns=columns, errors=errors or {}, **context)


def post_import(ledger: str, **context: Any) -> Any:
    """Start the import of the posted file as a job and go to its page (422: no usable file)."""
    try:
        upload = posted_file()
    except InvalidInput as error:
        return import_page(ledger, placed(service_errors(error), {"file"}), **context)
    job = jobs.start_import(ledger, upload, dry_run=request.form.get("dry_run") == "1")
    return see_other("jobs_pages.show", slug=bound_tenant_row().slug, job_id=job.id)


def post_export(ledger: str, **params: Any) -> Any:
    """Start an export as a job (format from the form) and go to its page."""
    fmt = request.form.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        raise InvalidInput("unknown format", fields={"format": ["xlsx or csv"]})
    job = jobs.start_export(ledger, fmt, **params)
    return see_other("jobs_pages.show", slug=bound_tenant_row().slug, job_id=job.id)
