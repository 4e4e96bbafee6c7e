"""Upload log and statistics API (DB53/T 1026 §4.11): ``/api/v1/tenants/<slug>/upload/...``.

Read-only: the request log, the outbox, completeness and timeliness per day,
failures by reason, day sums against the month, and period boundary checks.
Days are the tenant's local days; every range is inclusive and at most
:data:`ems.upload.stats.MAX_DAYS` days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select

from ems.db import utcnow
from ems.errors import InvalidInput
from ems.upload import checks, stats
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

DEFAULT_DAYS = 7


def _zone() -> ZoneInfo:
    return ZoneInfo(bound_tenant_row().timezone)


def _days(query: dict[str, Any]) -> tuple[date, date]:
    today = utcnow().astimezone(_zone()).date()
    end: date = query.get("end") or today
    start: date = query.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
    stats.check_days(start, end)
    return start, end


def _moment(value: date | datetime, tz: ZoneInfo, *, end: bool) -> datetime:
    """A date as the UTC start of that local day (of the next one for an inclusive end)."""
    if isinstance(value, datetime):
        return value
    return stats.midnight(value + timedelta(days=1) if end else value, tz)


def _request_filters(stmt: Select[Any], query: dict[str, Any]) -> Select[Any]:
    tz = _zone()
    if "start" in query:
        stmt = stmt.where(UploadRequest.at >= _moment(query["start"], tz, end=False))
    if "end" in query:
        bound = _moment(query["end"], tz, end=True)
        inclusive = isinstance(query["end"], datetime)
        stmt = stmt.where(UploadRequest.at <= bound if inclusive else UploadRequest.at < bound)
    for name in ("registration_id", "endpoint", "outcome"):
        if name in query:
            stmt = stmt.where(getattr(UploadRequest, name) == query[name])
    if query.get("q"):
        stmt = stmt.where(UploadRequest.message.icontains(query["q"], autoescape=True))
    if "item_id" in query:
        stmt = stmt.where(UploadRequest.item_ids.contains([query["item_id"]]))
    return stmt


@blp.route("/upload/requests")
@blp.arguments(RequestQuerySchema, location="query")
@blp.response(200, RequestSchema(many=True))
@blp.paginate()
def upload_requests(query: dict[str, Any], pagination_parameters: Any) -> list[UploadRequest]:
    """Search the log of requests to the platforms, newest first."""
    if "start" in query and "end" in query:
        tz = _zone()
        lo = _moment(query["start"], tz, end=False)
        hi = _moment(query["end"], tz, end=True)
        if lo > hi or (lo == hi and not isinstance(query["end"], datetime)):
            raise InvalidInput("'from' is after 'to'", fields={"from": ["after 'to'"]})
    stmt = select(UploadRequest).order_by(UploadRequest.at.desc(), UploadRequest.id.desc())
    return paginate(db(), _request_filters(stmt, query), pagination_parameters)


@blp.route("/upload/items")
@blp.arguments(ItemQuerySchema, location="query")
@blp.response(200, ItemSchema(many=True))
@blp.paginate()
def upload_items(query: dict[str, Any], pagination_parameters: Any) -> list[UploadItem]:
    """Search the outbox, by period, code and version."""
    stmt = select(UploadItem).order_by(
        UploadItem.period_start,
        UploadItem.code,
        UploadItem.stat_type,
        UploadItem.version,
        UploadItem.id,
    )
    for name in ("registration_id", "status", "stat_type"):
        if name in query:
            stmt = stmt.where(getattr(UploadItem, name) == query[name])
    if "code" in query:
        stmt = stmt.where(UploadItem.code == query["code"].replace("-", ""))
    tz = _zone()
    if "start" in query and "end" in query and query["start"] > query["end"]:
        raise InvalidInput("'from' is after 'to'", fields={"from": ["after 'to'"]})
    if "start" in query:
        stmt = stmt.where(UploadItem.period_start >= stats.midnight(query["start"], tz))
    if "end" in query:
        stmt = stmt.where(
            UploadItem.period_start < stats.midnight(query["end"] + timedelta(days=1), tz)
        )
    return paginate(db(), stmt, pagination_parameters)


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
