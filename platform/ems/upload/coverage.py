"""What a platform expects of the tenant, and what the mapped codes cover.

Expected, by provincial practice (upload-protocol.md, "Cadence and quality"): total
comprehensive energy consumption by day and month; the consumption of every energy
type the tenant meters (the types of its cumulative points that count in category
totals) by day and month; every product's output and unit consumption, and the
industrial output value and value added, by month (production figures are recorded
per month or longer by most enterprises; a day code is welcome but not expected).

Each expected figure lists the enabled codes that carry it, and is ``mapped`` (every
expected statistics type is flagged on some code), ``partial`` or ``missing``. Each
mapped code lists its dictionary problems and whether its source's unit can be put in
the dictionary's unit by a scale change. The session is the tenant's; nothing writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.actuals.models import Product
from ems.actuals.services import categories
from ems.energy.models import EnergyType
from ems.telemetry.models import Point
from ems.upload import codes, figures, mapping, profiles
from ems.upload.models import Source, StatType, UploadCode, UploadRegistration

DAY_MONTH = (StatType.DAY, StatType.MONTH)
MONTH = (StatType.MONTH,)
NO_DICTIONARY = "no dictionary downloaded yet"
_FLAG_OF = {
    StatType.REALTIME: "realtime",
    StatType.DAY: "day",
    StatType.MONTH: "month",
    StatType.YEAR: "year",
}


@dataclass(frozen=True)
class Expected:
    """A figure the platform expects: a source, its reference, and statistics types."""

    source: str
    reference: str | int | None
    name: str
    stat_types: tuple[StatType, ...]


def expected_figures(session: Session) -> list[Expected]:
    """The figures a platform expects of this tenant (see the module docstring)."""
    out = [
        Expected(Source.COMPREHENSIVE, None, "total comprehensive energy consumption", DAY_MONTH)
    ]
    metered = sorted({energy_type for energy_type, _ in categories(session, None)})
    out += [Expected(Source.CATEGORY, t, f"consumption of {t}", DAY_MONTH) for t in metered]
    for product in session.scalars(select(Product).order_by(Product.code)):
        label = f"{product.name} ({product.code})"
        out.append(Expected(Source.OUTPUT, product.id, f"output of {label}", MONTH))
        out.append(
            Expected(Source.UNIT_CONSUMPTION, product.id, f"unit consumption of {label}", MONTH)
        )
    out.append(Expected(Source.OUTPUT_VALUE, None, "industrial output value", MONTH))
    out.append(Expected(Source.VALUE_ADDED, None, "industrial value added", MONTH))
    return out


def reference_of(code: UploadCode) -> str | int | None:
    """The energy type, point or product a code's source names (None: it names none)."""
    name = mapping.REFERENCES.get(code.source)
    value: str | int | None = getattr(code, name) if name is not None else None
    return value


def stat_types_of(code: UploadCode) -> list[StatType]:
    return [t for t, flag in _FLAG_OF.items() if getattr(code, flag)]


def _expected_row(figure: Expected, rows: Sequence[UploadCode]) -> dict[str, Any]:
    carrying = [
        r
        for r in rows
        if r.enabled and r.source == figure.source and reference_of(r) == figure.reference
    ]
    covered = {t for r in carrying for t in stat_types_of(r)}
    wanted = set(figure.stat_types)
    status = "missing"
    if wanted <= covered:
        status = "mapped"
    elif wanted & covered:
        status = "partial"
    return {
        "source": figure.source,
        "reference": figure.reference,
        "name": figure.name,
        "stat_types": [t.name.lower() for t in figure.stat_types],
        "status": status,
        "missing_stat_types": [t.name.lower() for t in figure.stat_types if t not in covered],
        "codes": [{"id": r.id, "code": r.code} for r in carrying],
    }


class _SourceUnits:
    """The unit each source's figure is computed in, read once per report."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.type_units: dict[str, set[str]] = {}
        for energy_type, unit in categories(session, None):
            self.type_units.setdefault(energy_type, set()).add(unit)

    def of(self, code: UploadCode) -> str | None:
        source = code.source
        if source == Source.COMPREHENSIVE:
            return "tce"
        if source in (Source.OUTPUT_VALUE, Source.VALUE_ADDED):
            return "万元"
        if source == Source.CATEGORY and code.energy_type is not None:
            units = self.type_units.get(code.energy_type, set())
            if len(units) == 1:
                return next(iter(units))
            row = self.session.get(EnergyType, code.energy_type)
            return row.unit if row is not None else None
        if source == Source.POINT and code.point_id is not None:
            point = self.session.get(Point, code.point_id)
            return point.unit if point is not None else None
        product = self.session.get(Product, code.product_id) if code.product_id else None
        if product is None:
            return None
        return product.unit if source == Source.OUTPUT else f"kgce/{product.unit}"


def _code_row(
    row: UploadCode,
    dictionary: codes.Dictionary | None,
    dictionaries: Mapping[str, int],
    units: _SourceUnits,
    formatted: str,
) -> dict[str, Any]:
    source_unit = units.of(row)
    dictionary_unit = None
    if dictionary is None:
        problems = [NO_DICTIONARY]
    else:
        problems = dictionary.check(row.code, dictionaries)
        dictionary_unit = dictionary.unit_of(row.code, dictionaries)
    mismatch = None
    if source_unit is not None and dictionary_unit is not None:
        mismatch = figures.convert(Decimal(1), source_unit, dictionary_unit) is None
    return {
        "id": row.id,
        "code": row.code,
        "formatted": formatted,
        "name": row.name,
        "scope": row.scope,
        "source": row.source,
        "reference": reference_of(row),
        "enabled": row.enabled,
        "stat_types": [t.name.lower() for t in stat_types_of(row)],
        "problems": problems,
        "source_unit": source_unit,
        "dictionary_unit": dictionary_unit,
        "unit_mismatch": mismatch,
    }


def report(session: Session, registration: UploadRegistration) -> dict[str, Any]:
    """Expected figures against mapped codes, each code's problems, and the counts."""
    dictionary = mapping.current_dictionary(session, registration)
    dictionaries = mapping.code_dictionaries(registration)
    profile = profiles.all_profiles().get(registration.profile)
    rows = list(
        session.scalars(
            select(UploadCode)
            .where(UploadCode.registration_id == registration.id)
            .order_by(UploadCode.code)
        )
    )
    expected = [_expected_row(e, rows) for e in expected_figures(session)]
    units = _SourceUnits(session)

    def formatted(digits: str) -> str:
        return profile.format_code(digits) if profile is not None else digits

    mapped = [
        _code_row(
            r, dictionary, dictionaries, units, profile.format_code(r.code) if profile else r.code
        )
        for r in rows
    ]
    return {
        "registration_id": registration.id,
        "dictionary_version": dictionary.version if dictionary is not None else None,
        "comprehensive_basis": "network" if figures.has_network(session) else "category actuals",
        "expected": expected,
        "codes": mapped,
        "counts": {
            "expected": len(expected),
            "mapped": sum(e["status"] == "mapped" for e in expected),
            "partial": sum(e["status"] == "partial" for e in expected),
            "missing": sum(e["status"] == "missing" for e in expected),
            "invalid": sum(bool(c["problems"]) and dictionary is not None for c in mapped),
            "unchecked": len(mapped) if dictionary is None else 0,
            "unit_mismatches": sum(bool(c["unit_mismatch"]) for c in mapped),
        },
    }
