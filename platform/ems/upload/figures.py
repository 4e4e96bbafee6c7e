"""The value of each mapped combined code for upload periods (what the outbox sends).

:func:`compute` takes every code of a registration and every period start of one
statistics type and reads each source kind in one or two queries for all of them
(a real-time cycle of a tenant with twenty codes costs two queries). Where a value
comes from, by the code's source (decision 0019):

* ``category``: the energy type's consumption from ``category_rollups``: a real-time
  period of 15 minutes is one ``15m`` row, of 30 minutes two, of 60 minutes one
  ``1h`` row; a day one ``1d`` row, a month one ``1mo`` row, a year its twelve ``1mo``
  rows. For days, months and years the manual quantities of the type (coal from the
  weighbridge book) are added, spread evenly over their period by time, as the
  actuals do, so the upload equals the tenant's own report. Rows in more than one
  unit (kWh and MWh counters) are put in the catalogue unit when that is a scale
  change, else there is no value and the reason says so.
* ``point``: the point's ``point_rollups`` rows of the same grains: the consumption
  of a cumulative point, the mean of an instantaneous one (the rows' means weighted
  by their sample counts: over a year, the mean of every sample).
* ``comprehensive``: GB/T 2589 comprehensive consumption in tce, days, months and
  years only. With an energy network (any flow), the network's figure
  (:func:`ems.networks.figures.enterprise_figures`: boundary in - out - living use);
  without one, the total of the category actuals in tce
  (:func:`ems.actuals.services.compute`), which deducts nothing. The coverage report
  says which basis a tenant's figure rests on.
* ``output``: a product's qualified output: the rollups of its point, or the output
  records inside the period (never prorated); ``output_value`` / ``value_added``: the
  value records at current prices, in 万元; ``unit_consumption``: the comprehensive
  figure above x 1000 / output, in kgce per product unit. Days, months and years.

``flags`` is the OR of the rollup rows' :class:`~ems.telemetry.intervals.Flag` bits a
value rests on (MANUAL for manual quantities too); a real-time period only partly
covered by its rows (one of two quarter hours) also gets GAP. A year with months
without rows gets no such flag: the rollups flag gaps in the readings themselves, and
a plant that started in March has no gap in January. ``reason`` is set exactly
when ``value`` is None. :func:`convert` changes a value's unit by a plain prefix or
scale (kWh to 万kWh); the outbox converts to the dictionary's unit and rounds.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ems.actuals import intensity
from ems.actuals import services as actuals
from ems.actuals.models import ManualQuantity, OutputValue, PriceBasis, Product, ProductOutput
from ems.actuals.periods import Bucket, day_start
from ems.context import current_tenant
from ems.energy.models import EnergyType
from ems.networks import figures as network
from ems.networks.models import NetworkFlow
from ems.telemetry.calendar import Grain
from ems.telemetry.intervals import Flag
from ems.telemetry.models import Point, PointKind
from ems.telemetry.rollup_models import CategoryRollup, PointRollup
from ems.upload import periods
from ems.upload.models import Source, StatType, UploadCode
from ems.upload.units import convert

__all__ = ["Figure", "compute", "convert"]

Key = tuple[int, datetime]
_QUARTER = timedelta(minutes=15)
_PRODUCTION = (Source.OUTPUT, Source.UNIT_CONSUMPTION, Source.OUTPUT_VALUE, Source.VALUE_ADDED)


@dataclass(frozen=True)
class Figure:
    """One code's value for one period, in the unit it was computed in."""

    value: Decimal | None  # None: no data for the period (reason says why)
    unit: str | None  # the physical unit of value as computed (kWh, m3, t, tce, kgce/t, 万元...)
    flags: int  # ems.telemetry.intervals.Flag bits of what it rests on, 0 = clean
    reason: str | None


def missing(reason: str, flags: int = 0) -> Figure:
    return Figure(None, None, flags, reason)


# --- periods --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The rollup rows one period is made of: ``rows`` rows of ``grain`` in [low, high)."""

    start: datetime
    end: datetime
    grain: Grain
    rows: int


def windows(
    stat_type: StatType, starts: Iterable[datetime], tz: ZoneInfo, minutes: int
) -> list[Window]:
    """The rollup rows of each period (see the module docstring)."""
    out = []
    for start in starts:
        end = periods.end(stat_type, start, tz, minutes)
        if stat_type is StatType.REALTIME:
            grain = Grain.H1 if minutes == 60 else Grain.M15
            rows = 1 if minutes == 60 else minutes // 15
        elif stat_type is StatType.DAY:
            grain, rows = Grain.D1, 1
        elif stat_type is StatType.MONTH:
            grain, rows = Grain.MO1, 1
        else:
            grain, rows = Grain.MO1, 12
        out.append(Window(start, end, grain, rows))
    return out


def _start_condition(
    column: InstrumentedAttribute[datetime], spans: Sequence[Window]
) -> ColumnElement[bool]:
    """Rows starting in any window: by equality when each window is one row."""
    if all(w.rows == 1 for w in spans):
        return column.in_(sorted({w.start for w in spans}))
    return and_(column >= min(w.start for w in spans), column < max(w.end for w in spans))


@dataclass
class Rows:
    """Rollup rows of one series (a category unit, a point), in start order."""

    starts: list[datetime] = field(default_factory=list)
    values: list[tuple[float | None, float | None, int, int]] = field(default_factory=list)

    def add(self, start: datetime, row: tuple[float | None, float | None, int, int]) -> None:
        """Rows come in start order (the queries sort them)."""
        self.starts.append(start)
        self.values.append(row)

    def within(self, window: Window) -> list[tuple[float | None, float | None, int, int]]:
        a = bisect.bisect_left(self.starts, window.start)
        b = bisect.bisect_left(self.starts, window.end)
        return self.values[a:b]


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _gap(window: Window, found: int) -> int:
    """GAP for a real-time period of several quarter hours with some missing."""
    partial = 0 < found < window.rows and window.grain is Grain.M15
    return int(Flag.GAP) if partial else 0


# --- category -------------------------------------------------------------------------------


def _category_rows(
    session: Session, energy_types: set[str], spans: Sequence[Window]
) -> dict[tuple[str, str], Rows]:
    c = CategoryRollup
    stmt = (
        select(c.energy_type, c.unit, c.start, c.consumption, c.flags)
        .where(
            c.energy_type.in_(sorted(energy_types)),
            c.grain == spans[0].grain.value,
            _start_condition(c.start, spans),
        )
        .order_by(c.start)
    )
    out: dict[tuple[str, str], Rows] = defaultdict(Rows)
    for energy_type, unit, start, consumption, flags in session.execute(stmt):
        out[(energy_type, unit)].add(start, (consumption, None, 0, flags))
    return out


def _manual(
    session: Session, energy_types: set[str], spans: Sequence[Window], tz: ZoneInfo
) -> dict[tuple[datetime, str], dict[str, Decimal]]:
    """Manual quantities' share of each window: (window start, energy type) -> unit -> amount."""
    first = min(w.start for w in spans).astimezone(tz).date()
    last = max(w.end for w in spans).astimezone(tz).date() + timedelta(days=1)
    stmt = select(ManualQuantity).where(
        ManualQuantity.energy_type.in_(sorted(energy_types)),
        ManualQuantity.period_from < last,
        ManualQuantity.period_to > first,
    )
    out: dict[tuple[datetime, str], dict[str, Decimal]] = defaultdict(dict)
    for entry in session.scalars(stmt):
        low, high = day_start(entry.period_from, tz), day_start(entry.period_to, tz)
        whole = int((high - low).total_seconds())
        for window in spans:
            part = int((min(high, window.end) - max(low, window.start)).total_seconds())
            if part > 0 and whole > 0:
                units = out[(window.start, entry.energy_type)]
                share = entry.quantity * part / whole
                units[entry.unit] = units.get(entry.unit, Decimal(0)) + share
    return out


def _catalogue_unit(session: Session, energy_type: str, cache: dict[str, str | None]) -> str | None:
    if energy_type not in cache:
        row = session.get(EnergyType, energy_type)
        cache[energy_type] = row.unit if row is not None else None
    return cache[energy_type]


def _one_unit(
    session: Session, energy_type: str, amounts: dict[str, Decimal], cache: dict[str, str | None]
) -> tuple[Decimal | None, str | None, str | None]:
    """The amounts of one energy type in one unit: (value, unit, reason if none).

    With several units, those that scale to the catalogue's unit are added up in it;
    the others measure something else (an electricity category also holds reactive
    energy counters in kvarh, which are not consumption) and are left out.
    """
    if len(amounts) == 1:
        ((unit, amount),) = amounts.items()
        return amount, unit, None
    target = _catalogue_unit(session, energy_type, cache)
    converted = [convert(amount, unit, target) for unit, amount in sorted(amounts.items())]
    kept = [value for value in converted if value is not None]
    if not kept:
        units = ", ".join(sorted(amounts))
        return None, None, f"{energy_type} is recorded in {units}, none of them in {target}"
    return sum(kept, Decimal(0)), target, None


def _type_figure(
    session: Session,
    energy_type: str,
    window: Window,
    series: Sequence[tuple[str, Rows]],
    entered: Mapping[str, Decimal],
    cache: dict[str, str | None],
) -> Figure:
    """One energy type in one window: its rows in every unit, plus manual quantities."""
    amounts: dict[str, Decimal] = {}
    flags, found = 0, 0
    for unit, rows in series:
        inside = rows.within(window)
        if inside:
            amounts[unit] = _decimal(math.fsum(r[0] or 0.0 for r in inside))
            found = max(found, len(inside))
            for row in inside:
                flags |= row[3]
    for unit, amount in entered.items():
        amounts[unit] = amounts.get(unit, Decimal(0)) + amount
        flags |= Flag.MANUAL
    if not amounts:
        return missing(f"no {energy_type} consumption in this period")
    flags |= _gap(window, found)
    value, unit_used, reason = _one_unit(session, energy_type, amounts, cache)
    return Figure(value, unit_used, flags, reason)


def _category(
    session: Session,
    codes: Sequence[UploadCode],
    stat_type: StatType,
    spans: Sequence[Window],
    tz: ZoneInfo,
) -> dict[Key, Figure]:
    types = {c.energy_type for c in codes if c.energy_type}
    rows = _category_rows(session, types, spans) if types else {}
    manual = {}
    if types and stat_type is not StatType.REALTIME:
        manual = _manual(session, types, spans, tz)
    by_type: dict[str, list[tuple[str, Rows]]] = defaultdict(list)
    for (energy_type, unit), series in rows.items():
        by_type[energy_type].append((unit, series))
    cache: dict[str, str | None] = {}
    out: dict[Key, Figure] = {}
    for window in spans:
        per_type = {
            energy_type: _type_figure(
                session,
                energy_type,
                window,
                by_type[energy_type],
                manual.get((window.start, energy_type), {}),
                cache,
            )
            for energy_type in types
        }
        for code in codes:
            key = (code.id, window.start)
            if code.energy_type is None:
                out[key] = missing("the code names no energy type")
            else:
                out[key] = per_type[code.energy_type]
    return out


# --- point ----------------------------------------------------------------------------------


def _point(
    session: Session, codes: Sequence[UploadCode], spans: Sequence[Window]
) -> dict[Key, Figure]:
    ids = sorted({c.point_id for c in codes if c.point_id is not None})
    r = PointRollup
    stmt = (
        select(Point.id, Point.kind, Point.unit, r.start, r.consumption, r.mean, r.count, r.flags)
        .outerjoin(
            r,
            and_(
                r.point == Point.id,
                r.grain == spans[0].grain.value,
                _start_condition(r.start, spans),
            ),
        )
        .where(Point.id.in_(ids))
        .order_by(r.start)
    )
    meta: dict[int, tuple[str, str]] = {}
    rows: dict[int, Rows] = defaultdict(Rows)
    for point_id, kind, unit, start, consumption, mean, count, flags in session.execute(stmt):
        meta[point_id] = (kind, unit)
        if start is not None:
            rows[point_id].add(start, (consumption, mean, count, flags))
    out: dict[Key, Figure] = {}
    for code in codes:
        for window in spans:
            key = (code.id, window.start)
            if code.point_id is None or code.point_id not in meta:
                out[key] = missing(f"point {code.point_id} does not exist")
                continue
            kind, unit = meta[code.point_id]
            out[key] = _point_figure(kind, unit, rows[code.point_id].within(window), window)
    return out


def _point_figure(
    kind: str, unit: str, inside: list[tuple[float | None, float | None, int, int]], window: Window
) -> Figure:
    if not inside:
        return missing("the point has no readings in this period")
    flags = _gap(window, len(inside))
    for row in inside:
        flags |= row[3]
    if kind == PointKind.CUMULATIVE:
        return Figure(_decimal(math.fsum(r[0] or 0.0 for r in inside)), unit, flags, None)
    counted = [(r[1], r[2]) for r in inside if r[1] is not None and r[2] > 0]
    samples = sum(count for _, count in counted)
    if not samples:
        return missing("the point has no samples in this period", flags)
    total = math.fsum(mean * count for mean, count in counted)
    return Figure(_decimal(total) / samples, unit, flags, None)


# --- comprehensive consumption --------------------------------------------------------------


@dataclass(frozen=True)
class Energy:
    """Comprehensive consumption of one period in tce, or why there is none."""

    tce: Decimal | None
    flags: int
    reason: str | None


def has_network(session: Session) -> bool:
    """Whether the tenant has drawn an energy network (then it gives comprehensive figures)."""
    return session.scalar(select(NetworkFlow.id).limit(1)) is not None


def _network_flags(
    session: Session, spans: Sequence[Window]
) -> tuple[dict[datetime, int], dict[datetime, int]]:
    """Per window: the OR of the daily flags of the network's metered flows, and their rows."""
    point_ids = select(NetworkFlow.point_id).where(NetworkFlow.point_id.is_not(None))
    stmt = select(PointRollup.start, PointRollup.flags).where(
        PointRollup.point.in_(point_ids.scalar_subquery()),
        PointRollup.grain == Grain.D1.value,
        PointRollup.start >= min(w.start for w in spans),
        PointRollup.start < max(w.end for w in spans),
    )
    flags: dict[datetime, int] = defaultdict(int)
    counts: dict[datetime, int] = defaultdict(int)
    found = list(session.execute(stmt))
    for window in spans:
        for start, mask in found:
            if window.start <= start < window.end:
                flags[window.start] |= mask
                counts[window.start] += 1
    return flags, counts


def _from_network(
    session: Session, spans: Sequence[Window], tz: ZoneInfo, region_code: str | None
) -> dict[datetime, Energy]:
    graph = network.load_graph(session)
    flags, counts = _network_flags(session, spans)
    out = {}
    for window in spans:
        if not counts[window.start]:
            out[window.start] = Energy(None, 0, "no metered network flow in this period")
            continue
        low, high = window.start.astimezone(tz).date(), window.end.astimezone(tz).date()
        result = network.enterprise_figures(session, low, high, tz, region_code, graph=graph)
        found = result["comprehensive"]
        reason = None
        if found["tce"] is None:
            reason = "the energy network's comprehensive consumption is incomplete:"
            if found["unmetered_flows"]:
                reason += f" unmetered flows {found['unmetered_flows']}"
            if found["tce_missing"]:
                reason += f" no coefficient for {', '.join(found['tce_missing'])}"
        out[window.start] = Energy(found["tce"], flags[window.start], reason)
    return out


def _from_actuals(
    session: Session, spans: Sequence[Window], tz: ZoneInfo, region_code: str | None
) -> dict[datetime, Energy]:
    buckets = [Bucket(w.start, w.end, w.start.isoformat()) for w in spans]
    computed = actuals.compute(session, tz, region_code, buckets)
    out = {}
    for window in spans:
        found = computed[(window.start, window.end)]
        if not found.lines:
            out[window.start] = Energy(None, 0, "no energy consumption recorded in this period")
        elif found.missing:
            reason = f"no coefficient for {', '.join(found.missing)}"
            out[window.start] = Energy(None, found.flags, reason)
        else:
            out[window.start] = Energy(found.total_tce, found.flags, None)
    return out


def comprehensive(
    session: Session,
    stat_type: StatType,
    spans: Sequence[Window],
    tz: ZoneInfo,
    region_code: str | None,
) -> dict[datetime, Energy]:
    """Comprehensive consumption per window (see the module docstring for the basis)."""
    if stat_type is StatType.REALTIME:
        why = "comprehensive consumption is computed for days, months and years only"
        return {w.start: Energy(None, 0, why) for w in spans}
    if has_network(session):
        return _from_network(session, spans, tz, region_code)
    return _from_actuals(session, spans, tz, region_code)


# --- production ------------------------------------------------------------------------------


def _buckets(spans: Sequence[Window]) -> list[Bucket]:
    return [Bucket(w.start, w.end, w.start.isoformat()) for w in spans]


def _outputs(
    session: Session, products: Sequence[Product], spans: Sequence[Window], tz: ZoneInfo
) -> dict[tuple[int, datetime], intensity.Denominator]:
    """Each product's output per window: its point's rollups, or the records inside it."""
    buckets = _buckets(spans)
    # The unit consumption report's own reading of metered output, so both agree.
    metered = intensity._point_output(session, tz, products, buckets)
    entered = [p.id for p in products if p.point_id is None]
    records: dict[int, list[intensity.Record]] = defaultdict(list)
    if entered:
        first = min(w.start for w in spans).astimezone(tz).date() - timedelta(days=1)
        last = max(w.end for w in spans).astimezone(tz).date() + timedelta(days=1)
        stmt = select(ProductOutput).where(
            ProductOutput.product_id.in_(entered),
            ProductOutput.period_from < last,
            ProductOutput.period_to > first,
        )
        for row in session.scalars(stmt):
            low, high = day_start(row.period_from, tz), day_start(row.period_to, tz)
            records[row.product_id].append((low, high, row.quantity))
    out = {}
    for product in products:
        for bucket in buckets:
            key = (product.id, bucket.start)
            if product.point_id is not None:
                out[key] = metered[(product.id, bucket.key)]
            else:
                out[key] = intensity.recorded(records[product.id], bucket)
    return out


def _values(
    session: Session, kinds: set[str], spans: Sequence[Window], tz: ZoneInfo
) -> dict[tuple[str, datetime], intensity.Denominator]:
    """Output value / value added at current prices per window (万元)."""
    first = min(w.start for w in spans).astimezone(tz).date() - timedelta(days=1)
    last = max(w.end for w in spans).astimezone(tz).date() + timedelta(days=1)
    stmt = select(OutputValue).where(
        OutputValue.kind.in_(sorted(kinds)),
        OutputValue.price_basis == PriceBasis.CURRENT,
        OutputValue.period_from < last,
        OutputValue.period_to > first,
    )
    records: dict[str, list[intensity.Record]] = defaultdict(list)
    for row in session.scalars(stmt):
        low, high = day_start(row.period_from, tz), day_start(row.period_to, tz)
        records[row.kind].append((low, high, row.amount))
    return {
        (kind, bucket.start): intensity.recorded(records[kind], bucket)
        for kind in kinds
        for bucket in _buckets(spans)
    }


def _denominator_figure(found: intensity.Denominator, unit: str, what: str) -> Figure:
    if found.amount is None or not found.complete:
        return missing(found.reason or f"no {what} recorded for this period", found.flags)
    return Figure(found.amount, unit, found.flags, None)


def _production(
    session: Session,
    codes: Sequence[UploadCode],
    stat_type: StatType,
    spans: Sequence[Window],
    tz: ZoneInfo,
    energy: Mapping[datetime, Energy],
) -> dict[Key, Figure]:
    if stat_type is StatType.REALTIME:
        why = "output, value and unit consumption are figures of days, months and years"
        return {(c.id, w.start): missing(why) for c in codes for w in spans}
    ids = sorted({c.product_id for c in codes if c.product_id is not None})
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}
    outputs = _outputs(session, list(products.values()), spans, tz) if products else {}
    kinds = {c.source for c in codes if c.source in (Source.OUTPUT_VALUE, Source.VALUE_ADDED)}
    values = _values(session, kinds, spans, tz) if kinds else {}
    out: dict[Key, Figure] = {}
    for code in codes:
        product = products.get(code.product_id) if code.product_id is not None else None
        for window in spans:
            key = (code.id, window.start)
            if code.source in (Source.OUTPUT_VALUE, Source.VALUE_ADDED):
                found = values[(code.source, window.start)]
                out[key] = _denominator_figure(found, "万元", code.source.replace("_", " "))
            elif product is None:
                out[key] = missing(f"product {code.product_id} does not exist")
            elif code.source == Source.OUTPUT:
                found = outputs[(product.id, window.start)]
                out[key] = _denominator_figure(found, product.unit, "output")
            else:
                out[key] = _unit_consumption(
                    energy[window.start], outputs[(product.id, window.start)], product
                )
    return out


def _unit_consumption(energy: Energy, output: intensity.Denominator, product: Product) -> Figure:
    numerator = intensity.Numerator(energy.tce, energy.reason)
    ratio = intensity.unit_product_consumption(numerator, output)
    flags = energy.flags | output.flags
    if ratio.value is None:
        return missing(ratio.reason or "no unit consumption", flags)
    return Figure(ratio.value, f"kgce/{product.unit}", flags, None)


# --- entry point ----------------------------------------------------------------------------


def tenant_region(session: Session) -> str | None:
    """The bound tenant's region code (which regional coal coefficients apply)."""
    from ems_tenants.models import Tenant

    tenant = current_tenant.get()
    if tenant is None:
        return None
    row = session.get(Tenant, tenant.id)
    return row.region_code if row is not None else None


def compute(
    session: Session,
    codes: Sequence[UploadCode],
    stat_type: StatType,
    starts: Sequence[datetime],
    *,
    tz: ZoneInfo,
    minutes: int = 15,
    region_code: str | None = None,
) -> dict[tuple[int, datetime], Figure]:
    """Figures of every code for every period start (UTC starts from ems.upload.periods).

    ``region_code`` picks regional coal coefficients (comprehensive consumption and unit
    consumption); by default the bound tenant's. Nothing here writes.
    """
    if not codes or not starts:
        return {}
    if stat_type is StatType.REALTIME and (minutes % 15 or not 15 <= minutes <= 60):
        why = f"real-time periods of {minutes} minutes are not made of quarter hours"
        return {(c.id, s): missing(why) for c in codes for s in starts}
    spans = windows(stat_type, sorted(set(starts)), tz, minutes)
    by_source: dict[str, list[UploadCode]] = defaultdict(list)
    for code in codes:
        by_source[code.source].append(code)
    out: dict[Key, Figure] = {}
    if by_source[Source.CATEGORY]:
        out.update(_category(session, by_source[Source.CATEGORY], stat_type, spans, tz))
    if by_source[Source.POINT]:
        out.update(_point(session, by_source[Source.POINT], spans))
    energy: dict[datetime, Energy] = {}
    if by_source[Source.COMPREHENSIVE] or by_source[Source.UNIT_CONSUMPTION]:
        if region_code is None and stat_type is not StatType.REALTIME:
            region_code = tenant_region(session)
        energy = comprehensive(session, stat_type, spans, tz, region_code)
    if by_source[Source.COMPREHENSIVE]:
        for code in by_source[Source.COMPREHENSIVE]:
            for window in spans:
                found = energy[window.start]
                figure = Figure(found.tce, "tce", found.flags, None)
                if found.tce is None:
                    figure = missing(found.reason or "no comprehensive consumption", found.flags)
                out[(code.id, window.start)] = figure
    production = [c for source in _PRODUCTION for c in by_source[source]]
    if production:
        out.update(_production(session, production, stat_type, spans, tz, energy))
    return out
