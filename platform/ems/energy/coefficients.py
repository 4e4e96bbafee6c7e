"""Which standard coal coefficient is in force, and physical quantities converted to tce.

Resolution order for one energy type, basis and day: the tenant's override, then the most
specific regional row of the reference table (county, city, province of the tenant's region
code), then the national row. Validity is inclusive of ``valid_from`` and exclusive of
``valid_to``. The basis defaults to the tenant's setting for electricity and to the
equivalent value (当量值) for everything else.

The tenant's overrides and settings are written here too (the session is the tenant's; nothing
commits). Nothing here caches: every figure in tce is computed from physical quantities and the
coefficient read at that moment, so a changed coefficient shows at once (decision 0013).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from ems.context import current_actor
from ems.energy.models import (
    Basis,
    CoalCoefficient,
    CoefficientOverride,
    EnergySettings,
    EnergyType,
)
from ems.errors import Conflict, InvalidInput, NotFound

ELECTRICITY = "electricity"

# Unit definitions, not published factors: SI prefixes (GB 3100-1993), 1 kWh = 3.6 MJ exactly,
# 1 t = 1000 kg, and the statistical 万 (10^4) prefix. Nothing here is revised by a government,
# so it is code (decision 0013). Each unit: (dimension, size in the dimension's base unit).
UNITS: Mapping[str, tuple[str, Decimal]] = {
    "kg": ("mass", Decimal(1)),
    "t": ("mass", Decimal(1000)),
    "10^4 t": ("mass", Decimal(10_000_000)),
    "L": ("volume", Decimal("0.001")),
    "m3": ("volume", Decimal(1)),
    "10^4 m3": ("volume", Decimal(10_000)),
    "kJ": ("energy", Decimal("0.001")),
    "MJ": ("energy", Decimal(1)),
    "GJ": ("energy", Decimal(1000)),
    "TJ": ("energy", Decimal(1_000_000)),
    "kWh": ("energy", Decimal("3.6")),
    "MWh": ("energy", Decimal(3600)),
    "GWh": ("energy", Decimal(3_600_000)),
    "10^4 kWh": ("energy", Decimal(36_000)),
}
# Standard coal: the numerator of a coefficient's unit, in kgce.
COAL_UNITS: Mapping[str, Decimal] = {"kgce": Decimal(1), "tce": Decimal(1000)}
KGCE_PER_TCE = COAL_UNITS["tce"]


class CoefficientMissing(NotFound):
    """No coefficient is in force for an energy type, basis and day: never guessed."""

    code = "coefficient_missing"


@dataclass(frozen=True)
class Coefficient:
    """A coefficient in force, and which row it came from (``origin``: override/region/national)."""

    energy_type: str
    basis: str
    value: Decimal
    unit: str
    source: str
    origin: str
    row_id: int
    region_code: str | None
    valid_from: date
    valid_to: date | None
    version: str | None = None
    note: str | None = None


def convert(quantity: Decimal, unit: str, to_unit: str) -> Decimal:
    """``quantity`` in ``unit`` expressed in ``to_unit`` (same dimension only)."""
    if unit not in UNITS or to_unit not in UNITS:
        unknown = unit if unit not in UNITS else to_unit
        raise InvalidInput(f"unknown unit {unknown!r}", fields={"unit": [f"one of {list(UNITS)}"]})
    (dim, size), (to_dim, to_size) = UNITS[unit], UNITS[to_unit]
    if dim != to_dim:
        raise InvalidInput(
            f"cannot convert {unit} ({dim}) to {to_unit} ({to_dim})",
            fields={"unit": [f"must measure {to_dim}"]},
        )
    return quantity * size / to_size


def split_unit(coefficient_unit: str) -> tuple[str, str]:
    """``kgce/kWh`` -> (``kgce``, ``kWh``); refuses anything else."""
    coal, _, per = coefficient_unit.partition("/")
    if coal not in COAL_UNITS or per not in UNITS:
        raise InvalidInput(
            f"coefficient unit {coefficient_unit!r} is not <kgce|tce>/<unit>",
            fields={"unit": [f"<kgce|tce>/<unit>, unit one of {list(UNITS)}"]},
        )
    return coal, per


def to_tce(quantity: Decimal | float | int, unit: str, coefficient: Coefficient) -> Decimal:
    """Tonnes of standard coal equivalent of ``quantity`` ``unit`` at ``coefficient``."""
    coal, per = split_unit(coefficient.unit)
    amount = Decimal(repr(quantity)) if isinstance(quantity, float) else Decimal(quantity)
    return convert(amount, unit, per) * coefficient.value * COAL_UNITS[coal] / KGCE_PER_TCE


def tce_by_day(
    quantities: Mapping[date, Decimal | float | int],
    unit: str,
    periods: list[tuple[date, date, Coefficient]],
) -> dict[date, Decimal]:
    """Each day's quantity in tce at the coefficient in force that day (``periods`` from
    :func:`segments`); a day outside them raises :class:`CoefficientMissing`."""
    starts = [start for start, _, _ in periods]
    out: dict[date, Decimal] = {}
    for day, quantity in quantities.items():
        i = bisect.bisect_right(starts, day) - 1
        if i < 0 or day >= periods[i][1]:
            raise CoefficientMissing(f"no coefficient period covers {day.isoformat()}")
        out[day] = to_tce(quantity, unit, periods[i][2])
    return out


def energy_type_row(session: Session, code: str) -> EnergyType:
    """The catalogue entry ``code``; an unknown code names the field."""
    row = session.get(EnergyType, code)
    if row is None:
        raise InvalidInput(
            f"unknown energy type {code!r}", fields={"energy_type": ["not in the catalogue"]}
        )
    return row


def settings(session: Session) -> EnergySettings:
    """The tenant's energy settings row (created by the migration; recreated if missing)."""
    row = session.get(EnergySettings, 1)
    if row is None:
        row = EnergySettings(id=1, electricity_basis=Basis.EQUIVALENT)
        session.add(row)
        session.flush()
    return row


def default_basis(session: Session, energy_type: str) -> str:
    """The tenant's basis for electricity; the equivalent value for every other type."""
    if energy_type == ELECTRICITY:
        return settings(session).electricity_basis
    return Basis.EQUIVALENT.value


def region_chain(region_code: str | None) -> list[str]:
    """``530102`` -> [``530102``, ``530100``, ``530000``]: most specific first."""
    if not region_code:
        return []
    chain = [region_code, region_code[:4] + "00", region_code[:2] + "0000"]
    return list(dict.fromkeys(chain))


def _overlapping(
    model: type[CoalCoefficient] | type[CoefficientOverride], start: date, end: date | None
) -> ColumnElement[bool]:
    """Rows of ``model`` whose validity meets [start, end) (``end`` None: open-ended)."""
    meets_start = or_(model.valid_to.is_(None), model.valid_to > start)
    return meets_start if end is None else and_(model.valid_from < end, meets_start)


def _candidates(
    session: Session, energy_type: str, basis: str, region: list[str], start: date, end: date
) -> list[Coefficient]:
    """Every row that can apply somewhere in [start, end), in order of precedence."""
    return _candidates_of(session, {energy_type: basis}, region, start, end)[energy_type]


def _candidates_of(
    session: Session, bases: Mapping[str, str], region: list[str], start: date, end: date
) -> dict[str, list[Coefficient]]:
    """:func:`_candidates` of several energy types (each with its basis) in two queries."""
    wanted = list(bases.items())
    overrides = session.scalars(
        select(CoefficientOverride)
        .where(
            or_(
                *(
                    and_(CoefficientOverride.energy_type == t, CoefficientOverride.basis == b)
                    for t, b in wanted
                )
            )
        )
        .where(_overlapping(CoefficientOverride, start, end))
    )
    published = session.scalars(
        select(CoalCoefficient)
        .where(
            or_(
                *(
                    and_(CoalCoefficient.energy_type == t, CoalCoefficient.basis == b)
                    for t, b in wanted
                )
            )
        )
        .where(or_(CoalCoefficient.region_code.is_(None), CoalCoefficient.region_code.in_(region)))
        .where(_overlapping(CoalCoefficient, start, end))
    )
    rank = {code: i for i, code in enumerate(region)}
    ordered = sorted(
        published,
        key=lambda r: (rank.get(r.region_code or "", len(region)), -r.valid_from.toordinal()),
    )
    found: dict[str, list[Coefficient]] = {energy_type: [] for energy_type in bases}
    for override in overrides:
        found[override.energy_type].append(_from_override(override))
    for row in ordered:
        found[row.energy_type].append(_from_published(row))
    return found


def _from_override(row: CoefficientOverride) -> Coefficient:
    return Coefficient(
        energy_type=row.energy_type,
        basis=row.basis,
        value=row.value,
        unit=row.unit,
        source=row.reason,
        origin="override",
        row_id=row.id,
        region_code=None,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        note=f"tenant override recorded by {row.recorded_by}",
    )


def _from_published(row: CoalCoefficient) -> Coefficient:
    return Coefficient(
        energy_type=row.energy_type,
        basis=row.basis,
        value=row.value,
        unit=row.unit,
        source=row.source,
        origin="national" if row.region_code is None else "region",
        row_id=row.id,
        region_code=row.region_code,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        version=row.version,
        note=row.note,
    )


def _in_force(candidates: Iterable[Coefficient], day: date) -> Coefficient | None:
    for c in candidates:
        if c.valid_from <= day and (c.valid_to is None or day < c.valid_to):
            return c
    return None


def _missing(energy_type: str, basis: str, day: date, region: str | None) -> CoefficientMissing:
    where = f"region {region} or national" if region else "national"
    message = (
        f"no standard coal coefficient for {energy_type} on the {basis} basis is in force on "
        f"{day.isoformat()} (tenant override, {where})"
    )
    if energy_type == ELECTRICITY and basis == Basis.EQUAL_VALUE:
        message += (
            ": the equal-value basis (等价值) needs that year's thermal power supply coal rate "
            "(火电供电标准煤耗), which is not preloaded; record it as a tenant override with "
            "its source, or use the equivalent basis"
        )
    return CoefficientMissing(message, fields={"basis": [message]})


def segments(
    session: Session,
    energy_type: str,
    start: date,
    end: date,
    region_code: str | None,
    basis: str | None = None,
) -> list[tuple[date, date, Coefficient]]:
    """[start, end) cut where the coefficient in force changes: ``(from, to, coefficient)``
    with ``to`` exclusive. A day without a coefficient raises :class:`CoefficientMissing`."""
    energy_type_row(session, energy_type)
    if end <= start:
        raise InvalidInput("the period is empty", fields={"end": ["must be after start"]})
    basis = basis or default_basis(session, energy_type)
    candidates = _candidates(session, energy_type, basis, region_chain(region_code), start, end)
    return _cut(candidates, energy_type, basis, start, end, region_code)


def segments_of(
    session: Session,
    bases: Mapping[str, str | None],
    start: date,
    end: date,
    region_code: str | None,
) -> dict[str, list[tuple[date, date, Coefficient]] | CoefficientMissing]:
    """:func:`segments` of several energy types over one period, in two queries (reports
    over many types); a type without a coefficient somewhere gets its CoefficientMissing
    instead of failing the others. ``bases`` maps each type to its basis (None: default)."""
    if end <= start:
        raise InvalidInput("the period is empty", fields={"end": ["must be after start"]})
    if not bases:
        return {}
    chosen = {}
    for energy_type, basis in bases.items():
        energy_type_row(session, energy_type)
        chosen[energy_type] = basis or default_basis(session, energy_type)
    found = _candidates_of(session, chosen, region_chain(region_code), start, end)
    out: dict[str, list[tuple[date, date, Coefficient]] | CoefficientMissing] = {}
    for energy_type, basis in chosen.items():
        try:
            out[energy_type] = _cut(found[energy_type], energy_type, basis, start, end, region_code)
        except CoefficientMissing as missing:
            out[energy_type] = missing
    return out


def _cut(
    candidates: list[Coefficient],
    energy_type: str,
    basis: str,
    start: date,
    end: date,
    region_code: str | None,
) -> list[tuple[date, date, Coefficient]]:
    cuts = {start, end}
    for c in candidates:
        cuts.update(d for d in (c.valid_from, c.valid_to) if d is not None and start < d < end)
    bounds = sorted(cuts)
    out: list[tuple[date, date, Coefficient]] = []
    for lo, hi in itertools.pairwise(bounds):
        coefficient = _in_force(candidates, lo)
        if coefficient is None:
            raise _missing(energy_type, basis, lo, region_code)
        if out and out[-1][2] == coefficient and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi, coefficient)
        else:
            out.append((lo, hi, coefficient))
    return out


def resolve(
    session: Session,
    energy_type: str,
    on: date,
    region_code: str | None,
    basis: str | None = None,
) -> Coefficient:
    """The coefficient in force for ``energy_type`` on ``on`` (a local calendar day)."""
    if on >= date.max:
        raise InvalidInput("no day follows this date", fields={"on": ["before 9999-12-31"]})
    return segments(session, energy_type, on, on + timedelta(days=1), region_code, basis)[0][2]


# Tenant overrides and settings. The session is bound to the tenant; nothing here commits.

OVERRIDE_FIELDS = ("energy_type", "basis", "value", "unit", "valid_from", "valid_to", "reason")


def access_override(session: Session, override_id: int) -> CoefficientOverride:
    """An override of the session's tenant (another tenant's ids are not in this schema)."""
    row = session.get(CoefficientOverride, override_id)
    if row is None:
        raise NotFound("coefficient override not found")
    return row


def _locked_settings(session: Session) -> EnergySettings:
    # Serialises override writes of one tenant, so two concurrent requests cannot both pass
    # the overlap check below.
    row = session.scalar(select(EnergySettings).where(EnergySettings.id == 1).with_for_update())
    return row if row is not None else settings(session)


def _check_override(session: Session, values: Mapping[str, Any], own_id: int | None) -> None:
    kind = energy_type_row(session, str(values["energy_type"]))
    _, per = split_unit(str(values["unit"]))
    if UNITS[per][0] != kind.dimension:
        raise InvalidInput(
            f"{kind.code} is measured in {kind.dimension}, not {UNITS[per][0]}",
            fields={"unit": [f"per unit must measure {kind.dimension} (e.g. kgce/{kind.unit})"]},
        )
    start: date = values["valid_from"]
    end: date | None = values["valid_to"]
    if end is not None and end <= start:
        raise InvalidInput("valid_to must be after valid_from", fields={"valid_to": ["<= from"]})
    _locked_settings(session)
    clash = session.scalar(
        select(CoefficientOverride.id)
        .where(
            CoefficientOverride.energy_type == kind.code,
            CoefficientOverride.basis == values["basis"],
            CoefficientOverride.id != (own_id or 0),
        )
        .where(_overlapping(CoefficientOverride, start, end))
        .limit(1)
    )
    if clash is not None:
        problem = f"overlaps override {clash} of {kind.code} ({values['basis']})"
        raise Conflict(
            "the effective range overlaps another override",
            fields={"valid_from": [problem], "valid_to": [problem]},
        )


def create_override(session: Session, data: Mapping[str, Any]) -> CoefficientOverride:
    """Record a tenant coefficient; its audit entry is written by the flush."""
    values = {k: data.get(k) for k in OVERRIDE_FIELDS}
    _check_override(session, values, None)
    row = CoefficientOverride(**values, recorded_by=current_actor.get().name)
    session.add(row)
    session.flush()
    return row


def update_override(
    session: Session, row: CoefficientOverride, data: Mapping[str, Any]
) -> CoefficientOverride:
    """Replace an override's fields (the audit entry keeps the values before)."""
    values = {k: data.get(k) for k in OVERRIDE_FIELDS}
    _check_override(session, values, row.id)
    for key, value in values.items():
        setattr(row, key, value)
    row.recorded_by = current_actor.get().name
    session.flush()
    return row


def update_settings(session: Session, data: Mapping[str, Any]) -> EnergySettings:
    """Change the tenant's electricity basis."""
    row = _locked_settings(session)
    row.electricity_basis = str(data["electricity_basis"])
    session.flush()
    return row
