"""Upload periods: what one item of each ``statType`` covers, in the tenant's local time.

Every period is a half-open UTC interval ``[start, end)`` whose bounds are local
calendar boundaries of the tenant's zone: a real-time item is one interval of
``minutes`` (15, 30 or 60) from local midnight, a day item a local day, and so on.
``statDate`` on the wire is the local start, written as the profile says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ems.upload.models import StatType


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def floor(stat_type: StatType, at: datetime, tz: ZoneInfo, minutes: int = 15) -> datetime:
    """The start (UTC) of the period of ``stat_type`` that contains ``at``."""
    local = at.astimezone(tz)
    if stat_type is StatType.REALTIME:
        into_day = local.hour * 60 + local.minute
        start = _local_midnight(local.date(), tz) + timedelta(minutes=into_day // minutes * minutes)
        return start
    if stat_type is StatType.DAY:
        return _local_midnight(local.date(), tz)
    if stat_type is StatType.MONTH:
        return _local_midnight(local.date().replace(day=1), tz)
    return _local_midnight(date(local.year, 1, 1), tz)


def end(stat_type: StatType, start: datetime, tz: ZoneInfo, minutes: int = 15) -> datetime:
    """The end (UTC, exclusive) of the period that begins at ``start``."""
    if stat_type is StatType.REALTIME:
        return start + timedelta(minutes=minutes)
    local = start.astimezone(tz).date()
    if stat_type is StatType.DAY:
        return _local_midnight(local + timedelta(days=1), tz)
    if stat_type is StatType.MONTH:
        following = date(local.year + local.month // 12, local.month % 12 + 1, 1)
        return _local_midnight(following, tz)
    return _local_midnight(date(local.year + 1, 1, 1), tz)


def closed_between(
    stat_type: StatType,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
    minutes: int = 15,
) -> list[datetime]:
    """Starts of the periods that begin at or after ``since`` and end at or before ``until``."""
    out: list[datetime] = []
    start = floor(stat_type, since, tz, minutes)
    if start < since:
        start = end(stat_type, start, tz, minutes)
    while True:
        stop = end(stat_type, start, tz, minutes)
        if stop > until:
            return out
        out.append(start)
        start = stop


def stat_date(start: datetime, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """``statDate`` on the wire: the period's local start."""
    return start.astimezone(tz).strftime(fmt)


def local_day(start: datetime, tz: ZoneInfo) -> date:
    """The local day a period starts on (what completeness is counted by)."""
    return start.astimezone(tz).date()


def due(
    stat_type: StatType,
    start: datetime,
    tz: ZoneInfo,
    minutes: int = 15,
    upload_time: str | None = None,
) -> datetime:
    """When the platform should have the item: its timeliness deadline.

    Real-time items within an hour of their period's end (the construction code's
    slowest cadence, 4.4.4). The others by the platform's assigned batch time
    (``uploadTime``) on the day after the period closes, or at the end of that day
    when none was assigned.
    """
    stop = end(stat_type, start, tz, minutes)
    if stat_type is StatType.REALTIME:
        return stop + timedelta(hours=1)
    next_day = stop.astimezone(tz).date()
    if upload_time:
        hh, mm, *rest = (int(part) for part in upload_time.split(":"))
        local = datetime.combine(next_day, time(hh, mm, rest[0] if rest else 0), tzinfo=tz)
        return local.astimezone(UTC)
    return _local_midnight(next_day + timedelta(days=1), tz)
