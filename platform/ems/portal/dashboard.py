"""The enterprise dashboard: today and this month by energy type, trend, real-time values,
open faults and upload status.

Figures come from the same services as ``GET /actuals`` and ``GET /realtime``;
the real-time panel refreshes itself with htmx every few seconds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ems.actuals import reports
from ems.actuals.periods import Period
from ems.db import utcnow
from ems.overview.services import latest_values, plant_health
from ems.portal.web import page, pages_blueprint
from ems.upload.models import UploadRegistration
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row

blp = pages_blueprint("dashboard", __name__)
TREND_DAYS = 30
REALTIME_ROWS = 12
REFRESH_SECONDS = 10


def _report(period: Period, start: Any = None, end: Any = None, compare: bool = True) -> Any:
    tenant = bound_tenant_row()
    query = reports.ActualsQuery(period, start, end, compare=compare)
    return reports.actuals_report(
        db(), ZoneInfo(tenant.timezone), tenant.region_code, query, utcnow()
    )


def _trend() -> dict[str, Any]:
    tenant = bound_tenant_row()
    today = utcnow().astimezone(ZoneInfo(tenant.timezone)).date()
    first = today - timedelta(days=TREND_DAYS - 1)
    report = _report(Period.DAY, first, today + timedelta(days=1), compare=False)
    days: list[str] = []
    totals: list[str | None] = []
    series: dict[str, dict[str, str | None]] = {}
    for bucket in report["buckets"]:
        days.append(bucket["start"][:10])
        totals.append(bucket["total_tce"])
        for line in bucket["energy"]:
            series.setdefault(line["energy_type"], {})[bucket["start"][:10]] = line["tce"]
    return {"days": days, "total_tce": totals, "by_type": series}


def _first_bucket(report: dict[str, Any]) -> dict[str, Any] | None:
    buckets: list[dict[str, Any]] = report["buckets"]
    return buckets[-1] if buckets else None


@blp.get("/")
def index() -> Any:
    """The dashboard."""
    tenant = bound_tenant_row()
    now = utcnow()
    registrations = db().scalars(select(UploadRegistration).order_by(UploadRegistration.id)).all()
    return page(
        "portal/dashboard.html",
        today=_first_bucket(_report(Period.DAY)),
        month=_first_bucket(_report(Period.MONTH)),
        trend=_trend(),
        health=plant_health(db(), tenant.id, now),
        registrations=registrations,
        latest=_latest(),
        refresh=REFRESH_SECONDS,
        zone=tenant.timezone,
    )


def _latest() -> list[dict[str, Any]]:
    return latest_values(db(), newest=REALTIME_ROWS)


@blp.get("/dashboard/realtime")
def realtime() -> Any:
    """The real-time panel alone (htmx swaps it in every few seconds)."""
    return page(
        "portal/_realtime.html",
        latest=_latest(),
        refresh=REFRESH_SECONDS,
        zone=bound_tenant_row().timezone,
    )
