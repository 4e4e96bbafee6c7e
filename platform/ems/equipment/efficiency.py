"""Efficiency of equipment (能源利用效率监测, DB53/T 1026-2021 §4.6; construction code
§4.5.6): energy in and out per period, the ratio, and how it stands against the
equipment's design and target values.

A period record holds what went in and came out over [from, to) (local days):
``inputs`` and ``outputs`` count in the efficiency, ``materials`` are recorded
beside them (feed water, product). Every input and output is expressed in MJ:
a quantity in an energy unit (kWh, GJ...) directly, a mass or volume through the
energy one unit of it carries (``energy_content``: a fuel's net calorific value
in MJ/kg, steam's enthalpy rise in GJ/t). Conversions between units of one
dimension are :func:`ems.energy.coefficients.convert`'s; anything else is refused,
naming the field. So a boiler's thermal efficiency is heat out / (fuel x NCV), a
pump's is hydraulic energy out / electricity in, and so on.

Records are entered, or computed from the daily rollups of the cumulative points
the equipment's efficiency terms name. The ratio is computed when read, never
stored, so a corrected quantity corrects it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from ems.context import current_actor
from ems.energy.coefficients import UNITS, convert
from ems.equipment import catalogue
from ems.equipment.models import (
    EfficiencyPeriod,
    EfficiencyTerm,
    Equipment,
    PeriodSource,
    TermRole,
)
from ems.errors import Conflict, InvalidInput, NotFound
from ems.telemetry.calendar import Grain, bucket_start
from ems.telemetry.intervals import Flag
from ems.telemetry.models import Point, PointKind
from ems.telemetry.rollup_models import PointRollup

COMMON_UNIT = "MJ"
PLACES = Decimal("0.000001")
GROUPS = ("inputs", "outputs", "materials")
ROLE_OF_GROUP = {
    "inputs": TermRole.INPUT,
    "outputs": TermRole.OUTPUT,
    "materials": TermRole.MATERIAL,
}
# A day whose figure carries one of these is not a complete measurement.
DOUBTFUL = Flag.GAP | Flag.ESTIMATED | Flag.SUSPECT | Flag.NEGATIVE
MAX_COMPUTE_DAYS = 366


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields={field: [message]})


def _known_unit(unit: str, field: str) -> str:
    if unit not in UNITS:
        raise _invalid(field, f"unknown unit {unit!r}; one of {', '.join(UNITS)}")
    return UNITS[unit][0]


def energy_mj(line: Mapping[str, Any], field: str) -> Decimal:
    """A quantity line in MJ; ``field`` (``inputs.0``) names what is wrong."""
    quantity = Decimal(str(line["quantity"]))
    dimension = _known_unit(line["unit"], f"{field}.unit")
    content, content_unit = line.get("energy_content"), line.get("energy_content_unit")
    if dimension == "energy":
        if content is not None or content_unit is not None:
            raise _invalid(f"{field}.energy_content", f"{line['unit']} is already energy")
        return convert(quantity, line["unit"], COMMON_UNIT)
    if content is None or content_unit is None:
        raise _invalid(
            f"{field}.energy_content",
            f"{line['unit']} measures {dimension}, not energy: give the energy one unit carries "
            "(energy_content and energy_content_unit, e.g. a net calorific value in MJ/kg)",
        )
    energy_unit, _, per = str(content_unit).partition("/")
    if _known_unit(energy_unit, f"{field}.energy_content_unit") != "energy":
        raise _invalid(f"{field}.energy_content_unit", "<energy unit>/<unit>, e.g. MJ/kg")
    if _known_unit(per, f"{field}.energy_content_unit") != dimension:
        raise _invalid(
            f"{field}.energy_content_unit",
            f"per {per} does not measure {dimension} as {line['unit']}",
        )
    amount = convert(quantity, line["unit"], per) * Decimal(str(content))
    return convert(amount, energy_unit, COMMON_UNIT)


def _line(data: Mapping[str, Any]) -> dict[str, Any]:
    """A quantity line as stored: decimals as strings, absent values as None."""

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "label": data["label"],
        "energy_type": data.get("energy_type"),
        "quantity": str(data["quantity"]),
        "unit": data["unit"],
        "energy_content": text(data.get("energy_content")),
        "energy_content_unit": data.get("energy_content_unit"),
    }


def _check_quantities(
    session: Session, quantities: Mapping[str, Sequence[Mapping[str, Any]]]
) -> None:
    for group in GROUPS:
        for index, line in enumerate(quantities.get(group, [])):
            if line.get("energy_type") is not None:
                catalogue.check_energy_types(session, [line["energy_type"]], f"{group}.{index}")
            if group != "materials":
                energy_mj(line, f"{group}.{index}")
    for group in ("inputs", "outputs"):
        if not quantities.get(group):
            raise _invalid(group, "at least one")


# ---------------------------------------------------------------------------
# Period records


def access_period(session: Session, equipment: Equipment, period_id: int) -> EfficiencyPeriod:
    """A period record of ``equipment``; any other id answers as missing."""
    row = session.get(EfficiencyPeriod, period_id)
    if row is None or row.equipment_id != equipment.id:
        raise NotFound("efficiency record not found")
    return row


def _existing(
    session: Session, equipment: Equipment, start: date, end: date
) -> EfficiencyPeriod | None:
    return session.scalar(
        select(EfficiencyPeriod).where(
            EfficiencyPeriod.equipment_id == equipment.id,
            EfficiencyPeriod.period_from == start,
            EfficiencyPeriod.period_to == end,
        )
    )


def _check_period(start: date, end: date) -> None:
    if end <= start:
        raise _invalid("to", "must be after from")


def add_period(session: Session, equipment: Equipment, data: Mapping[str, Any]) -> EfficiencyPeriod:
    """Record quantities entered by hand for one period (one record per period)."""
    start, end = data["period_from"], data["period_to"]
    _check_period(start, end)
    quantities = {g: [_line(x) for x in data.get(g) or []] for g in GROUPS}
    _check_quantities(session, quantities)
    if _existing(session, equipment, start, end) is not None:
        raise Conflict(
            "a record for this period exists; delete it first",
            fields={"from": ["a record exists"], "to": ["a record exists"]},
        )
    row = EfficiencyPeriod(
        equipment_id=equipment.id,
        period_from=start,
        period_to=end,
        quantities=quantities,
        source=PeriodSource.ENTERED.value,
        complete=True,
        note=data.get("note"),
        recorded_by=current_actor.get().name,
    )
    session.add(row)
    session.flush()
    return row


def periods_query(equipment: Equipment, query: Mapping[str, Any]) -> Select[EfficiencyPeriod]:
    """Period records meeting [from, to), oldest first."""
    stmt = select(EfficiencyPeriod).where(EfficiencyPeriod.equipment_id == equipment.id)
    if query.get("period_from") is not None:
        stmt = stmt.where(EfficiencyPeriod.period_to > query["period_from"])
    if query.get("period_to") is not None:
        stmt = stmt.where(EfficiencyPeriod.period_from < query["period_to"])
    return stmt.order_by(EfficiencyPeriod.period_from, EfficiencyPeriod.period_to)


@dataclass(frozen=True)
class Judged:
    """Energy in and out, their ratio, and the ratio against the equipment's values."""

    input_energy: Decimal
    output_energy: Decimal
    efficiency: Decimal | None
    below_target: bool | None
    vs_design: Decimal | None


def judge(equipment: Equipment, input_energy: Decimal, output_energy: Decimal) -> Judged:
    """The ratio (6 decimal places) and its standing; no input energy, no ratio."""
    ratio = None
    if input_energy:
        # Enough digits that a wildly disproportionate entry still quantizes (and shows).
        with localcontext() as ctx:
            ctx.prec = 60
            ratio = (output_energy / input_energy).quantize(PLACES, ROUND_HALF_EVEN)
    below = None
    if ratio is not None and equipment.target_efficiency is not None:
        below = ratio < equipment.target_efficiency
    design = None
    if ratio is not None and equipment.design_efficiency is not None:
        design = ratio - equipment.design_efficiency
    return Judged(input_energy, output_energy, ratio, below, design)


def evaluate(equipment: Equipment, row: EfficiencyPeriod) -> dict[str, Any]:
    """A period record with every line's energy, the efficiency and its standing."""
    out: dict[str, Any] = {
        "id": row.id,
        "period_from": row.period_from,
        "period_to": row.period_to,
        "source": row.source,
        "complete": row.complete,
        "note": row.note,
        "recorded_by": row.recorded_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "materials": row.quantities.get("materials", []),
    }
    totals = {}
    for group in ("inputs", "outputs"):
        lines = []
        for index, line in enumerate(row.quantities.get(group, [])):
            lines.append({**line, "energy_mj": energy_mj(line, f"{group}.{index}")})
        out[group] = lines
        totals[group] = sum((x["energy_mj"] for x in lines), Decimal(0))
    judged = judge(equipment, totals["inputs"], totals["outputs"])
    out.update(judged.__dict__)
    return out


def summary(equipment: Equipment, evaluated: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """All listed periods together: total energy out over total energy in."""
    total_in = sum((p["input_energy"] for p in evaluated), Decimal(0))
    total_out = sum((p["output_energy"] for p in evaluated), Decimal(0))
    judged = judge(equipment, total_in, total_out)
    below = sum(1 for p in evaluated if p["below_target"])
    return {**judged.__dict__, "periods": len(evaluated), "periods_below_target": below}


# ---------------------------------------------------------------------------
# Efficiency terms and computed records


def terms(session: Session, equipment: Equipment) -> list[EfficiencyTerm]:
    """The equipment's efficiency definition, in order."""
    return list(
        session.scalars(
            select(EfficiencyTerm)
            .where(EfficiencyTerm.equipment_id == equipment.id)
            .order_by(EfficiencyTerm.position)
        )
    )


def _checked_term(session: Session, index: int, data: Mapping[str, Any]) -> dict[str, Any]:
    field = f"terms.{index}"
    values = {k: data.get(k) for k in ("role", "label", "energy_type", "point_id", "unit")}
    values["energy_content"] = data.get("energy_content")
    values["energy_content_unit"] = data.get("energy_content_unit")
    if values["point_id"] is not None:
        point = session.get(Point, values["point_id"])
        if point is None:
            raise _invalid(f"{field}.point_id", "no such point")
        if point.kind != PointKind.CUMULATIVE:
            raise _invalid(f"{field}.point_id", "must be a cumulative point (a counter)")
        if values["unit"] not in (None, point.unit):
            raise _invalid(f"{field}.unit", f"the point counts in {point.unit}")
        values["unit"] = point.unit
    if values["unit"] is None:
        raise _invalid(f"{field}.unit", "required without a point")
    if values["energy_type"] is not None:
        catalogue.check_energy_types(session, [values["energy_type"]], field)
    if values["role"] != TermRole.MATERIAL:
        energy_mj({**values, "quantity": 1}, field)
    return values


def replace_terms(
    session: Session, equipment: Equipment, data: Sequence[Mapping[str, Any]]
) -> list[EfficiencyTerm]:
    """Set the equipment's efficiency definition (an empty list clears it)."""
    checked = [_checked_term(session, i, t) for i, t in enumerate(data)]
    roles = {t["role"] for t in checked}
    if checked and not {TermRole.INPUT.value, TermRole.OUTPUT.value} <= roles:
        raise _invalid("terms", "at least one input and one output")
    for old in terms(session, equipment):
        session.delete(old)
    session.flush()
    for position, values in enumerate(checked):
        session.add(EfficiencyTerm(equipment_id=equipment.id, position=position, **values))
    session.flush()
    return terms(session, equipment)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    # Noon is never skipped by a clock change; its day bucket starts at local midnight.
    return bucket_start(datetime.combine(day, time(12), tzinfo=tz), Grain.D1, tz)


def _daily_sums(
    session: Session, point_ids: list[int], start: date, end: date, tz: ZoneInfo
) -> dict[int, tuple[float, int, int]]:
    """Per point: consumption over the days, days with a figure, OR of their flags."""
    rows = session.execute(
        select(
            PointRollup.point,
            func.sum(PointRollup.consumption),
            func.count(),
            func.bit_or(PointRollup.flags),
        )
        .where(
            and_(
                PointRollup.point.in_(point_ids),
                PointRollup.grain == Grain.D1.value,
                PointRollup.start >= _day_start(start, tz),
                PointRollup.start < _day_start(end, tz),
                PointRollup.consumption.is_not(None),
            )
        )
        .group_by(PointRollup.point)
    ).all()
    return {
        point: (float(total or 0), int(days), int(flags or 0)) for point, total, days, flags in rows
    }


def compute_period(
    session: Session, equipment: Equipment, start: date, end: date, tz: ZoneInfo
) -> EfficiencyPeriod:
    """Build (or rebuild) the computed record of [start, end) from the terms' points."""
    _check_period(start, end)
    if (end - start).days > MAX_COMPUTE_DAYS:
        raise _invalid("to", f"at most {MAX_COMPUTE_DAYS} days per record")
    definition = terms(session, equipment)
    if not definition:
        raise _invalid("terms", "the equipment has no efficiency terms; PUT .../efficiency-terms")
    for term in definition:
        if term.point_id is None:
            raise _invalid("terms", f"term {term.label!r} has no point: enter this period by hand")
    sums = _daily_sums(session, [t.point_id for t in definition if t.point_id], start, end, tz)
    days = (end - start).days
    complete = True
    quantities: dict[str, list[dict[str, Any]]] = {g: [] for g in GROUPS}
    group_of = {role: group for group, role in ROLE_OF_GROUP.items()}
    for term in definition:
        total, counted, flags = sums.get(term.point_id or 0, (0.0, 0, 0))
        complete = complete and counted == days and not Flag(flags) & DOUBTFUL
        line = {
            "label": term.label,
            "energy_type": term.energy_type,
            "quantity": Decimal(repr(total)),
            "unit": term.unit,
            "energy_content": term.energy_content,
            "energy_content_unit": term.energy_content_unit,
        }
        quantities[group_of[TermRole(term.role)]].append(_line(line))
    return _store_computed(session, equipment, start, end, quantities, complete)


def _store_computed(
    session: Session,
    equipment: Equipment,
    start: date,
    end: date,
    quantities: dict[str, list[dict[str, Any]]],
    complete: bool,
) -> EfficiencyPeriod:
    row = _existing(session, equipment, start, end)
    if row is not None and row.source == PeriodSource.ENTERED:
        raise Conflict(
            "a record entered by hand exists for this period; delete it to compute one",
            fields={"from": ["an entered record exists"]},
        )
    if row is None:
        row = EfficiencyPeriod(equipment_id=equipment.id, period_from=start, period_to=end)
        session.add(row)
    row.quantities = quantities
    row.source = PeriodSource.COMPUTED.value
    row.complete = complete
    row.note = None if complete else "some days lack a figure or carry gap/estimated flags"
    row.recorded_by = current_actor.get().name
    session.flush()
    return row
