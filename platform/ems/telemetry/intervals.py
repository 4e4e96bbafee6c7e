"""From the raw readings of one point to 15-minute interval values (no database).

Cumulative points (energy counters) become :class:`Interval` consumption:
each pair of consecutive readings gives a *step* (the counter difference,
corrected for a register rollover or a recorded meter replacement), and the
step is attributed to the UTC quarter hours it spans in proportion to time.
Energy is never lost or invented: summed over whole steps, the intervals equal
the counter differences. What could not be measured is flagged, not guessed:

* a negative step with no rollover or replacement to explain it counts 0 and is
  flagged NEGATIVE (the next step continues from the new value);
* a *gap* (readings further apart than ``CounterSpec.max_gap``) is either spread
  linearly (``fill_gaps``) and flagged ESTIMATED|GAP, or put wholly into the
  quarter hour of the later reading, flagged GAP, with GAP-flagged zeros in
  between. In both cases **every quarter hour the gap step touches** carries
  GAP - including the one holding the earlier reading, whose tail lies in the
  hole - so the flags show exactly which values depend on the gap.

Instantaneous points (power, temperature) become :class:`Sample` statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, IntFlag
from itertools import pairwise
from zoneinfo import ZoneInfo

from ems.telemetry.calendar import Grain, bucket_start

__all__ = [
    "CounterSpec",
    "Flag",
    "Interval",
    "Quality",
    "Reading",
    "Replacement",
    "Sample",
    "combine_intervals",
    "combine_samples",
    "cumulative_intervals",
    "instantaneous_samples",
]

QUARTER = timedelta(minutes=15)
_UTC_ZONE = ZoneInfo("UTC")
_MICROSECOND = timedelta(microseconds=1)


class Quality(IntEnum):
    """Quality of a reading as delivered by the edge or entered by hand."""

    VALID = 0
    ESTIMATED = 1
    SUSPECT = 2
    MANUAL = 3


class Flag(IntFlag):
    """What happened to the value of an interval or sample (combinable)."""

    ROLLOVER = 1
    REPLACEMENT = 2
    NEGATIVE = 4
    GAP = 8
    ESTIMATED = 16
    SUSPECT = 32
    # Entered by hand (DB53/T 1026: a manual figure stays marked as manual in every figure
    # built on it). Trusted like a metered value, so it is neither SUSPECT nor ESTIMATED.
    MANUAL = 64


_NO_FLAGS = Flag(0)


def _as_utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _finite(value: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Reading:
    """One raw reading of a point; ``ts`` is normalised to UTC."""

    ts: datetime
    value: float
    quality: Quality = Quality.VALID

    def __post_init__(self) -> None:
        # Validated here once, so the functions below can trust every Reading.
        object.__setattr__(self, "ts", _as_utc(self.ts, "Reading.ts"))
        object.__setattr__(self, "value", _finite(self.value, "Reading.value"))
        try:
            quality = Quality(self.quality)
        except ValueError:
            raise ValueError(f"Reading.quality must be 0..3, got {self.quality!r}") from None
        object.__setattr__(self, "quality", quality)


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """How to read a cumulative register.

    ``rollover_max``: the register's modulus (it wraps to 0 after it), or None.
    ``max_gap``: the longest spacing of consecutive readings that is still
    normal (e.g. twice the polling interval, at least 15 minutes).
    ``fill_gaps``: spread a longer step linearly instead of booking it at its end.
    """

    rollover_max: float | None
    max_gap: timedelta
    fill_gaps: bool

    def __post_init__(self) -> None:
        if self.rollover_max is not None:
            rollover = _finite(self.rollover_max, "CounterSpec.rollover_max")
            if rollover <= 0:
                raise ValueError(f"CounterSpec.rollover_max must be positive, got {rollover!r}")
            object.__setattr__(self, "rollover_max", rollover)
        if self.max_gap <= timedelta(0):
            raise ValueError(f"CounterSpec.max_gap must be positive, got {self.max_gap}")


@dataclass(frozen=True, slots=True)
class Replacement:
    """A meter replacement from the meter ledger.

    At ``at`` the old meter's last reading was ``old_final`` and the new meter
    started counting from ``new_initial``.
    """

    at: datetime
    old_final: float
    new_initial: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _as_utc(self.at, "Replacement.at"))
        object.__setattr__(self, "old_final", _finite(self.old_final, "Replacement.old_final"))
        object.__setattr__(
            self, "new_initial", _finite(self.new_initial, "Replacement.new_initial")
        )


@dataclass(frozen=True, slots=True)
class Interval:
    """Consumption of a cumulative point in the bucket starting at ``start`` (UTC).

    ``count`` is the number of readings whose ts falls in the bucket.
    """

    start: datetime
    consumption: float
    count: int
    flags: Flag


@dataclass(frozen=True, slots=True)
class Sample:
    """Statistics of an instantaneous point in the bucket starting at ``start`` (UTC)."""

    start: datetime
    minimum: float
    maximum: float
    mean: float
    count: int
    flags: Flag


@dataclass(slots=True)
class _Bucket:
    """A quarter hour being accumulated: its parts are summed with fsum at the end."""

    parts: list[float] = field(default_factory=list)
    count: int = 0
    flags: Flag = _NO_FLAGS


def _quarter(instant: datetime) -> datetime:
    return bucket_start(instant, Grain.M15, _UTC_ZONE)


def _ordered(readings: Sequence[Reading]) -> list[Reading]:
    """Readings sorted by ts, each ts once.

    Late data makes out-of-order input normal. The same reading delivered twice
    is kept once; two different values for one ts are a caller error.
    """
    by_ts: dict[datetime, Reading] = {}
    for reading in readings:
        seen = by_ts.setdefault(reading.ts, reading)
        if seen != reading:
            raise ValueError(
                f"readings contain two different values at {reading.ts.isoformat()}: "
                f"{seen.value!r} ({seen.quality.name}) and {reading.value!r} "
                f"({reading.quality.name})"
            )
    return [by_ts[ts] for ts in sorted(by_ts)]


def _window(window: tuple[datetime, datetime] | None) -> tuple[datetime, datetime] | None:
    if window is None:
        return None
    start, end = _as_utc(window[0], "window start"), _as_utc(window[1], "window end")
    if end < start:
        raise ValueError(
            f"window end ({end.isoformat()}) must not be before its start ({start.isoformat()})"
        )
    return start, end


def _quality_flags(*readings: Reading) -> Flag:
    flags = _NO_FLAGS
    for reading in readings:
        if reading.quality is Quality.SUSPECT:
            flags |= Flag.SUSPECT
        elif reading.quality is Quality.ESTIMATED:
            flags |= Flag.ESTIMATED
        elif reading.quality is Quality.MANUAL:
            flags |= Flag.MANUAL
    return flags


def _step(
    a: Reading, b: Reading, spec: CounterSpec, replacements: Sequence[Replacement]
) -> tuple[float, Flag]:
    """The counter step from ``a`` to ``b`` and the flags it carries."""
    flags = _quality_flags(a, b)
    swaps = [r for r in replacements if a.ts < r.at <= b.ts]
    if swaps:
        # The ledger is authoritative whatever the sign of the raw difference: a
        # new meter whose base is above the old reading would otherwise pass as
        # a plain positive step. Several swaps in one step are chained.
        parts = [swaps[0].old_final - a.value, b.value - swaps[-1].new_initial]
        parts.extend(later.old_final - earlier.new_initial for earlier, later in pairwise(swaps))
        amount = math.fsum(parts)
        flags |= Flag.REPLACEMENT
        if amount < 0:  # the ledger and the readings disagree: flag, do not guess
            return 0.0, flags | Flag.NEGATIVE
        return amount, flags
    difference = b.value - a.value
    if difference >= 0:
        return difference, flags
    top = spec.rollover_max
    if top is not None and a.value >= 0.5 * top and b.value < 0.5 * top:
        return (top - a.value) + b.value, flags | Flag.ROLLOVER
    # A reset or a wrong reading: nothing is known about the consumption.
    return 0.0, flags | Flag.NEGATIVE


def _spread(begin: datetime, end: datetime, amount: float) -> Iterator[tuple[datetime, float]]:
    """``amount`` over the quarter hours overlapping [begin, end), in proportion to time.

    The last share is the remainder, so the shares add up to ``amount`` itself.
    """
    total = (end - begin) // _MICROSECOND
    shares: list[tuple[datetime, int]] = []
    start = _quarter(begin)
    while start < end:
        overlap = min(start + QUARTER, end) - max(start, begin)
        shares.append((start, overlap // _MICROSECOND))
        start += QUARTER
    given: list[float] = []
    for start, micros in shares[:-1]:
        part = amount * micros / total
        given.append(part)
        yield start, part
    yield shares[-1][0], amount - math.fsum(given)


def _keep(start: datetime, bounds: tuple[datetime, datetime] | None) -> bool:
    return bounds is None or bounds[0] <= start < bounds[1]


def cumulative_intervals(
    readings: Sequence[Reading],
    spec: CounterSpec,
    replacements: Sequence[Replacement] = (),
    *,
    window: tuple[datetime, datetime] | None = None,
) -> list[Interval]:
    """Quarter-hour consumption of one cumulative point, in start order.

    Every quarter hour from the one holding the first reading to the one holding
    the last appears (0.0 when nothing was used). ``window=(start, end)`` keeps
    only quarter hours whose start is in [start, end); pass readings from one
    before to one after the window so its edge steps are complete. See the
    module docstring for rollovers, replacements, negative steps and gaps.
    """
    ordered = _ordered(readings)
    bounds = _window(window)
    swaps = sorted(replacements, key=lambda replacement: replacement.at)
    if not ordered:
        return []
    buckets: dict[datetime, _Bucket] = {}
    start, last = _quarter(ordered[0].ts), _quarter(ordered[-1].ts)
    while start <= last:
        buckets[start] = _Bucket()
        start += QUARTER
    for reading in ordered:
        buckets[_quarter(reading.ts)].count += 1
    for a, b in pairwise(ordered):
        amount, flags = _step(a, b, spec, swaps)
        if b.ts - a.ts > spec.max_gap:
            flags |= Flag.GAP
            if not spec.fill_gaps:
                # Booked where it was measured; the hole shows as GAP-flagged zeros.
                for touched, _ in _spread(a.ts, b.ts, 0.0):
                    buckets[touched].flags |= Flag.GAP
                target = buckets[_quarter(b.ts)]
                target.parts.append(amount)
                target.flags |= flags
                continue
            flags |= Flag.ESTIMATED
        for touched, part in _spread(a.ts, b.ts, amount):
            buckets[touched].parts.append(part)
            buckets[touched].flags |= flags
    return [
        Interval(start, math.fsum(bucket.parts), bucket.count, bucket.flags)
        for start, bucket in buckets.items()
        if _keep(start, bounds)
    ]


def instantaneous_samples(
    readings: Sequence[Reading], *, window: tuple[datetime, datetime] | None = None
) -> list[Sample]:
    """Quarter-hour minimum, maximum, mean and count of one instantaneous point.

    Only quarter hours holding readings appear (an empty one has no minimum).
    A sample is flagged SUSPECT / ESTIMATED if any of its readings is.
    ``window`` keeps only quarter hours whose start is in [start, end).
    """
    bounds = _window(window)
    groups: dict[datetime, list[Reading]] = {}
    for reading in _ordered(readings):
        groups.setdefault(_quarter(reading.ts), []).append(reading)
    samples: list[Sample] = []
    for start, group in groups.items():
        if not _keep(start, bounds):
            continue
        values = [reading.value for reading in group]
        samples.append(
            Sample(
                start,
                min(values),
                max(values),
                math.fsum(values) / len(values),
                len(values),
                _quality_flags(*group),
            )
        )
    return samples


def combine_intervals(children: Sequence[Interval], start: datetime) -> Interval:
    """One coarser interval starting at ``start``: summed consumption and count, OR-ed flags."""
    flags = _NO_FLAGS
    for child in children:
        flags |= child.flags
    return Interval(
        _as_utc(start, "start"),
        math.fsum(child.consumption for child in children),
        sum(child.count for child in children),
        flags,
    )


def combine_samples(children: Sequence[Sample], start: datetime) -> Sample:
    """One coarser sample starting at ``start``: min of minima, max of maxima, count-weighted mean.

    Raises ValueError when there is nothing to combine (no readings at all).
    """
    begin = _as_utc(start, "start")
    count = sum(child.count for child in children)
    if count <= 0:
        raise ValueError("combine_samples needs at least one child sample with readings")
    flags = _NO_FLAGS
    for child in children:
        flags |= child.flags
    return Sample(
        begin,
        min(child.minimum for child in children),
        max(child.maximum for child in children),
        math.fsum(child.mean * child.count for child in children) / count,
        count,
        flags,
    )
