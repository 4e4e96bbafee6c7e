"""The equipment ledger (table A.3): create, change, remove, list.

The session is bound to the tenant; nothing here commits. A unit that equipment
names cannot be deleted (a guard registered with :mod:`ems.org.services`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, any_, func, literal, or_, select
from sqlalchemy.orm import Session

from ems.equipment import catalogue
from ems.equipment.models import Equipment, MonitoringBinding
from ems.errors import Conflict, InvalidInput, NotFound
from ems.org.models import Unit
from ems.org.services import register_delete_guard
from ems.telemetry.models import Point, PointKind

# The columns of table A.3 (序号 aside), in its order.
LEDGER_FIELDS = (
    "department",
    "name",
    "number",
    "model",
    "location",
    "class_code",
    "energy_types",
    "rating_value",
    "rating_unit",
    "special",
    "attached_model",
    "attached_power_value",
    "attached_power_unit",
    "remarks",
)
FIELDS = (
    "unit_id",
    *LEDGER_FIELDS,
    "manufacturer",
    "state_point_id",
    "state_threshold",
    "design_efficiency",
    "target_efficiency",
)


def access_equipment(session: Session, equipment_id: int) -> Equipment:
    """Equipment of the session's tenant (another tenant's ids are not in this schema)."""
    row = session.get(Equipment, equipment_id)
    if row is None:
        raise NotFound("equipment not found")
    return row


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def list_query(query: Mapping[str, Any]) -> Select[Equipment]:
    """The ledger, filtered, in the order it was entered (the order of an export)."""
    stmt = select(Equipment).order_by(Equipment.id)
    if query.get("q"):
        pattern = _like(query["q"])
        stmt = stmt.where(or_(Equipment.name.ilike(pattern), Equipment.number.ilike(pattern)))
    for name in ("class_code", "unit_id", "special"):
        if name in query:
            stmt = stmt.where(getattr(Equipment, name) == query[name])
    if "energy_type" in query:
        stmt = stmt.where(literal(query["energy_type"]) == any_(Equipment.energy_types))
    return stmt


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields={field: [message]})


def check_state_point(session: Session, values: Mapping[str, Any]) -> None:
    """The state point exists and is instantaneous, and comes with its threshold."""
    point_id = values.get("state_point_id")
    if point_id is None:
        if values.get("state_threshold") is not None:
            raise _invalid("state_threshold", "only with a state_point_id")
        return
    point = session.get(Point, point_id)
    if point is None:
        raise _invalid("state_point_id", "no such point")
    if point.kind != PointKind.INSTANTANEOUS:
        raise _invalid("state_point_id", "must be an instantaneous point (power, current)")
    if values.get("state_threshold") is None:
        raise _invalid("state_threshold", "required with a state_point_id")


def _check(session: Session, values: dict[str, Any], own_id: int | None) -> None:
    if values["unit_id"] is not None and session.get(Unit, values["unit_id"]) is None:
        raise _invalid("unit_id", "no such unit")
    catalogue.check_class(session, values["class_code"])
    catalogue.check_energy_types(session, values["energy_types"])
    for value, unit in (
        ("rating_value", "rating_unit"),
        ("attached_power_value", "attached_power_unit"),
    ):
        if values[value] is None and values[unit] is not None:
            raise _invalid(unit, f"a unit without {value}")
    check_state_point(session, values)
    other = session.scalar(select(Equipment.id).where(Equipment.number == values["number"]))
    if other is not None and other != own_id:
        raise Conflict("equipment with this number exists", fields={"number": ["already in use"]})


def create_equipment(session: Session, data: Mapping[str, Any]) -> Equipment:
    """Add equipment to the ledger."""
    values = {k: data.get(k) for k in FIELDS}
    values["energy_types"] = list(values["energy_types"] or [])
    _check(session, values, None)
    row = Equipment(**values)
    session.add(row)
    session.flush()
    return row


def update_equipment(session: Session, row: Equipment, data: Mapping[str, Any]) -> Equipment:
    """Replace equipment's fields."""
    values = {k: data.get(k) for k in FIELDS}
    values["energy_types"] = list(values["energy_types"] or [])
    _check(session, values, row.id)
    if values["class_code"] != row.class_code:
        # The items of the old class mean nothing for the new one.
        for binding in session.scalars(
            select(MonitoringBinding).where(MonitoringBinding.equipment_id == row.id)
        ):
            session.delete(binding)
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    return row


def delete_equipment(session: Session, row: Equipment) -> None:
    """Remove equipment with its bindings, inspections and efficiency records."""
    session.delete(row)
    session.flush()


@register_delete_guard
def _unit_has_equipment(session: Session, unit: Unit) -> str | None:
    count = session.scalar(select(func.count()).where(Equipment.unit_id == unit.id))
    if count:
        return f"{count} key energy-using equipment belong to the unit; reassign them first"
    return None
