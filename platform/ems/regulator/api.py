"""Regulator routes: ``/api/v1/regulator/...``, read-only, scoped to the regulator's region.

A regulator never reaches tenant routes (it holds no membership, so they answer
404). Here it reads the registry facts of the enterprises in its region and the
control-schema copies of what they uploaded (:mod:`ems.regulator.services`);
an enterprise outside the region answers 404 exactly like a missing one.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask_smorest import Blueprint

from ems.auth.permissions import require_regulator
from ems.db import utcnow
from ems.regulator import services
from ems.regulator.schemas import (
    EnterpriseDetailSchema,
    EnterpriseSchema,
    EnterpriseStatisticsSchema,
    FigureQuerySchema,
    FigureSchema,
    RangeSchema,
    RegionStatisticsSchema,
    SubmissionSchema,
    TotalsQuerySchema,
    TotalsSchema,
)
from ems.upload import periods
from ems.upload.models import UploadedFigure
from ems.web.pagination import paginate
from ems.web.pipeline import current_principal, db
from ems_tenants.models import Tenant
from ems_tenants.validation import region_within

blp = Blueprint(
    "regulator", __name__, url_prefix="/api/v1/regulator", description="Regulator's view"
)


def _scope() -> str:
    return require_regulator(current_principal())


def _days(query: dict[str, Any], tz: ZoneInfo) -> tuple[date, date]:
    """The inclusive local day range asked for (default: the last 30 days)."""
    return services.day_range(query.get("start"), query.get("end"), tz, utcnow())


def _enterprise(credit_code: str) -> Tenant:
    return services.access_enterprise(db(), _scope(), credit_code)


@blp.route("/enterprises")
@blp.response(200, EnterpriseSchema(many=True))
@blp.paginate()
def enterprises(pagination_parameters: Any) -> list[Tenant]:
    """List the enterprises in the regulator's region (suspended ones marked)."""
    scope = _scope()
    rows: list[Tenant] = paginate(db(), services.enterprises(scope), pagination_parameters)
    assert all(region_within(scope, t.region_code) for t in rows)  # noqa: S101 - defence in depth
    return rows


@blp.route("/enterprises/<credit_code>")
@blp.response(200, EnterpriseDetailSchema)
def enterprise(credit_code: str) -> dict[str, Any]:
    """One enterprise: registry facts, its latest information, 30 days of statistics."""
    tenant = _enterprise(credit_code)
    start, end = _days({}, ZoneInfo(tenant.timezone))
    summary = services.tallies(db(), [tenant.id], start, end)[tenant.id]
    return {
        **EnterpriseSchema().dump(tenant),
        "info": services.latest_submissions(db(), tenant.id, "info"),
        "last_30_days": {"start": start, "end": end, **_tally(summary)},
    }


def _tally(tally: services.EnterpriseTally) -> dict[str, Any]:
    return {
        name: getattr(tally, name)
        for name in (
            "expected",
            "uploaded",
            "on_time",
            "failed_requests",
            "completeness",
            "timeliness",
            "warning",
            "message",
            "days_reported",
        )
    }


@blp.route("/enterprises/<credit_code>/figures")
@blp.arguments(FigureQuerySchema, location="query")
@blp.response(200, FigureSchema(many=True))
@blp.paginate()
def enterprise_figures(
    query: dict[str, Any], pagination_parameters: Any, credit_code: str
) -> list[dict[str, Any]]:
    """What the enterprise uploaded and the platforms accepted (latest versions by default)."""
    tenant = _enterprise(credit_code)
    stmt = services.figures(
        tenant,
        stat_type=query.get("stat_type"),
        code=query.get("code"),
        first=query.get("start"),
        last=query.get("end"),
        all_versions=query["versions"] == "all",
    )
    tz = ZoneInfo(tenant.timezone)
    rows: list[UploadedFigure] = paginate(db(), stmt, pagination_parameters)
    columns = [c.key for c in UploadedFigure.__table__.columns if c.key != "tenant_id"]
    out = []
    for row in rows:
        figure = {c: getattr(row, c) for c in columns}
        out.append({**figure, "stat_date": periods.stat_date(row.period_start, tz)})
    return out


@blp.route("/enterprises/<credit_code>/statistics")
@blp.arguments(RangeSchema, location="query")
@blp.response(200, EnterpriseStatisticsSchema)
def enterprise_statistics(query: dict[str, Any], credit_code: str) -> dict[str, Any]:
    """Completeness and timeliness of one enterprise per platform and day, as published."""
    tenant = _enterprise(credit_code)
    start, end = _days(query, ZoneInfo(tenant.timezone))
    total = services.tallies(db(), [tenant.id], start, end)[tenant.id]
    return {
        "start": start,
        "end": end,
        "total": _tally(total),
        "profiles": services.day_statistics(db(), tenant.id, start, end),
    }


@blp.route("/enterprises/<credit_code>/meters")
@blp.response(200, SubmissionSchema(many=True))
def enterprise_meters(credit_code: str) -> list[Any]:
    """The latest meter ledger each platform accepted from the enterprise."""
    tenant = _enterprise(credit_code)
    return services.latest_submissions(db(), tenant.id, "meters")


@blp.route("/totals")
@blp.arguments(TotalsQuerySchema, location="query")
@blp.response(200, TotalsSchema)
def region_totals(query: dict[str, Any]) -> dict[str, Any]:
    """Whole-plant comprehensive consumption summed over the region, per period and energy."""
    scope = _scope()
    start, end = _days(query, services.REGION_TZ)
    return {
        "stat_type": query["stat_type"],
        "start": start,
        "end": end,
        "periods": services.totals(db(), scope, query["stat_type"], start, end),
    }


@blp.route("/statistics")
@blp.arguments(RangeSchema, location="query")
@blp.response(200, RegionStatisticsSchema(many=True))
@blp.paginate()
def region_statistics(query: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    """Completeness and timeliness of each enterprise in the region over the range."""
    scope = _scope()
    start, end = _days(query, services.REGION_TZ)
    rows: list[Tenant] = paginate(db(), services.enterprises(scope), pagination_parameters)
    found = services.tallies(db(), [t.id for t in rows], start, end)
    return [{**EnterpriseSchema().dump(t), **_tally(found[t.id])} for t in rows]
