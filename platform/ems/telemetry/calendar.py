"""Calendar buckets (15 minutes, hour, day, month) cut in a tenant's time zone.

Every bucket is identified by the aware UTC datetime at which it starts; its end
is the next bucket's start. Hours, days and months follow the tenant's wall
clock, so a DST day in Europe/Berlin has 23 or 25 hour buckets, an hour in
Asia/Kolkata (+05:30) starts at UTC :30, and the repeated hour of a DST
fall-back is two distinct hour buckets (they differ in UTC offset), never one.

Quarter hours are cut in UTC: every real UTC offset is a multiple of 15 minutes,
so a UTC quarter hour is also a local one, and UTC arithmetic cannot stumble
over a repeated or skipped wall-clock time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = ["Grain", "bucket_end", "bucket_start", "buckets_between", "parent"]


class Grain(StrEnum):
    """The bucket sizes, finest first."""

    M15 = "15m"
    H1 = "1h"
    D1 = "1d"
    MO1 = "1mo"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUARTER = timedelta(minutes=15)
_HOUR = timedelta(hours=1)
# The resolution of datetime: the bisection for an offset change stops here.
_TICK = timedelta(microseconds=1)
_COARSER: dict[Grain, Grain] = {Grain.M15: Grain.H1, Grain.H1: Grain.D1, Grain.D1: Grain.MO1}


def _as_utc(value: datetime, name: str) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is refused, naming ``name``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _grain(grain: Grain | str) -> Grain:
    try:
        return Grain(grain)
    except ValueError:
        raise ValueError(f"grain must be one of 15m, 1h, 1d, 1mo, got {grain!r}") from None


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    if offset is None:  # pragma: no cover - a ZoneInfo always has an offset
        raise ValueError(f"time zone {tz} gives no UTC offset at {instant.isoformat()}")
    return offset


def _key(instant: datetime, grain: Grain, tz: ZoneInfo) -> tuple[object, ...]:
    """What identifies the local bucket of ``instant`` (hours, days and months).

    The hour key includes the UTC offset so the two passes through the repeated
    hour of a fall-back are different buckets.
    """
    local = instant.astimezone(tz)
    if grain is Grain.H1:
        return (local.date(), local.hour, local.utcoffset())
    if grain is Grain.D1:
        return (local.date(),)
    return (local.year, local.month)


def _wall_floor(local: datetime, grain: Grain) -> datetime:
    """The naive wall-clock time at which the local bucket of ``local`` begins."""
    if grain is Grain.H1:
        return datetime(local.year, local.month, local.day, local.hour)  # noqa: DTZ001
    if grain is Grain.D1:
        return datetime(local.year, local.month, local.day)  # noqa: DTZ001
    return datetime(local.year, local.month, 1)  # noqa: DTZ001


def _floor_quarter(instant: datetime) -> datetime:
    return instant - (instant - _EPOCH) % _QUARTER


def _zoned_start(instant: datetime, grain: Grain, tz: ZoneInfo) -> datetime:
    """Start (UTC) of the hour, day or month bucket holding the UTC ``instant``."""
    offset = _offset(instant, tz)
    # Assume the offset held since the wall-clock floor; it usually did. The
    # guess is right exactly when the offset at the guess is the same one.
    guess = (_wall_floor(instant.astimezone(tz), grain) - offset).replace(tzinfo=UTC)
    if _offset(guess, tz) == offset:
        return guess
    # An offset change (DST, a zone rule change) lies in (guess, instant]. Find
    # it by bisection: the offset at ``low`` differs, at ``high`` it is ours.
    low, high = guess, instant
    while high - low > _TICK:
        middle = low + (high - low) / 2
        if _offset(middle, tz) == offset:
            high = middle
        else:
            low = middle
    # A day or month continues before the change (the wall clock jumped within
    # it); an hour does not, because its key includes the offset.
    before = high - _TICK
    if _key(before, grain, tz) == _key(instant, grain, tz):
        return _zoned_start(before, grain, tz)
    return high


def bucket_start(instant: datetime, grain: Grain, tz: ZoneInfo) -> datetime:
    """The aware UTC datetime at which the ``grain`` bucket (in ``tz``) holding ``instant`` starts.

    Raises ValueError for a naive ``instant`` or an unknown grain.
    """
    moment = _as_utc(instant, "instant")
    size = _grain(grain)
    if size is Grain.M15:
        return _floor_quarter(moment)
    return _zoned_start(moment, size, tz)


def _probe_next(begin: datetime, grain: Grain, tz: ZoneInfo) -> datetime:
    """An instant that is very likely inside the bucket after the one starting at ``begin``."""
    if grain is Grain.H1:
        return begin + _HOUR
    local = begin.astimezone(tz).date()
    if grain is Grain.D1:
        following = local + timedelta(days=1)
    else:
        following = date(local.year + local.month // 12, local.month % 12 + 1, 1)
    # Noon, far from the midnight (and the small hours) where clocks change.
    return datetime.combine(following, time(12), tzinfo=tz).astimezone(UTC)


def bucket_end(start_utc: datetime, grain: Grain, tz: ZoneInfo) -> datetime:
    """The end (UTC) of the bucket holding ``start_utc``: the next bucket's start.

    Raises ValueError for a naive ``start_utc`` or an unknown grain.
    """
    moment = _as_utc(start_utc, "start_utc")
    size = _grain(grain)
    if size is Grain.M15:
        return _floor_quarter(moment) + _QUARTER
    begin = _zoned_start(moment, size, tz)
    probe = _probe_next(begin, size, tz)
    # The probe is only a guess (a day can be skipped, as Pacific/Apia did in
    # 2011): walk until the bucket found directly follows ours.
    while True:
        following = _zoned_start(probe, size, tz)
        if following <= begin:  # the probe fell inside our own (long) bucket
            probe += _HOUR
            continue
        if _zoned_start(following - _TICK, size, tz) == begin:
            return following
        probe = following - _TICK


def buckets_between(
    start_utc: datetime, end_utc: datetime, grain: Grain, tz: ZoneInfo
) -> list[datetime]:
    """Start (UTC) of every ``grain`` bucket that overlaps [``start_utc``, ``end_utc``), in order.

    An empty range gives an empty list; an end before the start is a ValueError,
    as is a naive datetime.
    """
    begin = _as_utc(start_utc, "start_utc")
    end = _as_utc(end_utc, "end_utc")
    if end < begin:
        raise ValueError(
            f"end_utc ({end.isoformat()}) must not be before start_utc ({begin.isoformat()})"
        )
    size = _grain(grain)
    starts: list[datetime] = []
    if end == begin:
        return starts
    current = bucket_start(begin, size, tz)
    while current < end:
        starts.append(current)
        current = bucket_end(current, size, tz)
    return starts


def parent(start_utc: datetime, grain: Grain, tz: ZoneInfo) -> tuple[Grain, datetime] | None:
    """The next coarser grain and the start (UTC) of its bucket holding ``start_utc``.

    15m -> 1h -> 1d -> 1mo; a month has no parent (None).
    """
    moment = _as_utc(start_utc, "start_utc")
    coarser = _COARSER.get(_grain(grain))
    if coarser is None:
        return None
    return coarser, _zoned_start(moment, coarser, tz)
