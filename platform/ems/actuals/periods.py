"""Report periods (统计周期) cut in the tenant's time zone, their comparison bases, and the
rollup rows that tile them.

DB53/T 1026 §4.2.1 asks for day, week, month, year and free time spans (时段); the
construction code §4.5.4 adds quarters and hours, and year-on-year (同比) and
period-on-period (环比) comparisons. Calendar periods are given as local dates and must start
on their boundary (a week on a Monday, ISO 8601; a quarter on 1 January, April, July or
October); ``to`` is exclusive. Hours and custom spans also take aware timestamps.

Comparison bases: the year-on-year base is the same bucket a year earlier (none for 29
February or an ISO week 53 the year before lacks); the period-on-period base is the bucket
just before, of the same kind (for a shift, the same shift of the previous day; for a custom
span, the span of the same duration ending where it starts).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from ems.actuals.models import MINUTES_PER_DAY, Shift
from ems.errors import InvalidInput
from ems.telemetry.calendar import Grain, bucket_end, bucket_start


class Period(StrEnum):
    """The kinds of report bucket."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    SHIFT = "shift"
    CUSTOM = "custom"


# The most buckets one request may ask for: a year of days, a month of hours, and so on.
# Longer reports are exports, not requests.
MAX_BUCKETS = {
    Period.HOUR: 744,
    Period.DAY: 366,
    Period.WEEK: 106,
    Period.MONTH: 120,
    Period.QUARTER: 40,
    Period.YEAR: 10,
}
MAX_SHIFT_DAYS = 31
MAX_CUSTOM_DAYS = 3660
# Nothing is metered before the platform existed, and no coefficient is seeded before 2021:
# the window only keeps calendar arithmetic (and a year back) well inside datetime's range.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)
DATE_PERIODS = (Period.DAY, Period.WEEK, Period.MONTH, Period.QUARTER, Period.YEAR)
_QUARTER = timedelta(minutes=15)
_TICK = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Bound = date | datetime
Tile = tuple[Grain, datetime, datetime]


@dataclass(frozen=True)
class Bucket:
    """One report bucket [start, end) (aware UTC instants)."""

    start: datetime
    end: datetime
    label: str
    shift_id: int | None = None
    day: date | None = None  # the production day of a shift bucket

    @property
    def key(self) -> tuple[datetime, datetime]:
        """Buckets with equal bounds hold the same figures."""
        return (self.start, self.end)


@dataclass(frozen=True)
class Span:
    """A requested bucket and its comparison bases (None where no base exists)."""

    bucket: Bucket
    year_before: Bucket | None
    previous: Bucket | None


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields={f"query.{field}": [message]})


def parse_bound(text: str, field: str) -> Bound:
    """``2026-01-01`` (a local date) or an ISO 8601 timestamp with its UTC offset."""
    text = text.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(field, "a date (YYYY-MM-DD) or a timestamp with offset") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _invalid(field, "a timestamp needs its UTC offset (e.g. +08:00), or give a date")
    return moment


def query_bounds(query: Mapping[str, Any]) -> tuple[Bound | None, Bound | None]:
    """The ``from`` and ``to`` of a loaded period query, parsed (absent ones stay None)."""
    start = parse_bound(query["start"], "from") if "start" in query else None
    end = parse_bound(query["end"], "to") if "end" in query else None
    return start, end


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant the local ``day`` begins (midnight, or later where midnight is skipped)."""
    return bucket_start(datetime.combine(day, time(12), tzinfo=tz), Grain.D1, tz)


def _as_instant(bound: Bound, tz: ZoneInfo) -> datetime:
    if isinstance(bound, datetime):
        return bound.astimezone(UTC)
    return day_start(bound, tz)


def _in_window(bound: Bound, field: str, tz: ZoneInfo) -> None:
    local = bound.astimezone(tz).date() if isinstance(bound, datetime) else bound
    if not EARLIEST <= local <= LATEST:
        raise _invalid(field, f"must lie between {EARLIEST} and {LATEST}")


# --- calendar periods ---------------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def advance(day: date, period: Period, steps: int = 1) -> date:
    """The start of the bucket ``steps`` buckets after the one starting on ``day``."""
    if period is Period.DAY:
        return day + timedelta(days=steps)
    if period is Period.WEEK:
        return day + timedelta(weeks=steps)
    months = {Period.MONTH: 1, Period.QUARTER: 3, Period.YEAR: 12}[period]
    return _add_months(day, months * steps)


def containing(day: date, period: Period) -> date:
    """The first day of the ``period`` bucket holding ``day``."""
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    if period is Period.MONTH:
        return day.replace(day=1)
    if period is Period.QUARTER:
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)


ALIGNMENT = {
    Period.DAY: "a date",
    Period.WEEK: "a Monday (ISO week)",
    Period.MONTH: "the first day of a month",
    Period.QUARTER: "the first day of a quarter (1 Jan, 1 Apr, 1 Jul, 1 Oct)",
    Period.YEAR: "1 January",
}


def label(day: date, period: Period) -> str:
    """``2026-03-05``, ``2026-W10``, ``2026-03``, ``2026-Q1``, ``2026``."""
    if period is Period.DAY:
        return day.isoformat()
    if period is Period.WEEK:
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if period is Period.MONTH:
        return f"{day.year}-{day.month:02d}"
    if period is Period.QUARTER:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def _year_before(day: date, period: Period) -> date | None:
    try:
        if period is Period.WEEK:
            iso = day.isocalendar()
            return date.fromisocalendar(iso.year - 1, iso.week, 1)
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February, or week 53 of a year that has 52
        return None


def _date_bound(value: Bound, field: str, period: Period) -> date:
    if isinstance(value, datetime):
        raise _invalid(field, f"a {period.value} period takes a local date (YYYY-MM-DD)")
    if containing(value, period) != value:
        raise _invalid(field, f"must be {ALIGNMENT[period]}")
    return value


def _date_bucket(day: date, period: Period, tz: ZoneInfo) -> Bucket:
    end = advance(day, period)
    return Bucket(day_start(day, tz), day_start(end, tz), label(day, period))


def _date_spans(
    period: Period, start: Bound | None, end: Bound | None, today: date, tz: ZoneInfo
) -> list[Span]:
    first = containing(today, period) if start is None else _date_bound(start, "from", period)
    stop = advance(first, period) if end is None else _date_bound(end, "to", period)
    if stop <= first:
        raise _invalid("to", "must be after 'from'")
    days: list[date] = [first]
    while (following := advance(days[-1], period)) < stop:
        days.append(following)
        if len(days) > MAX_BUCKETS[period]:
            raise _invalid("to", f"at most {MAX_BUCKETS[period]} {period.value} buckets")
    spans = []
    for day in days:
        base = _year_before(day, period)
        spans.append(
            Span(
                _date_bucket(day, period, tz),
                None if base is None else _date_bucket(base, period, tz),
                _date_bucket(advance(day, period, -1), period, tz),
            )
        )
    return spans


# --- hours, custom spans, shifts ----------------------------------------------------------


def _local_year_before(moment: datetime, tz: ZoneInfo) -> datetime | None:
    local = moment.astimezone(tz)
    try:
        return local.replace(year=local.year - 1, fold=0).astimezone(UTC)
    except ValueError:
        return None


def _hour_bucket(start: datetime, tz: ZoneInfo) -> Bucket:
    return Bucket(
        start, bucket_end(start, Grain.H1, tz), start.astimezone(tz).isoformat(timespec="minutes")
    )


def _hour_spans(start: Bound | None, end: Bound | None, now: datetime, tz: ZoneInfo) -> list[Span]:
    first = bucket_start(now, Grain.H1, tz) if start is None else _as_instant(start, tz)
    if bucket_start(first, Grain.H1, tz) != first:
        raise _invalid("from", "must be the start of a local hour")
    stop = bucket_end(first, Grain.H1, tz) if end is None else _as_instant(end, tz)
    if bucket_start(stop, Grain.H1, tz) != stop:
        raise _invalid("to", "must be the start of a local hour")
    if stop <= first:
        raise _invalid("to", "must be after 'from'")
    if stop - first > timedelta(hours=MAX_BUCKETS[Period.HOUR] + 2):
        raise _invalid("to", f"at most {MAX_BUCKETS[Period.HOUR]} hour buckets")
    spans = []
    current = first
    while current < stop:
        bucket = _hour_bucket(current, tz)
        base = _local_year_before(current, tz)
        spans.append(
            Span(
                bucket,
                None if base is None else _hour_bucket(bucket_start(base, Grain.H1, tz), tz),
                _hour_bucket(bucket_start(current - _TICK, Grain.H1, tz), tz),
            )
        )
        current = bucket.end
    return spans


def _on_quarter(moment: datetime, field: str) -> None:
    if (moment - _EPOCH) % _QUARTER:
        raise _invalid(field, "must be a multiple of 15 minutes (the finest rollup)")


def _custom_label(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    return "/".join(m.astimezone(tz).isoformat(timespec="minutes") for m in (start, end))


def _custom_spans(start: Bound | None, end: Bound | None, tz: ZoneInfo) -> list[Span]:
    if start is None or end is None:
        raise _invalid("from" if start is None else "to", "required for a custom period")
    low, high = _as_instant(start, tz), _as_instant(end, tz)
    _on_quarter(low, "from")
    _on_quarter(high, "to")
    if high <= low:
        raise _invalid("to", "must be after 'from'")
    if high - low > timedelta(days=MAX_CUSTOM_DAYS):
        raise _invalid("to", f"a custom period spans at most {MAX_CUSTOM_DAYS} days")
    length = high - low
    base_low, base_high = _local_year_before(low, tz), _local_year_before(high, tz)
    year_before = None
    if base_low is not None and base_high is not None and base_low < base_high:
        year_before = Bucket(base_low, base_high, _custom_label(base_low, base_high, tz))
    previous = Bucket(low - length, low, _custom_label(low - length, low, tz))
    return [Span(Bucket(low, high, _custom_label(low, high, tz)), year_before, previous)]


def shift_bounds(shift: Shift, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants a shift of production ``day`` starts and ends."""
    first = day - timedelta(days=1) if shift.starts_previous_day else day
    # End at or before the start: the shift runs past midnight (equal: a 24-hour shift).
    length = (shift.end_minute - shift.start_minute) % MINUTES_PER_DAY or MINUTES_PER_DAY
    finish = shift.start_minute + length
    # Wall-clock times converted one by one, so a DST change inside a shift gives it its
    # real length.
    start = datetime.combine(first, _clock(shift.start_minute), tzinfo=tz)
    end_day = first + timedelta(days=finish // MINUTES_PER_DAY)
    end = datetime.combine(end_day, _clock(finish % MINUTES_PER_DAY), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def _shift_bucket(shift: Shift, day: date, tz: ZoneInfo) -> Bucket:
    start, end = shift_bounds(shift, day, tz)
    return Bucket(start, end, f"{day.isoformat()} {shift.name}", shift.id, day)


def _shift_spans(
    start: Bound | None, end: Bound | None, today: date, tz: ZoneInfo, shifts: Sequence[Shift]
) -> list[Span]:
    if not shifts:
        raise _invalid("period", "no shifts are defined: add them under /shifts first")
    first = today if start is None else _date_bound(start, "from", Period.DAY)
    stop = first + timedelta(days=1) if end is None else _date_bound(end, "to", Period.DAY)
    if stop <= first:
        raise _invalid("to", "must be after 'from'")
    if (stop - first).days > MAX_SHIFT_DAYS:
        raise _invalid("to", f"a shift report covers at most {MAX_SHIFT_DAYS} days")
    spans = []
    for offset in range((stop - first).days):
        day = first + timedelta(days=offset)
        base = _year_before(day, Period.DAY)
        for shift in shifts:
            spans.append(
                Span(
                    _shift_bucket(shift, day, tz),
                    None if base is None else _shift_bucket(shift, base, tz),
                    _shift_bucket(shift, day - timedelta(days=1), tz),
                )
            )
    return spans


def plan(
    period: Period,
    start: Bound | None,
    end: Bound | None,
    tz: ZoneInfo,
    now: datetime,
    shifts: Sequence[Shift] = (),
) -> list[Span]:
    """The requested buckets with their comparison bases.

    ``start`` / ``end`` absent: the bucket holding ``now`` (custom periods need both).
    Raises :class:`InvalidInput` naming ``query.from``, ``query.to`` or ``query.period``.
    """
    for bound, field in ((start, "from"), (end, "to")):
        if bound is not None:
            _in_window(bound, field, tz)
    today = now.astimezone(tz).date()
    if period in DATE_PERIODS:
        return _date_spans(period, start, end, today, tz)
    if period is Period.HOUR:
        return _hour_spans(start, end, now, tz)
    if period is Period.SHIFT:
        return _shift_spans(start, end, today, tz, shifts)
    return _custom_spans(start, end, tz)


# --- tiling -------------------------------------------------------------------------------


def _split(
    start: datetime, end: datetime, grain: Grain, tz: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """The whole ``grain`` buckets inside [start, end): (first start, last end), or None."""
    first = start if bucket_start(start, grain, tz) == start else bucket_end(start, grain, tz)
    last = bucket_start(end, grain, tz)
    return (first, last) if first < last else None


def tiles(start: datetime, end: datetime, tz: ZoneInfo) -> list[Tile]:
    """Rollup rows that cover [start, end) exactly, coarsest first: whole local days as 1d
    rows, then whole hours as 1h rows at the edges, then quarter hours.

    Each tile ``(grain, low, high)`` stands for the rows of that grain starting in
    [low, high). Months (1mo rows) are never used, so each day keeps its own coefficient.
    """
    out: list[Tile] = []
    days = _split(start, end, Grain.D1, tz)
    edges = [(start, end)] if days is None else [(start, days[0]), (days[1], end)]
    if days is not None:
        out.append((Grain.D1, *days))
    for low, high in edges:
        if low >= high:
            continue
        hours = _split(low, high, Grain.H1, tz)
        if hours is None:
            out.append((Grain.M15, low, high))
            continue
        out.append((Grain.H1, *hours))
        for a, b in ((low, hours[0]), (hours[1], high)):
            if a < b:
                out.append((Grain.M15, a, b))
    return out


def merge(ranges: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching ranges joined, in order."""
    out: list[tuple[datetime, datetime]] = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def select_sorted(starts: Sequence[datetime], low: datetime, high: datetime) -> slice:
    """The slice of sorted ``starts`` that lie in [low, high)."""
    return slice(bisect.bisect_left(starts, low), bisect.bisect_left(starts, high))
