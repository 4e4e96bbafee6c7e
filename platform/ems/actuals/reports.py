"""The actuals report (能耗实绩): buckets of a period with a line per energy type, the total,
and year-on-year (同比) and period-on-period (环比) changes, JSON-ready.

The figures come from :func:`ems.actuals.services.compute`; this module only arranges them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ems.actuals.conversion import load_catalogue
from ems.actuals.models import Shift
from ems.actuals.periods import Bucket, Period, Span, plan, query_bounds
from ems.actuals.services import (
    PERCENT_PLACES,
    QUANTITY_PLACES,
    TCE_PLACES,
    Figures,
    Line,
    change_pct,
    compute,
    fixed,
    flag_names,
)
from ems.energy.coefficients import Coefficient
from ems.energy.models import EnergyType
from ems.errors import InvalidInput


@dataclass(frozen=True)
class ActualsQuery:
    """What ``GET /actuals`` asks for (bounds already parsed)."""

    period: Period
    start: date | datetime | None = None
    end: date | datetime | None = None
    energy_type: str | None = None
    electricity_basis: str | None = None
    compare: bool = True


def query_of(data: Mapping[str, Any]) -> ActualsQuery:
    """An ``ActualsQuerySchema``'s loaded data as a query (InvalidInput names a bad bound)."""
    start, end = query_bounds(data)
    return ActualsQuery(
        Period(data["period"]),
        start,
        end,
        data.get("energy_type"),
        data.get("electricity_basis"),
        data["compare"],
    )


def coefficient_out(coefficient: Coefficient, days: int) -> dict[str, Any]:
    """The basis of a figure: the coefficient row, where it came from, on how many days."""
    return {
        "energy_type": coefficient.energy_type,
        "basis": coefficient.basis,
        "value": str(coefficient.value),
        "unit": coefficient.unit,
        "origin": coefficient.origin,
        "row_id": coefficient.row_id,
        "region_code": coefficient.region_code,
        "valid_from": coefficient.valid_from.isoformat(),
        "valid_to": None if coefficient.valid_to is None else coefficient.valid_to.isoformat(),
        "source": coefficient.source,
        "version": coefficient.version,
        "note": coefficient.note,
        "days": days,
    }


def _bounds_out(bucket: Bucket, tz: ZoneInfo) -> dict[str, Any]:
    # A base bucket is shown once per line that compares with it: formatted once (callers
    # spread it into a new dict, so the cached one is never changed).
    return _bounds(bucket, tz)


@functools.lru_cache(maxsize=4096)
def _bounds(bucket: Bucket, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "label": bucket.label,
        "start": bucket.start.astimezone(tz).isoformat(),
        "end": bucket.end.astimezone(tz).isoformat(),
    }


NO_BASE = {
    "year_on_year": "no bucket a year earlier matches this one (29 February, or ISO week 53)",
    "period_on_period": "no previous bucket",
}


def _line_comparison(line: Line, base: Figures | None, name: str) -> dict[str, Any]:
    # The base bucket's bounds are given once, in the bucket's own comparison.
    if base is None:
        return {"reason": NO_BASE[name]}
    other = base.lines.get((line.energy_type, line.unit))
    # A type the base bucket does not have was not used then: its base is zero.
    quantity: Decimal = Decimal(0)
    tce: Decimal | None = Decimal(0)
    if other is not None and other.result is not None:
        quantity, tce = other.result.quantity, other.result.tce
    assert line.result is not None  # noqa: S101 - set by _finish
    now_tce = line.result.tce
    tce_change = None if now_tce is None or tce is None else now_tce - tce
    return {
        "quantity": fixed(quantity, QUANTITY_PLACES),
        "tce": fixed(tce, TCE_PLACES),
        "quantity_change": fixed(line.result.quantity - quantity, QUANTITY_PLACES),
        "quantity_change_pct": fixed(change_pct(line.result.quantity, quantity), PERCENT_PLACES),
        "tce_change": fixed(tce_change, TCE_PLACES),
        "tce_change_pct": fixed(change_pct(now_tce, tce), PERCENT_PLACES),
        "reason": None if quantity else "no consumption in the base bucket",
    }


def _line_out(
    line: Line,
    catalogue: dict[str, EnergyType],
    bases: dict[str, Figures | None] | None,
    tz: ZoneInfo,
) -> dict[str, Any]:
    result = line.result
    assert result is not None  # noqa: S101 - set by _finish
    kind = catalogue.get(line.energy_type)
    out: dict[str, Any] = {
        "energy_type": line.energy_type,
        "name_zh": kind.name_zh if kind else None,
        "name_en": kind.name_en if kind else None,
        "category": kind.category if kind else None,
        "unit": line.unit,
        "quantity": fixed(result.quantity, QUANTITY_PLACES),
        "tce": fixed(result.tce, TCE_PLACES),
        "missing": result.missing,
        "coefficients": [coefficient_out(c, days) for c, days in result.coefficients],
        "points": line.points,
        "flags": flag_names(line.flags),
        "manual": line.manual,
        "manual_quantities": sorted(line.manual_ids),
    }
    for name, base in (bases or {}).items():
        out[name] = _line_comparison(line, base, name)
    return out


def _total_comparison(figures: Figures, base: Figures | None, name: str, tz: ZoneInfo) -> Any:
    if base is None:
        return {"reason": NO_BASE[name]}
    gaps = sorted(set(figures.missing) | set(base.missing))
    return {
        **_bounds_out(base.bucket, tz),
        "total_tce": fixed(base.total_tce, TCE_PLACES),
        "change": fixed(figures.total_tce - base.total_tce, TCE_PLACES),
        "change_pct": fixed(change_pct(figures.total_tce, base.total_tce), PERCENT_PLACES),
        "complete": not gaps,
        "reason": f"tce missing for {', '.join(gaps)}" if gaps else None,
    }


def bucket_out(
    span: Span,
    figures: dict[tuple[datetime, datetime], Figures],
    catalogue: dict[str, EnergyType],
    compare: bool,
    tz: ZoneInfo,
) -> dict[str, Any]:
    """One bucket of the report: a line per energy type, the total, the comparisons."""
    own = figures[span.bucket.key]
    bases: dict[str, Figures | None] | None = None
    if compare:
        bases = {
            "year_on_year": figures[span.year_before.key] if span.year_before else None,
            "period_on_period": figures[span.previous.key] if span.previous else None,
        }
    out: dict[str, Any] = {
        **_bounds_out(span.bucket, tz),
        "shift_id": span.bucket.shift_id,
        "day": None if span.bucket.day is None else span.bucket.day.isoformat(),
        "energy": [_line_out(own.lines[key], catalogue, bases, tz) for key in sorted(own.lines)],
        "total_tce": fixed(own.total_tce, TCE_PLACES),
        "complete": not own.missing,
        "missing": own.missing,
        "flags": flag_names(own.flags),
        "manual": own.manual,
    }
    for name, base in (bases or {}).items():
        out[name] = _total_comparison(own, base, name, tz)
    return out


def actuals_report(
    session: Session,
    tz: ZoneInfo,
    region_code: str | None,
    query: ActualsQuery,
    now: datetime,
    shifts: Sequence[Shift] = (),
) -> dict[str, Any]:
    """The actuals report: buckets of ``query.period`` with their figures and comparisons.

    Built JSON-ready (strings for figures, ISO 8601 for times) in the shape of
    :class:`ems.actuals.schemas.ActualsSchema`, so the API sends it as it is.
    """
    types: set[str] | None = None
    catalogue = load_catalogue(session)
    if query.energy_type is not None:
        if query.energy_type not in catalogue:
            raise InvalidInput(
                f"unknown energy type {query.energy_type!r}",
                fields={"query.energy_type": ["not in the energy type catalogue"]},
            )
        types = {query.energy_type}
    spans = plan(query.period, query.start, query.end, tz, now.astimezone(UTC), shifts)
    wanted = [span.bucket for span in spans]
    if query.compare:
        wanted += [b for span in spans for b in (span.year_before, span.previous) if b]
    figures = compute(session, tz, region_code, wanted, types, query.electricity_basis, catalogue)
    return {
        "period": query.period.value,
        "timezone": tz.key,
        "from": spans[0].bucket.start.astimezone(tz).isoformat(),
        "to": spans[-1].bucket.end.astimezone(tz).isoformat(),
        "buckets": [bucket_out(s, figures, catalogue, query.compare, tz) for s in spans],
    }
