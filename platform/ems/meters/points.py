"""Links between meters and the points they feed (a point has at most one meter).

The session passed in is bound to the tenant; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.errors import Conflict, InvalidInput, NotFound
from ems.meters.models import Meter, MeterPoint
from ems.telemetry.models import Point


def linked_points(session: Session, meter: Meter) -> list[tuple[Point, MeterPoint]]:
    """The points the meter feeds, with how each was linked."""
    rows = session.execute(
        select(Point, MeterPoint)
        .join(MeterPoint, MeterPoint.point_id == Point.id)
        .where(MeterPoint.meter_id == meter.id)
        .order_by(Point.id)
    )
    return [(point, link) for point, link in rows]


def link_point(session: Session, meter: Meter, point_id: int) -> Point:
    """Link a point to the meter; a point already linked elsewhere is a conflict."""
    point = session.get(Point, point_id)
    if point is None:
        raise InvalidInput("unknown point", fields={"point_id": ["no such point"]})
    link = session.get(MeterPoint, point_id)
    if link is not None and link.meter_id != meter.id:
        raise Conflict(
            "the point is linked to another meter; unlink it there first",
            fields={"point_id": [f"linked to meter {link.meter_id}"]},
        )
    if link is None:
        session.add(MeterPoint(point_id=point_id, meter_id=meter.id, linked_by="manual"))
        session.flush()
    return point


def unlink_point(session: Session, meter: Meter, point_id: int) -> None:
    """Remove a point's link to the meter."""
    link = session.get(MeterPoint, point_id)
    if link is None or link.meter_id != meter.id:
        raise NotFound("the point is not linked to this meter")
    session.delete(link)
    session.flush()


def auto_link(session: Session, meters: Iterable[Meter] | None = None) -> int:
    """Link unlinked points whose ``meter_code`` is a meter's management number.

    The gateway's point catalogue names each point's meter (``meter_code``); the
    ledger's management number is the same identifier, so matching them saves
    linking by hand. A point already linked (by hand or earlier) is left alone.
    """
    stmt = (
        select(Point.id, Meter.id)
        .join(Meter, Meter.management_number == Point.meter_code)
        .outerjoin(MeterPoint, MeterPoint.point_id == Point.id)
        .where(MeterPoint.point_id.is_(None))
    )
    if meters is not None:
        stmt = stmt.where(Meter.id.in_([m.id for m in meters]))
    pairs = session.execute(stmt).all()
    session.add_all(
        MeterPoint(point_id=point_id, meter_id=meter_id, linked_by="auto")
        for point_id, meter_id in pairs
    )
    session.flush()
    return len(pairs)
