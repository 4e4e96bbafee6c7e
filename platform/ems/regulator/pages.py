"""The regulator's pages: the region's enterprises, what they uploaded, completeness
and timeliness.

Read-only, and scoped to the regulator's region exactly as ``/api/v1/regulator``:
the same services (:mod:`ems.regulator.services`), so an enterprise outside the
region answers 404 like a missing one. Filters are GET forms validated with the
API's query schemas; a bad filter answers 422 with the message next to the field.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import Blueprint, request
from sqlalchemy import Select, func, select

from ems.auth.permissions import require_regulator
from ems.db import utcnow
from ems.errors import InvalidInput
from ems.portal.i18n import mark
from ems.portal.web import FieldErrors, flatten, page, service_errors
from ems.regulator import services
from ems.regulator.schemas import FigureQuerySchema, RangeSchema
from ems.upload import periods
from ems.upload.models import StatType
from ems.web.pipeline import current_principal, db
from ems_tenants.models import Tenant

blp = Blueprint("regulator_pages", __name__, url_prefix="/regulator")
ENTERPRISES_PER_PAGE = 50
FIGURES_PER_PAGE = 100
STAT_TYPE_LABELS = {
    StatType.REALTIME: mark("Real-time (15 min)"),
    StatType.DAY: mark("Day"),
    StatType.MONTH: mark("Month"),
    StatType.YEAR: mark("Year"),
}
# Messages of the services and schemas a regulator's filters can produce (translated).
MESSAGES = (
    mark("enterprise not found"),
    mark("after 'to'"),
    mark("at most 366 days"),
    mark("16 digits, plain or as 2-2-4-6-2 with hyphens"),
)


@blp.before_request
def _regulators_only() -> None:
    require_regulator(current_principal())


def _scope() -> str:
    return require_regulator(current_principal())


def _load_query(schema: ma.Schema) -> tuple[dict[str, Any], FieldErrors]:
    """The query string as the API's schema reads it: (data, errors per field)."""
    names = {field.data_key or name for name, field in schema.fields.items()}
    raw = {k: v.strip() for k, v in request.args.items() if k in names and v.strip()}
    try:
        return schema.load(raw), {}
    except ma.ValidationError as error:
        errors = flatten(error.messages)
        if "stat_type" in errors or "versions" in errors:
            # The choices come from a select: a tampered value gets the plain message.
            for key in {"stat_type", "versions"} & set(errors):
                errors[key] = [mark("Must be one of the choices.")]
        return {}, errors


def _days(query: dict[str, Any], tz: ZoneInfo) -> tuple[tuple[date, date] | None, FieldErrors]:
    try:
        return services.day_range(query.get("start"), query.get("end"), tz, utcnow()), {}
    except InvalidInput as error:
        return None, service_errors(error)


def _page_number() -> int:
    number = request.args.get("page", "1")
    # Past the last page there is nothing to show; a huge number must not reach OFFSET.
    return int(number) if number.isascii() and number.isdigit() and 0 < int(number) < 100_000 else 1


def _one_page(stmt: Select[Any], number: int, size: int) -> tuple[list[Any], int]:
    total = db().scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(db().scalars(stmt.offset((number - 1) * size).limit(size))), total


@blp.get("/")
def index() -> Any:
    """The region's enterprises with completeness and timeliness over a day range."""
    scope = _scope()
    query, errors = _load_query(RangeSchema())
    days, range_errors = _days(query, services.REGION_TZ) if not errors else (None, {})
    errors = errors or range_errors
    number = _page_number()
    rows, total = _one_page(services.enterprises(scope), number, ENTERPRISES_PER_PAGE)
    tallies = services.tallies(db(), [t.id for t in rows], *days) if days else {}
    return page(
        "regulator/index.html",
        scope=scope,
        enterprises=rows,
        tallies=tallies,
        days=days,
        total=total,
        number=number,
        pages=max((total + ENTERPRISES_PER_PAGE - 1) // ENTERPRISES_PER_PAGE, 1),
        values=request.args,
        errors=errors,
    )


@blp.get("/enterprises/<credit_code>")
def enterprise(credit_code: str) -> Any:
    """One enterprise: registry facts, upload statistics per platform, accepted figures."""
    tenant = services.access_enterprise(db(), _scope(), credit_code)
    tz = ZoneInfo(tenant.timezone)
    query, errors = _load_query(FigureQuerySchema())
    days, range_errors = _days(query, tz) if not errors else (None, {})
    errors = errors or range_errors
    figures: list[dict[str, Any]] = []
    total = 0
    number = _page_number()
    if days is not None:
        figures, total = _figures(tenant, query, days, number)
    return page(
        "regulator/enterprise.html",
        enterprise=tenant,
        days=days,
        tally=services.tallies(db(), [tenant.id], *days)[tenant.id] if days else None,
        profiles=services.day_statistics(db(), tenant.id, *days) if days else [],
        info=services.latest_submissions(db(), tenant.id, "info"),
        figures=figures,
        total=total,
        number=number,
        pages=max((total + FIGURES_PER_PAGE - 1) // FIGURES_PER_PAGE, 1),
        stat_types=STAT_TYPE_LABELS,
        values=request.args,
        errors=errors,
    )


def _figures(
    tenant: Tenant, query: dict[str, Any], days: tuple[date, date], number: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the figures the platforms accepted, with their local period."""
    stmt = services.figures(
        tenant,
        stat_type=query.get("stat_type"),
        code=query.get("code"),
        first=days[0],
        last=days[1],
        all_versions=query.get("versions") == "all",
    )
    rows, total = _one_page(stmt, number, FIGURES_PER_PAGE)
    tz = ZoneInfo(tenant.timezone)
    return [
        {"row": row, "stat_date": periods.stat_date(row.period_start, tz)} for row in rows
    ], total
