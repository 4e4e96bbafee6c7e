"""Upload log and statistics API (DB53/T 1026 §4.11): ``/api/v1/tenants/<slug>/upload/...``.

Read-only: the request log, the outbox, completeness and timeliness per day,
failures by reason, day sums against the month, and period boundary checks.
Days are the tenant's local days; every range is inclusive and at most
:data:`ems.upload.stats.MAX_DAYS` days.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ems.db import utcnow
from ems.upload import checks, search, stats
from ems.upload.models import UploadItem, UploadRequest
from ems.upload.stats_schemas import (
    ConsistencyQuerySchema,
    ConsistencySchema,
    DayRangeSchema,
    DayStatisticsSchema,
    FailuresSchema,
    ItemQuerySchema,
    ItemSchema,
    PeriodStartsSchema,
    RequestQuerySchema,
    RequestSchema,
)
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, tenant_blueprint

blp = tenant_blueprint(
    "upload_stats", __name__, description="Upload log and statistics (DB53/T 1026 4.11)"
)


def _zone() -> ZoneInfo:
    return ZoneInfo(bound_tenant_row().timezone)


def _days(query: dict[str, Any]) -> tuple[date, date]:
    return search.days(query, utcnow().astimezone(_zone()).date())


@blp.route("/upload/requests")
@blp.arguments(RequestQuerySchema, location="query")
@blp.response(200, RequestSchema(many=True))
@blp.paginate()
def upload_requests(query: dict[str, Any], pagination_parameters: Any) -> list[UploadRequest]:
    """Search the log of requests to the platforms, newest first."""
    return paginate(db(), search.requests(query, _zone()), pagination_parameters)


@blp.route("/upload/items")
@blp.arguments(ItemQuerySchema, location="query")
@blp.response(200, ItemSchema(many=True))
@blp.paginate()
def upload_items(query: dict[str, Any], pagination_parameters: Any) -> list[UploadItem]:
    """Search the outbox, by period, code and version."""
    return paginate(db(), search.items(query, _zone()), pagination_parameters)


@blp.route("/upload/statistics/days")
@blp.arguments(DayRangeSchema, location="query")
@blp.response(200, DayStatisticsSchema)
def day_statistics(query: dict[str, Any]) -> dict[str, Any]:
    """Completeness and timeliness per registration and local day (warning below 90 %)."""
    start, end = _days(query)
    found = stats.day_statistics(db(), start, end, _zone(), utcnow(), query.get("registration_id"))
    return {"start": start, "end": end, "registrations": found}


@blp.route("/upload/statistics/failures")
@blp.arguments(DayRangeSchema, location="query")
@blp.response(200, FailuresSchema)
def failure_statistics(query: dict[str, Any]) -> dict[str, Any]:
    """Failed requests and waiting items, grouped by reason, with the latest occurrence."""
    start, end = _days(query)
    lo, hi = stats.day_bounds(start, end, _zone())
    failed, waiting = stats.failures(db(), lo, hi, query.get("registration_id"))
    return {"start": start, "end": end, "requests": failed, "items": waiting}


@blp.route("/upload/statistics/consistency")
@blp.arguments(ConsistencyQuerySchema, location="query")
@blp.response(200, ConsistencySchema)
def consistency_statistics(query: dict[str, Any]) -> dict[str, Any]:
    """Accepted day values summed over the month against the month value (within 5 %)."""
    tz = _zone()
    if "month" in query:
        year, month = (int(part) for part in query["month"].split("-"))
    else:
        last_month = utcnow().astimezone(tz).date().replace(day=1) - timedelta(days=1)
        year, month = last_month.year, last_month.month
    rows = checks.consistency(db(), year, month, tz, query.get("registration_id"))
    return {
        "month": f"{year:04d}-{month:02d}",
        "tolerance_pct": float(checks.CONSISTENCY_TOLERANCE),
        "codes": rows,
    }


@blp.route("/upload/statistics/period-starts")
@blp.arguments(DayRangeSchema, location="query")
@blp.response(200, PeriodStartsSchema)
def period_starts(query: dict[str, Any]) -> dict[str, Any]:
    """Items whose statDate is off its period boundary, and closed days with no day item."""
    start, end = _days(query)
    tz = _zone()
    registration_id = query.get("registration_id")
    if registration_id is not None:
        stats.registrations(db(), registration_id)  # 422 for an unknown one
    return {
        "start": start,
        "end": end,
        "misaligned": checks.misaligned(db(), start, end, tz, registration_id),
        "missing_days": checks.missing_days(db(), start, end, tz, utcnow(), registration_id),
    }
