"""Upload statistics (DB53/T 1026 §4.11): completeness, timeliness, failures, checks.

Everything here reads one tenant's outbox (``upload_items``) and request log
(``upload_requests``) through a tenant session and never commits. What counts:

- *expected* on a local day: for each enabled mapping, one item per real-time
  interval (24 h / ``realtime_minutes``) of a real-time code, one per day code,
  one per month code on the 1st, one per year code on 1 January; only the
  periods already *due* (:func:`ems.upload.periods.due`) at ``now``, so that a
  day still running is not reported as missing what nobody could send yet.
- *uploaded*: the expected (code, statType, period) keys with at least one
  accepted version; *on time*: the first accepted version was accepted by its
  ``due_at``. Completeness and timeliness are both over *expected* (an item never
  sent is neither complete nor on time); below 90 % completeness is a warning
  (provincial practice).

:func:`publish` copies a tenant's day figures into the control table
``upload_day_stats``, the only statistics a regulator reads. The checks of the
platforms' rules (day sums, period boundaries) are in :mod:`ems.upload.checks`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.orm import Session

from ems.db import utcnow
from ems.errors import InvalidInput
from ems.upload import periods
from ems.upload.models import (
    ItemStatus,
    StatType,
    UploadCode,
    UploadDayStats,
    UploadItem,
    UploadRegistration,
    UploadRequest,
)
from ems_tenants.models import Tenant

# A report over more days than this is a job for an export, not a request.
MAX_DAYS = 366
COMPLETENESS_FLOOR = 90.0  # per cent; below it the platform flags the enterprise
ACCEPTED = "accepted"


def only_registration(column: Any, registration_id: int | None) -> ColumnElement[bool]:
    """A filter on one registration, or none."""
    return true() if registration_id is None else column == registration_id


def check_days(start: date, end: date, max_days: int = MAX_DAYS) -> None:
    """Refuse an inclusive day range that is empty or longer than ``max_days``."""
    if start > end:
        raise InvalidInput("'from' is after 'to'", fields={"from": ["after 'to'"]})
    if (end - start).days + 1 > max_days:
        raise InvalidInput(
            f"at most {max_days} days per request", fields={"to": [f"at most {max_days} days"]}
        )


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant a local day begins."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def day_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` of the local days ``first`` to ``last`` inclusive."""
    return midnight(first, tz), midnight(last + timedelta(days=1), tz)


def percent(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in per cent, two decimals; None when nothing was expected."""
    if whole == 0:
        return None
    return two_places(Decimal(100 * part) / whole)


def two_places(value: Decimal) -> float:
    """Half up, as people round: 3.125 is 3.13 (float rounding would say 3.12)."""
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass
class Tally:
    """Expected, uploaded and on-time items, and failed requests, over some days."""

    expected: int = 0
    uploaded: int = 0
    on_time: int = 0
    failed_requests: int = 0

    @property
    def completeness(self) -> float | None:
        return percent(self.uploaded, self.expected)

    @property
    def timeliness(self) -> float | None:
        return percent(self.on_time, self.expected)

    @property
    def warning(self) -> bool:
        rate = self.completeness
        return rate is not None and rate < COMPLETENESS_FLOOR

    @property
    def message(self) -> str | None:
        if not self.warning:
            return None
        return (
            f"数据上传完整率 {self.completeness}% 低于 90%"
            f" / upload completeness {self.completeness} % is below 90 %"
        )

    def add(self, other: Tally) -> None:
        self.expected += other.expected
        self.uploaded += other.uploaded
        self.on_time += other.on_time
        self.failed_requests += other.failed_requests


@dataclass
class DayStats(Tally):
    """One registration's local day."""

    day: date = date.min


@dataclass
class RegistrationStats(Tally):
    """One registration over a day range: its totals and its days."""

    registration_id: int = 0
    profile: str = ""
    days: list[DayStats] = field(default_factory=list)


def expected_codes(session: Session, registration_id: int) -> dict[StatType, frozenset[str]]:
    """The enabled mappings' codes for each statistics type."""
    rows = session.execute(
        select(
            UploadCode.code, UploadCode.realtime, UploadCode.day, UploadCode.month, UploadCode.year
        ).where(UploadCode.registration_id == registration_id, UploadCode.enabled)
    ).all()
    return {
        stat_type: frozenset(row.code for row in rows if row[stat_type + 1])
        for stat_type in StatType
    }


def _due_intervals(day: date, tz: ZoneInfo, reg: UploadRegistration, now: datetime) -> int:
    """How many of a day's real-time intervals were due by ``now``."""
    start, stop = day_bounds(day, day, tz)
    step = timedelta(minutes=reg.realtime_minutes)
    total = (stop - start) // step
    first_due = periods.due(StatType.REALTIME, start, tz, reg.realtime_minutes)
    if now < first_due:
        return 0
    return int(min(total, 1 + (now - first_due) // step))


def expected_on(
    day: date,
    codes: dict[StatType, frozenset[str]],
    reg: UploadRegistration,
    tz: ZoneInfo,
    now: datetime,
) -> int:
    """Items expected from the periods starting on ``day`` that were due by ``now``."""
    count = len(codes[StatType.REALTIME]) * _due_intervals(day, tz, reg, now)
    start = midnight(day, tz)
    for stat_type, applies in (
        (StatType.DAY, True),
        (StatType.MONTH, day.day == 1),
        (StatType.YEAR, day.day == 1 and day.month == 1),
    ):
        if applies and codes[stat_type] and _is_due(stat_type, start, tz, reg, now):
            count += len(codes[stat_type])
    return count


def _is_due(
    stat_type: StatType, start: datetime, tz: ZoneInfo, reg: UploadRegistration, now: datetime
) -> bool:
    return periods.due(stat_type, start, tz, reg.realtime_minutes, reg.upload_time) <= now


def _first_accepted(session: Session, registration_id: int, lo: datetime, hi: datetime) -> Any:
    """Per (code, statType, period) starting in ``[lo, hi)``: its first accepted version."""
    return session.execute(
        select(
            UploadItem.code,
            UploadItem.stat_type,
            UploadItem.period_start,
            UploadItem.accepted_at,
            UploadItem.due_at,
        )
        .where(
            UploadItem.registration_id == registration_id,
            UploadItem.accepted_at.is_not(None),
            UploadItem.period_start >= lo,
            UploadItem.period_start < hi,
        )
        .ext(distinct_on(UploadItem.code, UploadItem.stat_type, UploadItem.period_start))
        .order_by(
            UploadItem.code,
            UploadItem.stat_type,
            UploadItem.period_start,
            UploadItem.accepted_at,
        )
    ).all()


def _failed_requests(
    session: Session, registration_id: int, lo: datetime, hi: datetime, tz: ZoneInfo
) -> dict[date, int]:
    ats = session.scalars(
        select(UploadRequest.at).where(
            UploadRequest.registration_id == registration_id,
            UploadRequest.outcome != ACCEPTED,
            UploadRequest.at >= lo,
            UploadRequest.at < hi,
        )
    )
    out: dict[date, int] = defaultdict(int)
    for at in ats:
        out[at.astimezone(tz).date()] += 1
    return out


def registration_stats(
    session: Session,
    reg: UploadRegistration,
    first: date,
    last: date,
    tz: ZoneInfo,
    now: datetime,
) -> RegistrationStats:
    """One registration's completeness and timeliness per local day, ``first`` to ``last``."""
    codes = expected_codes(session, reg.id)
    lo, hi = day_bounds(first, last, tz)
    days = {
        first + timedelta(days=n): DayStats(day=first + timedelta(days=n))
        for n in range((last - first).days + 1)
    }
    for day, stats in days.items():
        stats.expected = expected_on(day, codes, reg, tz, now)
    for row in _first_accepted(session, reg.id, lo, hi):
        stat_type = StatType(row.stat_type)
        if row.code not in codes[stat_type]:
            continue  # no longer (or never) mapped: not part of what is expected
        if periods.floor(stat_type, row.period_start, tz, reg.realtime_minutes) != row.period_start:
            continue  # misaligned: the platform would not count it (see period_starts)
        if not _is_due(stat_type, row.period_start, tz, reg, now):
            continue  # sent early: counted once it is expected
        stats = days[periods.local_day(row.period_start, tz)]
        stats.uploaded += 1
        stats.on_time += row.accepted_at <= row.due_at
    for day, count in _failed_requests(session, reg.id, lo, hi, tz).items():
        days[day].failed_requests = count
    result = RegistrationStats(registration_id=reg.id, profile=reg.profile)
    result.days = list(days.values())
    for stats in result.days:
        result.add(stats)
    return result


def registrations(session: Session, registration_id: int | None = None) -> list[UploadRegistration]:
    """The tenant's registrations (or the one asked for; 422 when there is none by that id)."""
    stmt = select(UploadRegistration).order_by(UploadRegistration.id)
    if registration_id is not None:
        stmt = stmt.where(UploadRegistration.id == registration_id)
    found = list(session.scalars(stmt))
    if registration_id is not None and not found:
        raise InvalidInput(
            "unknown registration", fields={"registration_id": ["no such registration"]}
        )
    return found


def day_statistics(
    session: Session,
    first: date,
    last: date,
    tz: ZoneInfo,
    now: datetime,
    registration_id: int | None = None,
) -> list[RegistrationStats]:
    """Completeness and timeliness per registration and local day."""
    check_days(first, last)
    return [
        registration_stats(session, reg, first, last, tz, now)
        for reg in registrations(session, registration_id)
    ]


def publish(
    session: Session,
    tenant_id: int,
    registration: UploadRegistration,
    days: Iterable[date],
    now: datetime | None = None,
) -> None:
    """Write ``days``' figures of ``registration`` into control ``upload_day_stats``.

    The sender calls this after each cycle, in its own transaction (not committed
    here); the regulator's view reads only these rows.
    """
    wanted = sorted(set(days))
    if not wanted:
        return
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id}")
    # The cycle's clock, so a manual or catch-up run judges "due" as the items were stamped.
    now = now or utcnow()
    stats = registration_stats(
        session, registration, wanted[0], wanted[-1], ZoneInfo(tenant.timezone), now
    )
    rows = [
        {
            "tenant_id": tenant_id,
            "profile": registration.profile,
            "day": day.day,
            "expected": day.expected,
            "uploaded": day.uploaded,
            "on_time": day.on_time,
            "failed_requests": day.failed_requests,
            "computed_at": now,
        }
        for day in stats.days
        if day.day in set(wanted)
    ]
    stmt = insert(UploadDayStats).values(rows)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "profile", "day"],
            set_={
                name: stmt.excluded[name]
                for name in ("expected", "uploaded", "on_time", "failed_requests", "computed_at")
            },
        )
    )


# --- failures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureGroup:
    """Failed requests or waiting items sharing one reason."""

    outcome: str  # a request's outcome, or an item's status
    message: str | None
    count: int
    latest: datetime
    endpoints: tuple[str, ...] = ()


def failures(
    session: Session, lo: datetime, hi: datetime, registration_id: int | None = None
) -> tuple[list[FailureGroup], list[FailureGroup]]:
    """Failed requests, and items waiting with a reason, grouped by reason (most first)."""
    req = UploadRequest
    request_rows = session.execute(
        select(
            req.outcome,
            req.message,
            func.count(),
            func.max(req.at),
            func.array_agg(func.distinct(req.endpoint)),
        )
        .where(req.outcome != ACCEPTED, req.at >= lo, req.at < hi)
        .where(only_registration(req.registration_id, registration_id))
        .group_by(req.outcome, req.message)
        .order_by(func.count().desc(), func.max(req.at).desc())
    ).all()
    when = func.coalesce(UploadItem.last_attempt_at, UploadItem.queued_at)
    item_rows = session.execute(
        select(UploadItem.status, UploadItem.reason, func.count(), func.max(when))
        .where(
            UploadItem.reason.is_not(None),
            UploadItem.status.in_([ItemStatus.PENDING, ItemStatus.CORRECTION]),
            when >= lo,
            when < hi,
        )
        .where(only_registration(UploadItem.registration_id, registration_id))
        .group_by(UploadItem.status, UploadItem.reason)
        .order_by(func.count().desc(), func.max(when).desc())
    ).all()
    return (
        [FailureGroup(r[0], r[1], r[2], r[3], tuple(sorted(r[4]))) for r in request_rows],
        [FailureGroup(r[0], r[1], r[2], r[3]) for r in item_rows],
    )
