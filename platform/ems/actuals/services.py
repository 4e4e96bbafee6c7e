"""Energy actuals by category (能耗实绩-分类, DB53/T 1026 §4.2.2), read from the rollups.

Metered quantities come from ``category_rollups`` only (never from raw readings): each
bucket is tiled by whole local days (1d rows), then hours and quarter hours at its edges
(:func:`ems.actuals.periods.tiles`). Manual period quantities are added to their energy
type, spread evenly by time over their period. Each local day's quantity is converted to tce
at that day's coefficient (:mod:`ems.actuals.conversion`).

The session is the tenant's and nothing here writes. Figures are rounded only when shown
(:func:`fixed`): quantities to 3 decimals, tce to 4, percentages to 2, half up (四舍五入).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, and_, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from ems.actuals.conversion import CoefficientBook, Run, TypeTce, load_catalogue
from ems.actuals.models import ManualQuantity
from ems.actuals.periods import (
    Bucket,
    Tile,
    day_start,
    select_sorted,
    tiles,
)
from ems.energy.coefficients import UNITS, convert
from ems.energy.models import EnergyType
from ems.telemetry.calendar import Grain
from ems.telemetry.intervals import Flag
from ems.telemetry.models import Point, PointKind
from ems.telemetry.rollup_models import CategoryRollup

QUANTITY_PLACES = 3
TCE_PLACES = 4
PERCENT_PLACES = 2
# Rows between two wanted ranges closer than this are read too (and left unused): a few
# extra rows cost less than another branch in the query.
_READ_THROUGH = {
    Grain.M15: timedelta(hours=6),
    Grain.H1: timedelta(days=2),
    Grain.D1: timedelta(days=62),
}
# Wide enough for any float a rollup can hold, so rounding never overflows the context.
_WIDE = Context(prec=400, Emax=999_999, Emin=-999_999)
_HUNDRED = Decimal(100)


_STEPS = {places: Decimal(1).scaleb(-places) for places in range(10)}


def fixed(value: Decimal | None, places: int) -> str | None:
    """``value`` rounded half up to ``places`` decimals, as a string (None stays None)."""
    if value is None:
        return None
    return str(value.quantize(_STEPS[places], rounding=ROUND_HALF_UP, context=_WIDE))


def change_pct(current: Decimal | None, base: Decimal | None) -> Decimal | None:
    """(current - base) / base x 100; None when either is unknown or the base is zero."""
    if current is None or base is None or base == 0:
        return None
    return (current - base) / base * _HUNDRED


@functools.cache
def _flag_names(mask: int) -> tuple[str, ...]:
    return tuple(str(flag.name).lower() for flag in Flag if mask & flag)


def flag_names(mask: int) -> list[str]:
    """The names of the rollup flags set in ``mask`` (``gap``, ``estimated``, ``manual``...)."""
    return list(_flag_names(mask))


# --- reading ------------------------------------------------------------------------------


@dataclass
class Line:
    """One energy type (in one unit) within one bucket, as it is being summed."""

    energy_type: str
    unit: str
    # Runs of rollup rows (a slice of one category's rows each; kWh and MWh rows both land
    # in a kWh line, each run with its factor), and manual quantities per local day.
    runs: list[Run] = field(default_factory=list)
    entered: dict[date, Decimal] = field(default_factory=dict)
    points: int = 0
    flags: int = 0
    manual_ids: set[int] = field(default_factory=set)
    result: TypeTce | None = None

    @property
    def manual(self) -> bool:
        """Whether any manual reading or manual quantity went into the figure."""
        return bool(self.manual_ids) or bool(self.flags & Flag.MANUAL)


@dataclass
class Figures:
    """A bucket's figures: one line per energy type, the total and what it lacks."""

    bucket: Bucket
    lines: dict[tuple[str, str], Line]
    total_tce: Decimal = Decimal(0)
    missing: list[str] = field(default_factory=list)

    @property
    def flags(self) -> int:
        """Every flag of every line."""
        mask = 0
        for line in self.lines.values():
            mask |= line.flags
        return mask

    @property
    def manual(self) -> bool:
        """Whether any line uses a manual figure."""
        return any(line.manual for line in self.lines.values())


@dataclass
class Series:
    """One category's rollup rows of one grain, as columns in start order."""

    starts: list[datetime] = field(default_factory=list)
    days: list[date] = field(default_factory=list)  # the local day of each start
    values: list[float] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)


Rows = dict[Grain, dict[tuple[str, str], Series]]


class _Context:
    """What one computation reads once: the tenant's zone, units, local days of instants."""

    def __init__(self, tz: ZoneInfo, catalogue: dict[str, EnergyType]) -> None:
        self.tz = tz
        self.catalogue = catalogue
        self._days: dict[datetime, date] = {}
        self._starts: dict[date, datetime] = {}
        self._units: dict[tuple[str, str], tuple[str, Decimal | None]] = {}

    def day_of(self, instant: datetime) -> date:
        found = self._days.get(instant)
        if found is None:
            found = self._days[instant] = instant.astimezone(self.tz).date()
        return found

    def start_of(self, day: date) -> datetime:
        found = self._starts.get(day)
        if found is None:
            found = self._starts[day] = day_start(day, self.tz)
        return found

    def target(self, energy_type: str, unit: str) -> tuple[str, Decimal | None]:
        """The catalogue unit a quantity in ``unit`` is shown in, and the factor to it.

        A unit that cannot be converted (unknown, or another dimension) stays as it is.
        """
        key = (energy_type, unit)
        found = self._units.get(key)
        if found is None:
            kind = self.catalogue.get(energy_type)
            found = (unit, None)
            if (
                kind is not None
                and kind.unit != unit
                and kind.unit in UNITS
                and UNITS.get(unit, ("", 0))[0] == UNITS[kind.unit][0]
            ):
                found = (kind.unit, convert(Decimal(1), unit, kind.unit))
            self._units[key] = found
        return found


def categories(session: Session, energy_types: set[str] | None) -> list[tuple[str, str]]:
    """The (energy type, unit) pairs that can have category rows: those of cumulative points
    that count in totals.

    Read from ``points`` (small) so that the rollup query names every key column of the
    category index instead of scanning it.
    """
    stmt = select(Point.energy_type, Point.unit).where(
        Point.kind == PointKind.CUMULATIVE, Point.in_category_total.is_(True)
    )
    if energy_types is not None:
        stmt = stmt.where(Point.energy_type.in_(sorted(energy_types)))
    return sorted({(energy_type, unit) for energy_type, unit in session.execute(stmt.distinct())})


def _read_ranges(tilings: Iterable[list[Tile]]) -> dict[Grain, list[tuple[datetime, datetime]]]:
    wanted: dict[Grain, list[tuple[datetime, datetime]]] = {}
    for tiling in tilings:
        for grain, low, high in tiling:
            wanted.setdefault(grain, []).append((low, high))
    merged: dict[Grain, list[tuple[datetime, datetime]]] = {}
    for grain, spans in wanted.items():
        out: list[tuple[datetime, datetime]] = []
        for low, high in sorted(spans):
            if out and low <= out[-1][1] + _READ_THROUGH[grain]:
                out[-1] = (out[-1][0], max(out[-1][1], high))
            else:
                out.append((low, high))
        merged[grain] = out
    return merged


def category_rows(
    session: Session,
    ctx: _Context,
    keys: Sequence[tuple[str, str]],
    ranges: dict[Grain, list[tuple[datetime, datetime]]],
) -> Rows:
    """Category rollup rows of ``keys`` in ``ranges``, per grain and key, sorted by start."""
    c = CategoryRollup
    conditions = [
        and_(
            c.energy_type == energy_type,
            c.unit == unit,
            c.grain == grain.value,
            c.start >= low,
            c.start < high,
        )
        for grain, spans in ranges.items()
        for low, high in spans
        for energy_type, unit in keys
    ]
    out: Rows = {g: {} for g in Grain}
    if not conditions:
        return out
    # One row per category and grain, its rows as arrays in time order: the driver parses
    # arrays in C, where thousands of rows would each cost a Python row object. The plain
    # column type: the driver already gives aware datetimes, and converting each one to UTC
    # again costs more than the query.
    start = type_coerce(c.start, DateTime(timezone=True))

    def column(value: Any) -> Any:
        return func.array_agg(aggregate_order_by(value, c.start))

    stmt = (
        select(
            c.grain,
            c.energy_type,
            c.unit,
            column(start),
            column(c.consumption),
            column(c.points),
            column(c.flags),
        )
        .where(or_(*conditions))
        .group_by(c.grain, c.energy_type, c.unit)
    )
    grains = {g.value: g for g in Grain}
    # A Core execution on the session's connection (same transaction, same schema map).
    found = session.connection().execute(stmt)
    for grain, energy_type, unit, starts, values, points, flags in found:
        # Local days by the same zone rules as the rollups' buckets (Python's, not the
        # database's tz data, which may be another release).
        days = [ctx.day_of(instant) for instant in starts]
        out[grains[grain]][(energy_type, unit)] = Series(starts, days, values, points, flags)
    return out


def manual_entries(
    session: Session, first: date, end: date, energy_types: set[str] | None
) -> list[ManualQuantity]:
    """Manual quantities whose period meets the local days [first, end)."""
    stmt = select(ManualQuantity).where(
        ManualQuantity.period_from < end, ManualQuantity.period_to > first
    )
    if energy_types is not None:
        stmt = stmt.where(ManualQuantity.energy_type.in_(sorted(energy_types)))
    return list(session.scalars(stmt.order_by(ManualQuantity.id)))


# --- summing ------------------------------------------------------------------------------


def _line(ctx: _Context, lines: dict[tuple[str, str], Line], energy_type: str, unit: str) -> Line:
    """The line quantities of ``energy_type`` in ``unit`` are added to."""
    target, _ = ctx.target(energy_type, unit)
    line = lines.get((energy_type, target))
    if line is None:
        line = lines[(energy_type, target)] = Line(energy_type, target)
    return line


def _add_metered(
    ctx: _Context, lines: dict[tuple[str, str], Line], tiling: list[Tile], rows: Rows
) -> None:
    for grain, low, high in tiling:
        for (energy_type, unit), series in rows[grain].items():
            span = select_sorted(series.starts, low, high)
            if span.start == span.stop:
                continue
            line = _line(ctx, lines, energy_type, unit)
            # Slices, not rows: the sums are taken per coefficient period (conversion.Run).
            factor = ctx.target(energy_type, unit)[1]
            line.runs.append(Run(factor, series.days[span], series.values[span]))
            line.points = max(line.points, *series.points[span])
            for flags in set(series.flags[span]):
                line.flags |= flags


def spread(
    ctx: _Context, entry: ManualQuantity, start: datetime, end: datetime
) -> dict[date, Decimal]:
    """The part of a manual quantity that falls in [start, end), per local day, in
    proportion to time (a 23-hour DST day gets 23/24 of a normal day's share)."""
    low, high = ctx.start_of(entry.period_from), ctx.start_of(entry.period_to)
    a, b = max(low, start), min(high, end)
    out: dict[date, Decimal] = {}
    if a >= b:
        return out
    whole = Decimal(int((high - low).total_seconds()))
    if whole <= 0:  # a period of days the zone skipped entirely (Pacific/Apia, 2011-12-30)
        return out
    day = ctx.day_of(a)
    while (day_begin := ctx.start_of(day)) < b:
        part = min(ctx.start_of(day + timedelta(days=1)), b) - max(day_begin, a)
        if part > timedelta(0):
            out[day] = entry.quantity * Decimal(int(part.total_seconds())) / whole
        day += timedelta(days=1)
    return out


def _add_manual(
    ctx: _Context, lines: dict[tuple[str, str], Line], bucket: Bucket, entries: list[ManualQuantity]
) -> None:
    for entry in entries:
        parts = spread(ctx, entry, bucket.start, bucket.end)
        if not parts:
            continue
        line = _line(ctx, lines, entry.energy_type, entry.unit)
        _, factor = ctx.target(entry.energy_type, entry.unit)
        for day, amount in parts.items():
            converted = amount if factor is None else amount * factor
            line.entered[day] = line.entered.get(day, Decimal(0)) + converted
        line.manual_ids.add(entry.id)
        line.flags |= Flag.MANUAL


def _finish(bucket: Bucket, lines: dict[tuple[str, str], Line], book: CoefficientBook) -> Figures:
    figures = Figures(bucket, lines)
    missing = set()
    for line in lines.values():
        line.result = book.tce_runs(line.energy_type, line.unit, line.runs, line.entered)
        if line.result.tce is None:
            missing.add(line.energy_type)
        else:
            figures.total_tce += line.result.tce
    figures.missing = sorted(missing)
    return figures


def compute(
    session: Session,
    tz: ZoneInfo,
    region_code: str | None,
    buckets: Iterable[Bucket],
    energy_types: set[str] | None = None,
    electricity_basis: str | None = None,
    catalogue: dict[str, EnergyType] | None = None,
) -> dict[tuple[datetime, datetime], Figures]:
    """Figures of every distinct bucket, keyed by its bounds (equal buckets computed once)."""
    unique = {bucket.key: bucket for bucket in buckets}
    if not unique:
        return {}
    catalogue = catalogue if catalogue is not None else load_catalogue(session)
    ctx = _Context(tz, catalogue)
    tilings = {key: tiles(bucket.start, bucket.end, tz) for key, bucket in unique.items()}
    keys = categories(session, energy_types)
    rows = category_rows(session, ctx, keys, _read_ranges(tilings.values()))
    first = min(ctx.day_of(b.start) for b in unique.values())
    end = max(ctx.day_of(b.end - timedelta(microseconds=1)) for b in unique.values())
    end += timedelta(days=1)
    entries = manual_entries(session, first, end, energy_types)
    summed: dict[tuple[datetime, datetime], dict[tuple[str, str], Line]] = {}
    for key, bucket in unique.items():
        lines: dict[tuple[str, str], Line] = {}
        _add_metered(ctx, lines, tilings[key], rows)
        _add_manual(ctx, lines, bucket, entries)
        summed[key] = lines
    book = CoefficientBook(session, region_code, first, end, electricity_basis, catalogue)
    book.preload({k[0] for lines in summed.values() for k in lines})
    return {key: _finish(unique[key], lines, book) for key, lines in summed.items()}
