"""Checks of what was queued against the platforms' rules (provincial practice).

- Day sums against the month: the latest accepted day values of a month summed,
  against the latest accepted month value, within 5 %.
- Period boundaries: a ``statDate`` on its period's start (a day's at 00:00 +/- 1
  min); platforms refuse misaligned rows. And closed days with no day item queued.

Functions take a tenant session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from ems.upload import periods
from ems.upload.models import StatType, UploadCode, UploadItem, UploadRegistration
from ems.upload.stats import (
    day_bounds,
    expected_codes,
    midnight,
    only_registration,
    registrations,
    two_places,
)

CONSISTENCY_TOLERANCE = Decimal(5)  # per cent: days summed against the month
DAY_TOLERANCE = timedelta(minutes=1)  # a day's statDate: 00:00 +/- 1 min


# --- day sums against the month -----------------------------------------------------------


@dataclass
class Consistency:
    """One code's accepted day values summed over a month, against its month value."""

    registration_id: int
    code: str
    days_in_month: int
    days: dict[datetime, Decimal] = field(default_factory=dict)
    month_value: Decimal | None = None
    additive: bool = True

    @property
    def day_sum(self) -> Decimal | None:
        return sum(self.days.values(), Decimal(0)) if self.days else None

    @property
    def difference_pct(self) -> float | None:
        if self.day_sum is None or self.month_value is None:
            return None
        if self.month_value == 0:
            return 0.0 if self.day_sum == 0 else None
        return two_places((self.day_sum - self.month_value) / self.month_value * 100)

    @property
    def status(self) -> str:
        if not self.additive:
            return "not_additive"  # a unit consumption: its days do not add up to the month
        if self.month_value is None:
            return "month_missing"
        if len(self.days) < self.days_in_month:
            return "days_missing"
        diff = self.difference_pct
        ok = diff is not None and abs(Decimal(str(diff))) <= CONSISTENCY_TOLERANCE
        return "ok" if ok else "difference"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime, int]:
    """UTC ``[start, end)`` of a local month, and its number of days."""
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return midnight(first, tz), midnight(following, tz), (following - first).days


def consistency(
    session: Session,
    year: int,
    month: int,
    tz: ZoneInfo,
    registration_id: int | None = None,
) -> list[Consistency]:
    """Per code with accepted day or month items in the month: the day sum against the month."""
    lo, hi, days_in_month = month_bounds(year, month, tz)
    item = UploadItem
    rows = session.execute(
        select(item.registration_id, item.code, item.stat_type, item.period_start, item.value)
        .where(
            item.accepted_at.is_not(None),
            item.value.is_not(None),
            item.stat_type.in_([StatType.DAY, StatType.MONTH]),
            item.period_start >= lo,
            item.period_start < hi,
        )
        .where(only_registration(item.registration_id, registration_id))
        .ext(distinct_on(item.registration_id, item.code, item.stat_type, item.period_start))
        .order_by(
            item.registration_id,
            item.code,
            item.stat_type,
            item.period_start,
            item.version.desc(),
        )
    ).all()
    not_additive = {
        (r.registration_id, r.code)
        for r in session.execute(
            select(UploadCode.registration_id, UploadCode.code).where(
                UploadCode.source == "unit_consumption"
            )
        )
    }
    found: dict[tuple[int, str], Consistency] = {}
    for row in rows:
        key = (row.registration_id, row.code)
        entry = found.get(key)
        if entry is None:
            entry = found[key] = Consistency(
                row.registration_id, row.code, days_in_month, additive=key not in not_additive
            )
        if row.stat_type == StatType.DAY:
            entry.days[row.period_start] = row.value
        elif row.period_start == lo:
            entry.month_value = row.value
    return [found[key] for key in sorted(found)]


# --- period boundaries ------------------------------------------------------------------


@dataclass(frozen=True)
class Misaligned:
    """An item whose statDate is not on its period's boundary."""

    item_id: int
    registration_id: int
    code: str
    stat_type: int
    period_start: datetime
    stat_date: str
    aligned_start: datetime
    aligned_stat_date: str
    status: str


@dataclass(frozen=True)
class MissingDay:
    """A closed day for which a mapped day code has no item at all."""

    registration_id: int
    code: str
    day: date


def aligned_start(stat_type: StatType, start: datetime, tz: ZoneInfo, minutes: int) -> datetime:
    """The boundary ``start`` should be on (a day item may be 1 minute either side)."""
    if stat_type is StatType.DAY:
        return periods.floor(stat_type, start + DAY_TOLERANCE, tz, minutes)
    return periods.floor(stat_type, start, tz, minutes)


def is_aligned(stat_type: StatType, start: datetime, tz: ZoneInfo, minutes: int) -> bool:
    boundary = aligned_start(stat_type, start, tz, minutes)
    if stat_type is StatType.DAY:
        return abs(start - boundary) <= DAY_TOLERANCE
    return start == boundary


def _candidates(
    session: Session, lo: datetime, hi: datetime, tz: ZoneInfo, registration_id: int | None
) -> Sequence[Any]:
    """Items not starting on a whole local minute-of-day multiple (a cheap SQL pre-filter)."""
    local = func.timezone(tz.key, UploadItem.period_start)
    into_day = func.extract("epoch", local - func.date_trunc("day", local))
    minutes = UploadRegistration.realtime_minutes * 60
    suspicious = or_(
        and_(UploadItem.stat_type == StatType.REALTIME, into_day % minutes != 0),
        and_(UploadItem.stat_type == StatType.DAY, into_day > 60, into_day < 86400 - 60),
        and_(
            UploadItem.stat_type == StatType.MONTH,
            or_(into_day != 0, func.extract("day", local) != 1),
        ),
        and_(
            UploadItem.stat_type == StatType.YEAR,
            or_(into_day != 0, func.extract("doy", local) != 1),
        ),
    )
    return session.execute(
        select(UploadItem, UploadRegistration.realtime_minutes)
        .join(UploadRegistration, UploadRegistration.id == UploadItem.registration_id)
        .where(UploadItem.period_start >= lo, UploadItem.period_start < hi, suspicious)
        .where(only_registration(UploadItem.registration_id, registration_id))
        .order_by(UploadItem.period_start, UploadItem.code, UploadItem.version)
    ).all()


def misaligned(
    session: Session,
    first: date,
    last: date,
    tz: ZoneInfo,
    registration_id: int | None = None,
) -> list[Misaligned]:
    """Items of periods starting ``first`` to ``last`` whose start is off its boundary."""
    lo, hi = day_bounds(first, last, tz)
    out = []
    for item, minutes in _candidates(session, lo, hi, tz, registration_id):
        stat_type = StatType(item.stat_type)
        if is_aligned(stat_type, item.period_start, tz, minutes):
            continue
        boundary = aligned_start(stat_type, item.period_start, tz, minutes)
        out.append(
            Misaligned(
                item_id=item.id,
                registration_id=item.registration_id,
                code=item.code,
                stat_type=item.stat_type,
                period_start=item.period_start,
                stat_date=periods.stat_date(item.period_start, tz),
                aligned_start=boundary,
                aligned_stat_date=periods.stat_date(boundary, tz),
                status=item.status,
            )
        )
    return out


def missing_days(
    session: Session,
    first: date,
    last: date,
    tz: ZoneInfo,
    now: datetime,
    registration_id: int | None = None,
) -> list[MissingDay]:
    """Closed local days for which an enabled day code has no item queued at all."""
    out: list[MissingDay] = []
    closed = [
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if midnight(first + timedelta(days=n + 1), tz) <= now
    ]
    if not closed:
        return out
    lo, hi = day_bounds(closed[0], closed[-1], tz)
    for reg in registrations(session, registration_id):
        codes = sorted(expected_codes(session, reg.id)[StatType.DAY])
        queued = {
            (row.code, row.period_start)
            for row in session.execute(
                select(UploadItem.code, UploadItem.period_start).where(
                    UploadItem.registration_id == reg.id,
                    UploadItem.stat_type == StatType.DAY,
                    UploadItem.period_start >= lo - DAY_TOLERANCE,
                    UploadItem.period_start < hi,
                )
            )
        }
        # A day item 1 minute off midnight still counts as that day's (the platform's tolerance).
        aligned = {(code, aligned_start(StatType.DAY, s, tz, 15)) for code, s in queued}
        out.extend(
            MissingDay(reg.id, code, day)
            for day in closed
            for code in codes
            if (code, midnight(day, tz)) not in aligned
        )
    return out
