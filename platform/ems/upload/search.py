"""Searches of the upload request log and outbox, and the statistics' day range, shared by
the API and the portal.

Days are the tenant's local days; a date bound is a whole day (``to`` inclusive), a
date-time bound is that instant. A range whose ``from`` is after its ``to`` is refused
naming ``from``. The statements are returned unexecuted so the caller pages them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select

from ems.errors import InvalidInput
from ems.upload import stats
from ems.upload.models import UploadItem, UploadRequest

# Statistics without a range cover the last seven local days, today included.
DEFAULT_DAYS = 7


def days(query: Mapping[str, Any], today: date) -> tuple[date, date]:
    """The inclusive local days a ``DayRangeSchema`` query asks for (checked)."""
    end: date = query.get("end") or today
    start: date = query.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
    stats.check_days(start, end)
    return start, end


def _after_to() -> InvalidInput:
    return InvalidInput("'from' is after 'to'", fields={"from": ["after 'to'"]})


def moment(value: date | datetime, tz: ZoneInfo, *, end: bool) -> datetime:
    """A date as the UTC start of that local day (of the next one for an inclusive end)."""
    if isinstance(value, datetime):
        return value
    return stats.midnight(value + timedelta(days=1) if end else value, tz)


def requests(query: Mapping[str, Any], tz: ZoneInfo) -> Select[Any]:
    """The request log, newest first, filtered as ``RequestQuerySchema`` asks."""
    stmt = select(UploadRequest).order_by(UploadRequest.at.desc(), UploadRequest.id.desc())
    if "start" in query and "end" in query:
        low = moment(query["start"], tz, end=False)
        high = moment(query["end"], tz, end=True)
        if low > high or (low == high and not isinstance(query["end"], datetime)):
            raise _after_to()
    if "start" in query:
        stmt = stmt.where(UploadRequest.at >= moment(query["start"], tz, end=False))
    if "end" in query:
        bound = moment(query["end"], tz, end=True)
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


def items(query: Mapping[str, Any], tz: ZoneInfo) -> Select[Any]:
    """The outbox by period, code and version, filtered as ``ItemQuerySchema`` asks."""
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
    if "start" in query and "end" in query and query["start"] > query["end"]:
        raise _after_to()
    if "start" in query:
        stmt = stmt.where(UploadItem.period_start >= stats.midnight(query["start"], tz))
    if "end" in query:
        stmt = stmt.where(
            UploadItem.period_start < stats.midnight(query["end"] + timedelta(days=1), tz)
        )
    return stmt
