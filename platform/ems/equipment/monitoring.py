"""Which of the tenant's points serve the monitoring items table 4.5.3 requires of an
equipment's class, and how much of it is covered.

An item is covered when at least one point serves it, or when it is declared not
applicable to this equipment (a steam boiler has no circulating-water flow; the
table itself marks such items per boiler type). A point's kind must fit the item:
an item that is only indicated (指示, such as a pressure) takes instantaneous
points, one that is only totalised (积算, such as a fan's electricity) takes
cumulative points, one that is both (a flow) takes either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.equipment import catalogue
from ems.equipment.models import Equipment, MonitoringBinding, MonitoringItem
from ems.errors import InvalidInput
from ems.telemetry.models import Point, PointKind


def _allowed_kinds(item: MonitoringItem) -> set[str]:
    kinds: set[str] = set()
    if item.indicate:
        kinds.add(PointKind.INSTANTANEOUS.value)
    if item.totalise:
        kinds.add(PointKind.CUMULATIVE.value)
    return kinds


def _point_json(point: Point) -> dict[str, Any]:
    return {
        "point_id": point.id,
        "code": point.code,
        "name": point.name,
        "kind": point.kind,
        "unit": point.unit,
    }


def coverage(session: Session, equipment: Equipment) -> dict[str, Any]:
    """Each required item of the equipment's class with the points bound to it."""
    items = catalogue.items_of(session, equipment.class_code)
    rows = session.execute(
        select(MonitoringBinding, Point)
        .outerjoin(Point, Point.id == MonitoringBinding.point_id)
        .where(MonitoringBinding.equipment_id == equipment.id)
        .order_by(MonitoringBinding.id)
    ).all()
    points: dict[str, list[dict[str, Any]]] = {}
    waived: dict[str, MonitoringBinding] = {}
    for binding, point in rows:
        if binding.not_applicable:
            waived[binding.item_code] = binding
        elif point is not None:
            points.setdefault(binding.item_code, []).append(_point_json(point))
    out_items = []
    for item in items:
        bound = points.get(item.code, [])
        waiver = waived.get(item.code)
        out_items.append(
            {
                **{k: getattr(item, k) for k in ("code", "name_zh", "name_en", "indicate")},
                **{k: getattr(item, k) for k in ("totalise", "record")},
                "applies_to_zh": item.applies_to_zh,
                "applies_to_en": item.applies_to_en,
                "points": bound,
                "not_applicable": waiver is not None,
                "note": waiver.note if waiver is not None else None,
                "covered": bool(bound) or waiver is not None,
            }
        )
    covered = sum(1 for i in out_items if i["covered"])
    return {
        "equipment_id": equipment.id,
        "class_code": equipment.class_code,
        "required": len(items),
        "covered": covered,
        "coverage": round(covered / len(items), 4) if items else None,
        "items": out_items,
    }


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields={field: [message]})


def _check_binding(
    index: int,
    binding: Mapping[str, Any],
    items: Mapping[str, MonitoringItem],
    points: Mapping[int, Point],
    class_code: str,
) -> None:
    where = f"bindings.{index}"
    item = items.get(binding["item_code"])
    if item is None:
        raise _invalid(f"{where}.item_code", f"not a monitoring item of class {class_code}")
    ids: Sequence[int] = binding["point_ids"]
    if binding["not_applicable"] == bool(ids):
        raise _invalid(f"{where}.point_ids", "give points, or declare the item not applicable")
    if len(set(ids)) != len(ids):
        raise _invalid(f"{where}.point_ids", "a point is listed twice")
    allowed = _allowed_kinds(item)
    for n, point_id in enumerate(ids):
        point = points.get(point_id)
        if point is None:
            raise _invalid(f"{where}.point_ids.{n}", "no such point")
        if point.kind not in allowed:
            wanted = " or ".join(sorted(allowed))
            raise _invalid(
                f"{where}.point_ids.{n}", f"{item.name_en} takes {wanted} points, not {point.kind}"
            )


def replace_bindings(
    session: Session, equipment: Equipment, bindings: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Set every binding of the equipment at once; answers the new coverage."""
    items = {i.code: i for i in catalogue.items_of(session, equipment.class_code)}
    wanted = {pid for b in bindings for pid in b["point_ids"]}
    points = {p.id: p for p in session.scalars(select(Point).where(Point.id.in_(wanted)))}
    seen: set[str] = set()
    for index, binding in enumerate(bindings):
        _check_binding(index, binding, items, points, equipment.class_code)
        if binding["item_code"] in seen:
            raise _invalid(f"bindings.{index}.item_code", "the item is listed twice")
        seen.add(binding["item_code"])
    old = list(
        session.scalars(
            select(MonitoringBinding).where(MonitoringBinding.equipment_id == equipment.id)
        )
    )
    for row in old:
        session.delete(row)
    session.flush()
    for binding in bindings:
        for point_id in binding["point_ids"] or [None]:
            session.add(
                MonitoringBinding(
                    equipment_id=equipment.id,
                    item_code=binding["item_code"],
                    point_id=point_id,
                    not_applicable=binding["not_applicable"],
                    note=binding.get("note"),
                )
            )
    session.flush()
    return coverage(session, equipment)
