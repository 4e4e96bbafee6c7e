"""Unit consumption (GB/T 2589): energy over output (单位产品综合能耗, kgce per product unit)
and over value (单位产值综合能耗, tce per 10^4 CNY of output value or value added).

The energy numerator is a parameter (:class:`Numerator`). Today it is the enterprise total
of the energy categories in tce, from the actuals; once the energy balance network (item 9)
attributes consumption to units and drops exports, conversions and living use, the caller
passes that figure instead and nothing here changes.

A denominator is used only when the records inside the bucket cover it whole: a month's
output is never prorated into days, so a daily figure over monthly output is refused with a
reason rather than invented. Zero output gives no figure, with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ems.actuals import services
from ems.actuals.models import OutputValue, PriceBasis, Product, ProductOutput, Shift, ValueKind
from ems.actuals.periods import (
    Bound,
    Bucket,
    Period,
    day_start,
    plan,
    query_bounds,
    select_sorted,
    tiles,
)
from ems.actuals.services import TCE_PLACES, fixed, flag_names
from ems.energy.coefficients import convert
from ems.errors import InvalidInput
from ems.telemetry.calendar import Grain
from ems.telemetry.models import Point
from ems.telemetry.rollup_models import PointRollup

KGCE_PER_TCE = Decimal(1000)
AMOUNT_PLACES = 4
OUTPUT_PLACES = 3
ENTERPRISE_TOTAL = "enterprise_total"


@dataclass(frozen=True)
class Numerator:
    """The energy a ratio is taken of, in tce, or why there is none; ``scope`` names it."""

    tce: Decimal | None
    reason: str | None = None
    scope: str = ENTERPRISE_TOTAL


@dataclass(frozen=True)
class Denominator:
    """Output or value within a bucket; ``complete`` False when records cover it only partly."""

    amount: Decimal | None
    complete: bool
    reason: str | None = None
    flags: int = 0


@dataclass(frozen=True)
class Ratio:
    """A unit consumption figure, or None with the reason."""

    value: Decimal | None
    reason: str | None = None


def _ratio(energy: Numerator, per: Denominator, scale: Decimal, what: str) -> Ratio:
    if energy.tce is None:
        return Ratio(None, energy.reason or "no energy figure")
    if per.amount is None or not per.complete:
        return Ratio(None, per.reason or f"no {what} recorded")
    if per.amount == 0:
        return Ratio(None, f"{what} is zero")
    return Ratio(energy.tce * scale / per.amount)


def unit_product_consumption(energy: Numerator, output: Denominator) -> Ratio:
    """kgce per unit of product: tce x 1000 / qualified output."""
    return _ratio(energy, output, KGCE_PER_TCE, "output")


def unit_value_consumption(energy: Numerator, value: Denominator) -> Ratio:
    """tce per 10^4 CNY: tce / output value (or value added)."""
    return _ratio(energy, value, Decimal(1), "value")


def enterprise_energy(
    session: Session,
    tz: ZoneInfo,
    region_code: str | None,
    buckets: Iterable[Bucket],
    electricity_basis: str | None = None,
) -> dict[tuple[datetime, datetime], Numerator]:
    """The numerator used until item 9: every category's tce in each bucket."""
    figures = services.compute(session, tz, region_code, buckets, None, electricity_basis)
    out = {}
    for key, found in figures.items():
        if found.missing:
            reason = f"tce missing for {', '.join(found.missing)}"
            out[key] = Numerator(None, reason)
        else:
            out[key] = Numerator(found.total_tce)
    return out


Record = tuple[datetime, datetime, Decimal]  # UTC bounds of a record's local days, amount


def recorded(records: Sequence[Record], bucket: Bucket) -> Denominator:
    """The sum of the records inside ``bucket``; refused if one only partly overlaps it."""
    inside = [r for r in records if bucket.start <= r[0] and r[1] <= bucket.end]
    for low, high, _ in records:
        if (
            low < bucket.end
            and bucket.start < high
            and not bucket.start <= low <= high <= bucket.end
        ):
            return Denominator(None, False, "a record spans beyond this bucket (never prorated)")
    if not inside:
        return Denominator(None, False, None)
    amount = sum((r[2] for r in inside), Decimal(0))
    covered = sum((r[1] - r[0] for r in inside), timedelta(0))
    if covered < bucket.end - bucket.start:
        share = covered / (bucket.end - bucket.start)
        return Denominator(amount, False, f"records cover {share:.0%} of this bucket")
    return Denominator(amount, True)


def _point_output(
    session: Session, tz: ZoneInfo, products: Sequence[Product], buckets: Sequence[Bucket]
) -> dict[tuple[int, tuple[datetime, datetime]], Denominator]:
    """Output of products read from points: the points' consumption rollups per bucket."""
    metered = [p for p in products if p.point_id is not None]
    if not metered:
        return {}
    tilings = {b.key: tiles(b.start, b.end, tz) for b in buckets}
    ids = sorted({p.point_id for p in metered if p.point_id is not None})
    conditions = [
        and_(PointRollup.grain == grain.value, PointRollup.start >= low, PointRollup.start < high)
        for spans in tilings.values()
        for grain, low, high in spans
    ]
    rows: dict[tuple[int, Grain], tuple[list[datetime], list[tuple[float, int]]]] = {}
    stmt = (
        select(PointRollup.point, PointRollup.grain, PointRollup.start, PointRollup.consumption)
        .add_columns(PointRollup.flags)
        .where(PointRollup.point.in_(ids), or_(*conditions))
        .order_by(PointRollup.point, PointRollup.grain, PointRollup.start)
    )
    for point_id, grain, start, consumption, flags in session.execute(stmt):
        starts, values = rows.setdefault((point_id, Grain(grain)), ([], []))
        starts.append(start)
        values.append((consumption or 0.0, flags))
    units = {p.id: p.unit for p in session.scalars(select(Point).where(Point.id.in_(ids)))}
    out = {}
    for product in metered:
        assert product.point_id is not None  # noqa: S101 - filtered above
        point_unit = units[product.point_id]
        factor: Decimal | None
        try:
            factor = convert(Decimal(1), point_unit, product.unit)
        except InvalidInput:
            factor = Decimal(1) if point_unit == product.unit else None
        for bucket in buckets:
            parts: list[float] = []
            flags = 0
            for grain, low, high in tilings[bucket.key]:
                starts, values = rows.get((product.point_id, grain), ([], []))
                for consumption, mask in values[select_sorted(starts, low, high)]:
                    parts.append(consumption)
                    flags |= mask
            if factor is None or not parts:
                why = (
                    f"point {product.point_id} measures {point_unit}, not {product.unit}"
                    if factor is None
                    else f"point {product.point_id} has no readings in this period"
                )
                out[(product.id, bucket.key)] = Denominator(None, False, why)
                continue
            amount = Decimal(repr(math.fsum(parts))) * factor
            out[(product.id, bucket.key)] = Denominator(amount, True, None, flags)
    return out


@dataclass(frozen=True)
class IntensityQuery:
    """What ``GET /unit-consumption`` asks for (bounds already parsed)."""

    period: Period
    start: Bound | None = None
    end: Bound | None = None
    product_id: int | None = None
    electricity_basis: str | None = None


def query_of(data: Mapping[str, Any]) -> IntensityQuery:
    """An ``IntensityQuerySchema``'s loaded data as a query (InvalidInput names a bad bound)."""
    start, end = query_bounds(data)
    return IntensityQuery(
        Period(data["period"]), start, end, data.get("product_id"), data.get("electricity_basis")
    )


def _records(
    tz: ZoneInfo, rows: Iterable[ProductOutput | OutputValue], amount: str
) -> list[Record]:
    starts: dict[Any, datetime] = {}

    def start(day: Any) -> datetime:
        if day not in starts:
            starts[day] = day_start(day, tz)
        return starts[day]

    return [(start(r.period_from), start(r.period_to), getattr(r, amount)) for r in rows]


def _product_out(product: Product, energy: Numerator, output: Denominator) -> dict[str, Any]:
    ratio = unit_product_consumption(energy, output)
    return {
        "product_id": product.id,
        "code": product.code,
        "name": product.name,
        "unit": product.unit,
        "output": fixed(output.amount, OUTPUT_PLACES),
        "output_source": "point" if product.point_id is not None else "entered",
        "output_complete": output.complete,
        "output_flags": flag_names(output.flags),
        "unit_consumption": fixed(ratio.value, TCE_PLACES),
        "unit_consumption_unit": f"kgce/{product.unit}",
        "reason": ratio.reason,
    }


def _value_out(
    group: tuple[str, str, int | None], energy: Numerator, value: Denominator
) -> dict[str, Any]:
    ratio = unit_value_consumption(energy, value)
    return {
        "kind": group[0],
        "price_basis": group[1],
        "base_year": group[2],
        "amount": fixed(value.amount, AMOUNT_PLACES),
        "complete": value.complete,
        "unit_consumption": fixed(ratio.value, TCE_PLACES),
        "unit_consumption_unit": "tce/10^4 CNY",
        "reason": ratio.reason,
    }


def report(
    session: Session,
    tz: ZoneInfo,
    region_code: str | None,
    query: IntensityQuery,
    now: datetime,
    shifts: Sequence[Shift] = (),
    energy: Mapping[tuple[datetime, datetime], Numerator] | None = None,
) -> dict[str, Any]:
    """Unit consumption per bucket: of every product (or one), and per 10^4 CNY of value.

    ``energy`` gives the numerator per bucket; by default the enterprise total (see module).
    """
    spans = plan(query.period, query.start, query.end, tz, now.astimezone(UTC), shifts)
    buckets = [span.bucket for span in spans]
    stmt = select(Product).order_by(Product.code)
    if query.product_id is not None:
        stmt = stmt.where(Product.id == query.product_id)
    products = list(session.scalars(stmt))
    if query.product_id is not None and not products:
        raise InvalidInput("no such product", fields={"query.product_id": ["no such product"]})
    if energy is None:
        energy = enterprise_energy(session, tz, region_code, buckets, query.electricity_basis)
    first = buckets[0].start.astimezone(tz).date() - timedelta(days=1)
    last = buckets[-1].end.astimezone(tz).date() + timedelta(days=1)
    outputs: dict[int, list[Record]] = {}
    for row in session.scalars(
        select(ProductOutput).where(
            ProductOutput.period_from < last, ProductOutput.period_to > first
        )
    ):
        outputs.setdefault(row.product_id, []).extend(_records(tz, [row], "quantity"))
    groups: dict[tuple[str, str, int | None], list[Record]] = {}
    for value in session.scalars(
        select(OutputValue)
        .where(OutputValue.period_from < last, OutputValue.period_to > first)
        .order_by(OutputValue.kind, OutputValue.price_basis, OutputValue.base_year)
    ):
        key = (value.kind, value.price_basis, value.base_year)
        groups.setdefault(key, []).extend(_records(tz, [value], "amount"))
    for kind in ValueKind:
        groups.setdefault((kind.value, PriceBasis.CURRENT.value, None), [])
    metered = _point_output(session, tz, products, buckets)
    out = []
    for bucket in buckets:
        numerator = energy[bucket.key]
        out.append(
            {
                "label": bucket.label,
                "start": bucket.start.astimezone(tz),
                "end": bucket.end.astimezone(tz),
                "energy_tce": fixed(numerator.tce, TCE_PLACES),
                "energy_scope": numerator.scope,
                "energy_reason": numerator.reason,
                "products": [
                    _product_out(
                        product,
                        numerator,
                        metered[(product.id, bucket.key)]
                        if product.point_id is not None
                        else recorded(outputs.get(product.id, []), bucket),
                    )
                    for product in products
                ],
                "values": [
                    _value_out(group, numerator, recorded(records, bucket))
                    for group, records in sorted(groups.items(), key=lambda g: str(g[0]))
                ],
            }
        )
    return {
        "period": query.period.value,
        "timezone": tz.key,
        "start": buckets[0].start.astimezone(tz),
        "end": buckets[-1].end.astimezone(tz),
        "buckets": out,
    }
