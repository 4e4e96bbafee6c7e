"""Physical quantities per energy type and local day to standard coal (折标准煤, GB/T 2589).

Each day's quantity is multiplied by the coefficient in force that day
(:func:`ems.energy.coefficients.segments` and :func:`~ems.energy.coefficients.tce_by_day`),
so a coefficient that changes in mid-month gives every day its own value, and a changed
coefficient changes every figure at the next read (decision 0013).

:func:`quantities_to_tce` is the one entry point for whoever has per-day quantities: the
actuals here, and the energy balance network (item 9), which decides which flows count in
comprehensive consumption (综合能耗: purchased energy less exports, without energy converted
in-house counted twice, without living use) and passes only those.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.energy import coefficients
from ems.energy.coefficients import Coefficient, CoefficientMissing
from ems.energy.models import EnergyType
from ems.errors import InvalidInput

Periods = list[tuple[date, date, Coefficient]]


def load_catalogue(session: Session) -> dict[str, EnergyType]:
    """The energy type catalogue by code (a few dozen rows)."""
    return {row.code: row for row in session.scalars(select(EnergyType))}


@dataclass(frozen=True)
class DailyQuantity:
    """A physical quantity of one energy type used on one local calendar day."""

    energy_type: str
    unit: str
    day: date
    quantity: Decimal


@dataclass(frozen=True)
class Run:
    """Metered values of consecutive rollup rows: ``values[i]`` was used on local day
    ``days[i]`` (sorted), in a unit that ``factor`` converts (None: already the unit)."""

    factor: Decimal | None
    days: Sequence[date]
    values: Sequence[float]

    def total(self, low: date, high: date) -> tuple[Decimal, set[date]]:
        """The sum of the values on days [low, high) (correctly rounded by ``fsum``, then
        exact decimal), and those days."""
        a, b = bisect.bisect_left(self.days, low), bisect.bisect_left(self.days, high)
        if a == b:
            return Decimal(0), set()
        amount = Decimal(repr(math.fsum(self.values[a:b])))
        if self.factor is not None:
            amount *= self.factor
        return amount, set(self.days[a:b])


@dataclass
class TypeTce:
    """One energy type's quantity in tce, or why it has none (``tce`` None, ``missing`` set).

    ``coefficients`` lists each coefficient applied and on how many days, so a report can
    state its basis (row, origin, source).
    """

    energy_type: str
    unit: str
    quantity: Decimal
    tce: Decimal | None
    missing: str | None = None
    coefficients: list[tuple[Coefficient, int]] = field(default_factory=list)


class CoefficientBook:
    """The coefficients in force over [first, end) for a tenant, read once per energy type.

    A type whose coefficient is missing somewhere in the whole range (a year-on-year base
    before the first published row) is looked up again for just the days asked, so one
    uncovered year does not blank the others.
    """

    def __init__(
        self,
        session: Session,
        region_code: str | None,
        first: date,
        end: date,
        electricity_basis: str | None = None,
        catalogue: Mapping[str, EnergyType] | None = None,
    ) -> None:
        self.session = session
        self.region_code = region_code
        self.first = first
        self.end = max(end, first + timedelta(days=1))
        self.electricity_basis = electricity_basis
        self.catalogue = catalogue if catalogue is not None else load_catalogue(session)
        self._whole: dict[str, Periods | CoefficientMissing] = {}
        self._narrow: dict[tuple[str, date, date], Periods | CoefficientMissing] = {}

    def _basis(self, energy_type: str) -> str | None:
        return self.electricity_basis if energy_type == coefficients.ELECTRICITY else None

    def preload(self, energy_types: Iterable[str]) -> None:
        """Read the coefficients of several types over the whole range in two queries."""
        wanted = {
            energy_type: self._basis(energy_type)
            for energy_type in energy_types
            if energy_type in self.catalogue and energy_type not in self._whole
        }
        self._whole.update(
            coefficients.segments_of(self.session, wanted, self.first, self.end, self.region_code)
        )

    def _segments(self, energy_type: str, first: date, end: date) -> Periods | CoefficientMissing:
        try:
            return coefficients.segments(
                self.session, energy_type, first, end, self.region_code, self._basis(energy_type)
            )
        except CoefficientMissing as missing:
            return missing

    def periods(self, energy_type: str, first: date, end: date) -> Periods:
        """Coefficient periods covering [first, end); raises :class:`CoefficientMissing`."""
        whole = self._whole.get(energy_type)
        if whole is None:
            whole = self._whole[energy_type] = self._segments(energy_type, self.first, self.end)
        if not isinstance(whole, CoefficientMissing) and self.first <= first and end <= self.end:
            return whole
        key = (energy_type, first, end)
        narrow = self._narrow.get(key)
        if narrow is None:
            narrow = self._narrow[key] = self._segments(energy_type, first, end)
        if isinstance(narrow, CoefficientMissing):
            raise narrow
        return narrow

    def tce_runs(
        self, energy_type: str, unit: str, runs: Sequence[Run], entered: Mapping[date, Decimal]
    ) -> TypeTce:
        """As :meth:`tce`, for metered runs of rollup rows plus manual per-day quantities:
        the rows are summed per coefficient period, never one by one (a report of a year of
        days, ten types and its comparison year reads 7,300 rows)."""
        days = [d for run in runs if run.days for d in (run.days[0], run.days[-1])]
        days += list(entered)
        if not days:
            return TypeTce(energy_type, unit, Decimal(0), Decimal(0))
        first, end = min(days), max(days) + timedelta(days=1)
        whole = _period_sums(runs, entered, [(first, end)])
        result = TypeTce(energy_type, unit, sum((q for _, q, _ in whole), Decimal(0)), None)
        if energy_type not in self.catalogue:
            result.missing = f"{energy_type!r} is not in the energy type catalogue"
            return result
        try:
            periods = self.periods(energy_type, first, end)
            sums = _period_sums(runs, entered, [(low, high) for low, high, _ in periods])
            by_period = coefficients.tce_by_day({low: q for low, q, _ in sums}, unit, periods)
        except (CoefficientMissing, InvalidInput) as problem:
            result.missing = problem.message
            return result
        result.tce = sum(by_period.values(), Decimal(0))
        counted = {low: count for low, _, count in sums}
        result.coefficients = [(c, counted[low]) for low, _, c in periods if low in counted]
        return result

    def tce(self, energy_type: str, unit: str, per_day: Mapping[date, Decimal]) -> TypeTce:
        """``per_day`` quantities (in ``unit``) in tce at each day's coefficient."""
        quantity = sum(per_day.values(), Decimal(0))
        result = TypeTce(energy_type, unit, quantity, None)
        if energy_type not in self.catalogue:
            result.missing = f"{energy_type!r} is not in the energy type catalogue"
            return result
        if not per_day:
            result.tce = Decimal(0)
            return result
        days = sorted(per_day)
        try:
            periods = self.periods(energy_type, days[0], days[-1] + timedelta(days=1))
            result.tce = _by_period(per_day, days, unit, periods)
        except (CoefficientMissing, InvalidInput) as problem:
            result.missing = problem.message
            return result
        result.coefficients = _usage(days, periods)
        return result


def _period_sums(
    runs: Sequence[Run], entered: Mapping[date, Decimal], periods: Sequence[tuple[date, date]]
) -> list[tuple[date, Decimal, int]]:
    """Per period [low, high) with any figure: its first day, the quantity, the days counted.

    Fed to :func:`~ems.energy.coefficients.tce_by_day` keyed by each period's first day, so
    every day is still taken at the coefficient in force on it."""
    out = []
    for low, high in periods:
        total = Decimal(0)
        seen: set[date] = set()
        for run in runs:
            amount, days = run.total(low, high)
            total += amount
            seen |= days
        for day, amount in entered.items():
            if low <= day < high:
                total += amount
                seen.add(day)
        if seen:
            out.append((low, total, len(seen)))
    return out


def _by_period(
    per_day: Mapping[date, Decimal], days: list[date], unit: str, periods: Periods
) -> Decimal:
    """Each day at its own coefficient, as :func:`~ems.energy.coefficients.tce_by_day` does,
    with the days of one coefficient period summed first: one multiplication per period
    instead of one per day (a report of daily buckets over two years of ten types would
    otherwise do 7,000). Decimal arithmetic, so the result equals the per-day sum to the
    28 digits of the decimal context, far below the 4 places shown.

    ``periods`` cover every day of ``days`` (they come from ``segments`` over that range).
    """
    sums: dict[date, Decimal] = {}
    for low, high, _ in periods:
        chosen = days[bisect.bisect_left(days, low) : bisect.bisect_left(days, high)]
        if chosen:
            sums[low] = sum((per_day[day] for day in chosen), Decimal(0))
    return sum(coefficients.tce_by_day(sums, unit, periods).values(), Decimal(0))


def _usage(days: list[date], periods: Periods) -> list[tuple[Coefficient, int]]:
    """Each coefficient of ``periods`` with the number of ``days`` (sorted) it covers."""
    used = []
    for low, high, coefficient in periods:
        count = bisect.bisect_left(days, high) - bisect.bisect_left(days, low)
        if count:
            used.append((coefficient, count))
    return used


def quantities_to_tce(
    session: Session,
    quantities: Iterable[DailyQuantity],
    region_code: str | None,
    electricity_basis: str | None = None,
) -> dict[tuple[str, str], TypeTce]:
    """Per (energy type, unit): the quantities given, in tce at the coefficient of each day.

    Which quantities count in comprehensive energy consumption is the caller's choice (the
    energy balance network's, once it exists); this only converts. A type without a
    coefficient, or in a unit that cannot be converted, gets ``tce`` None and the reason.
    """
    per_type: dict[tuple[str, str], dict[date, Decimal]] = {}
    for item in quantities:
        days = per_type.setdefault((item.energy_type, item.unit), {})
        days[item.day] = days.get(item.day, Decimal(0)) + item.quantity
    if not per_type:
        return {}
    every_day = [day for days in per_type.values() for day in days]
    book = CoefficientBook(
        session, region_code, min(every_day), max(every_day) + timedelta(days=1), electricity_basis
    )
    book.preload(energy_type for energy_type, _ in per_type)
    return {key: book.tce(key[0], key[1], days) for key, days in per_type.items()}


def total_tce(results: Iterable[TypeTce]) -> tuple[Decimal, list[str]]:
    """The sum of the tce figures, and the energy types left out for want of one."""
    total = Decimal(0)
    missing: list[str] = []
    for result in results:
        if result.tce is None:
            missing.append(result.energy_type)
        else:
            total += result.tce
    return total, sorted(set(missing))
