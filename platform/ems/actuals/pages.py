"""Energy actuals pages (能耗实绩): period pickers, 同比 / 环比, a table and a chart; and unit
consumption (单位产品 / 单位产值综合能耗) as a second tab.

The picker is a GET form, so every report is a bookmarkable URL. It is validated with the
API's own query schema and answered by the API's own service (``reports.actuals_report``,
``intensity.report``); what either refuses is shown next to the picker field, with 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import request
from marshmallow import validate
from sqlalchemy import select

from ems.actuals import intensity, reports, shifts
from ems.actuals.conversion import load_catalogue
from ems.actuals.models import Product, Shift
from ems.actuals.periods import DATE_PERIODS, Period, advance
from ems.actuals.schemas import ActualsQuerySchema, IntensityQuerySchema
from ems.db import utcnow
from ems.energy.models import Basis
from ems.errors import InvalidInput
from ems.portal.i18n import current_language, gettext, mark
from ems.portal.web import FieldErrors, load_query, page, pages_blueprint, service_errors
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row

blp = pages_blueprint("actuals_pages", __name__)

# The picker's periods: the API's, in the order people think of them.
PERIODS = {
    Period.HOUR.value: mark("period:hour"),
    Period.DAY.value: mark("period:day"),
    Period.WEEK.value: mark("period:week"),
    Period.MONTH.value: mark("period:month"),
    Period.QUARTER.value: mark("period:quarter"),
    Period.YEAR.value: mark("period:year"),
    Period.CUSTOM.value: mark("period:custom"),
    Period.SHIFT.value: mark("period:shift"),
}
CHARTS = {"bar": mark("Stacked bars by energy type"), "line": mark("Line of total tce")}
BASES = {
    "": mark("Tenant setting"),
    Basis.EQUIVALENT.value: mark("basis:equivalent"),
    Basis.EQUAL_VALUE.value: mark("basis:equal_value"),
}
PICKER_ARGS = ("period", "from", "to", "energy_type", "compare", "chart", "electricity_basis")


class ActualsPickerSchema(ActualsQuerySchema):
    """The API's query, plus how the page draws the chart."""

    chart = ma.fields.String(load_default="bar", validate=validate.OneOf(list(CHARTS)))


def _zone() -> ZoneInfo:
    return ZoneInfo(bound_tenant_row().timezone)


def picker_errors(error: InvalidInput) -> FieldErrors:
    """A service's refusal next to the picker field (the API names it ``query.from``)."""
    return {key.removeprefix("query."): value for key, value in service_errors(error).items()}


def _values(defaults: Mapping[str, str]) -> dict[str, str]:
    return {**defaults, **{k: v.strip() for k, v in request.args.items()}}


def _shifts(period: str) -> list[Shift]:
    return shifts.ordered(db()) if period == Period.SHIFT.value else []


def type_name(line: Mapping[str, Any]) -> str:
    """An energy type's name in the page's language (the code if the catalogue lacks it)."""
    name = line.get("name_zh") if current_language() == "zh" else line.get("name_en")
    return str(name or line["energy_type"])


# --- what the page shows of a report ----------------------------------------------------


def chart(report: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """ECharts data: tce per energy type as stacked bars, or the total as a line."""
    buckets = report["buckets"]
    x = [b["label"] for b in buckets]
    if kind == "line":
        return {"x": x, "series": [{"name": gettext("Total"), "data": _totals_of(buckets)}]}
    names: dict[str, str] = {}
    for bucket in buckets:
        for line in bucket["energy"]:
            names.setdefault(line["energy_type"], type_name(line))
    series = []
    for code, name in names.items():
        by_bucket = [_tce_of(bucket, code) for bucket in buckets]
        series.append({"name": name, "data": by_bucket, "stack": "tce"})
    return {"x": x, "series": series}


def _totals_of(buckets: list[dict[str, Any]]) -> list[str | None]:
    return [b["total_tce"] for b in buckets]


def _tce_of(bucket: Mapping[str, Any], code: str) -> str | None:
    found = [line["tce"] for line in bucket["energy"] if line["energy_type"] == code]
    return found[0] if found else None


def totals(report: Mapping[str, Any]) -> dict[str, Any]:
    """Each energy type summed over the buckets, and the grand total (for several buckets)."""
    types: dict[tuple[str, str], dict[str, Any]] = {}
    for bucket in report["buckets"]:
        for line in bucket["energy"]:
            key = (line["energy_type"], line["unit"])
            row = types.setdefault(
                key,
                {"line": line, "quantity": Decimal(0), "tce": Decimal(0), "manual": False},
            )
            row["quantity"] += Decimal(line["quantity"])
            row["manual"] = row["manual"] or line["manual"]
            # One bucket without a coefficient leaves the sum unknown, not too small.
            row["tce"] = (
                None
                if row["tce"] is None or line["tce"] is None
                else row["tce"] + Decimal(line["tce"])
            )
    grand = sum((Decimal(b["total_tce"]) for b in report["buckets"]), Decimal(0))
    return {
        "types": list(types.values()),
        "total_tce": grand,
        "complete": all(b["complete"] for b in report["buckets"]),
    }


def report_range(report: Mapping[str, Any]) -> tuple[date | datetime, date | datetime]:
    """The report's first and last day when it is whole local days, else its [from, to)."""
    start, end = datetime.fromisoformat(report["from"]), datetime.fromisoformat(report["to"])
    if start.time() == end.time() == time(0):
        return start.date(), end.date() - timedelta(days=1)
    return start, end


def _span(report: Mapping[str, Any], period: Period) -> tuple[date, date, int] | None:
    """The first day, the day after the last and the step a neighbour report moves by."""
    buckets = report["buckets"]
    if period in DATE_PERIODS:
        first = date.fromisoformat(buckets[0]["start"][:10])
        return first, advance(first, period, len(buckets)), len(buckets)
    if period is Period.SHIFT:
        first, last = date.fromisoformat(buckets[0]["day"]), date.fromisoformat(buckets[-1]["day"])
        return first, last + timedelta(days=1), (last - first).days + 1
    return None  # custom spans and hours: the user types the next range


def neighbours(report: Mapping[str, Any], period: Period) -> dict[str, dict[str, str]]:
    """Query bounds of the previous and next reports of the same length."""
    span = _span(report, period)
    if span is None:
        return {}
    first, stop, steps = span

    def moved(day: date, count: int) -> date:
        if period is Period.SHIFT:
            return day + timedelta(days=count)
        return advance(day, period, count)

    return {
        "previous": {"from": moved(first, -steps).isoformat(), "to": first.isoformat()},
        "next": {"from": stop.isoformat(), "to": moved(stop, steps).isoformat()},
    }


def link_args(values: Mapping[str, str], **changes: str) -> dict[str, str]:
    """The picker's current arguments with ``changes`` (blank and unknown ones dropped)."""
    merged = {**values, **changes}
    return {k: v for k, v in merged.items() if v and k in PICKER_ARGS}


# --- pages ------------------------------------------------------------------------------


def _energy_types() -> list[tuple[str, str]]:
    catalogue = load_catalogue(db())
    zh = current_language() == "zh"
    return [(code, row.name_zh if zh else row.name_en) for code, row in catalogue.items()]


def _translated(choices: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(value, gettext(label)) for value, label in choices.items()]


def _picker_context(values: Mapping[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "periods": _translated(PERIODS),
        "charts": _translated(CHARTS),
        "bases": _translated(BASES),
        "energy_types": [("", gettext("All")), *_energy_types()],
        "shifts": shifts.ordered(db()),
        "zone": bound_tenant_row().timezone,
        # Reasons the services give are translated when known; they may hold a "%", which
        # Jinja's own _() would take for a placeholder.
        "say": gettext,
    }


@blp.get("/actuals/")
def index() -> Any:
    """Energy actuals of a period by energy type, with 同比 and 环比, as a table and a chart."""
    values = _values({"period": Period.DAY.value, "compare": "true", "chart": "bar"})
    data, errors = load_query(ActualsPickerSchema())
    report = None
    if not errors:
        try:
            query = reports.query_of(data)
            tenant = bound_tenant_row()
            report = reports.actuals_report(
                db(), _zone(), tenant.region_code, query, utcnow(), _shifts(data["period"])
            )
        except InvalidInput as error:
            errors = picker_errors(error)
    view: dict[str, Any] = {}
    if report is not None:
        view = {
            "chart": chart(report, data["chart"]),
            "totals": totals(report),
            "neighbours": neighbours(report, Period(data["period"])),
            "compare": data["compare"],
            "range": report_range(report),
        }
    return page(
        "actuals/index.html",
        errors=errors,
        report=report,
        view=view,
        link_args=link_args,
        type_name=type_name,
        **_picker_context(values),
    )


def _products() -> list[tuple[str, str]]:
    rows = db().scalars(select(Product).order_by(Product.code))
    return [("", gettext("All"))] + [(str(p.id), f"{p.code} {p.name}") for p in rows]


@blp.get("/actuals/unit-consumption")
def unit_consumption() -> Any:
    """Unit-product and unit-value consumption per bucket (GB/T 2589)."""
    values = _values({"period": Period.MONTH.value})
    data, errors = load_query(IntensityQuerySchema())
    report = None
    if not errors:
        try:
            tenant = bound_tenant_row()
            query = intensity.query_of(data)
            report = intensity.report(
                db(), _zone(), tenant.region_code, query, utcnow(), _shifts(data["period"])
            )
        except InvalidInput as error:
            errors = picker_errors(error)
    return page(
        "actuals/unit_consumption.html",
        errors=errors,
        report=report,
        products=_products(),
        **_picker_context(values),
    )
