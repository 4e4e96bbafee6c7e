"""Running state of equipment (运行状态监测与检查, DB53/T 1026-2021 §4.6): from its state
point's real-time value and from the inspection records operators enter.

The state point is an instantaneous point (active power, current) with a threshold:
above it the equipment runs, at or below it it stands still. An inspection says
what the inspector found (running, stopped, standby, fault), which a point cannot
tell apart. The current state is whichever of the two is newer; on a tie the
inspection wins, since a person looked at the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ems.context import current_actor
from ems.db import utcnow
from ems.equipment.models import Equipment, Inspection, RunningState
from ems.errors import InvalidInput, NotFound
from ems.telemetry.models import LatestValue, Point

# Clocks of handhelds drift; an inspection further ahead than this is a typo.
FUTURE_SKEW = timedelta(minutes=10)
# A real-time value older than this many of its point's intervals is flagged stale.
STALE_INTERVALS = 3


def add_inspection(session: Session, equipment: Equipment, data: Mapping[str, Any]) -> Inspection:
    """Record a patrol of ``equipment``."""
    at: datetime = data["inspected_at"]
    if at > utcnow() + FUTURE_SKEW:
        raise InvalidInput(
            "the inspection lies in the future", fields={"inspected_at": ["in the future"]}
        )
    parameters = {
        name: {"value": str(p["value"]), "unit": p.get("unit")}
        for name, p in (data.get("parameters") or {}).items()
    }
    actor = current_actor.get().name
    row = Inspection(
        equipment_id=equipment.id,
        inspected_at=at,
        state=data["state"],
        parameters=parameters,
        energy_note=data.get("energy_note"),
        inspector=data.get("inspector") or actor[:100],
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def access_inspection(session: Session, equipment: Equipment, inspection_id: int) -> Inspection:
    """An inspection of ``equipment``; any other id answers as missing."""
    row = session.get(Inspection, inspection_id)
    if row is None or row.equipment_id != equipment.id:
        raise NotFound("inspection not found")
    return row


def inspections_query(equipment: Equipment, query: Mapping[str, Any]) -> Select[Inspection]:
    """The equipment's inspections, newest first, filtered by time and state."""
    stmt = select(Inspection).where(Inspection.equipment_id == equipment.id)
    if "since" in query:
        stmt = stmt.where(Inspection.inspected_at >= query["since"])
    if "until" in query:
        stmt = stmt.where(Inspection.inspected_at < query["until"])
    if "state" in query:
        stmt = stmt.where(Inspection.state == query["state"])
    return stmt.order_by(Inspection.inspected_at.desc(), Inspection.id.desc())


def _from_point(session: Session, equipment: Equipment, now: datetime) -> dict[str, Any] | None:
    if equipment.state_point_id is None or equipment.state_threshold is None:
        return None
    point = session.get(Point, equipment.state_point_id)
    latest = session.get(LatestValue, equipment.state_point_id)
    if point is None or latest is None:
        return None
    running = latest.value > equipment.state_threshold
    return {
        "point_id": point.id,
        "code": point.code,
        "unit": point.unit,
        "value": latest.value,
        "ts": latest.ts.isoformat(),
        "threshold": equipment.state_threshold,
        "state": (RunningState.RUNNING if running else RunningState.STOPPED).value,
        "stale": now - latest.ts > timedelta(seconds=STALE_INTERVALS * point.interval_s),
        "_at": latest.ts,
    }


def current_state(session: Session, equipment: Equipment) -> dict[str, Any]:
    """The newer of the point's verdict and the last inspection, saying which it is."""
    now = utcnow()
    point = _from_point(session, equipment, now)
    inspection = session.scalars(inspections_query(equipment, {}).limit(1)).first()
    answer: dict[str, Any] = {
        "equipment_id": equipment.id,
        "state": "unknown",
        "source": None,
        "at": None,
        "point": None,
        "inspection": inspection,
    }
    point_at = point.pop("_at") if point else None
    if point is not None:
        answer["point"] = point
    if inspection is not None and (point_at is None or inspection.inspected_at >= point_at):
        answer.update(state=inspection.state, source="inspection", at=inspection.inspected_at)
    elif point is not None:
        answer.update(state=point["state"], source="point", at=point_at)
    return answer
