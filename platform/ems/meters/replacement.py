"""Replacing a meter (换表): counter base changes for the rollups, and the ledger's record.

When an instrument is swapped, each cumulative point it feeds jumps from the old
meter's last reading to the new meter's first one. Each jump is a
``meter_replacements`` row written by :func:`ems.telemetry.rollups.record_replacement`,
which marks the point dirty so the interval consumption across the swap is
recomputed (old meter up to ``old_final``, then the new one from ``new_initial``).
Every cumulative point linked to the meter must be given, or its consumption
would show a false jump. Everything is checked before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.context import current_actor
from ems.errors import Conflict, InvalidInput
from ems.meters import points, services
from ems.meters.models import Meter, MeterExchange, MeterState, MeterStateChange
from ems.telemetry.models import PointKind
from ems.telemetry.rollup_models import MeterReplacement
from ems.telemetry.rollups import record_replacement

# Ledger fields the new instrument's details may change.
DETAILS = ("factory_number", "model", "manufacturer", "accuracy_class", "measuring_range")


def _check_points(session: Session, meter: Meter, data: Mapping[str, Any]) -> None:
    linked = {point.id: point for point, _ in points.linked_points(session, meter)}
    counters = {pid for pid, point in linked.items() if point.kind == PointKind.CUMULATIVE}
    found: dict[str, list[str]] = {}
    listed: set[int] = set()
    for index, entry in enumerate(data["points"]):
        point_id = entry["point_id"]
        where = f"points.{index}.point_id"
        if point_id not in linked:
            found[where] = ["not a point of this meter"]
        elif point_id not in counters:
            found[where] = ["only a cumulative point has a counter base"]
        elif point_id in listed:
            found[where] = ["listed twice"]
        listed.add(point_id)
    missing = sorted(counters - listed)
    if missing:
        codes = ", ".join(f"{pid} ({linked[pid].code})" for pid in missing)
        found.setdefault("points", []).append(f"every cumulative point is needed; missing {codes}")
    if found:
        first = next(iter(found))
        raise InvalidInput(f"{first}: {found[first][0]}", fields=found)
    clash = session.scalar(
        select(MeterReplacement.point).where(
            MeterReplacement.point.in_(listed), MeterReplacement.at == data["at"]
        )
    )
    if clash is not None:
        raise Conflict(
            "a replacement at this moment is already recorded for a point of the meter",
            fields={"at": [f"point {clash} already has one"]},
        )


def replace_meter(
    session: Session, meter: Meter, data: Mapping[str, Any], local_day: date
) -> MeterExchange:
    """Record a replacement at ``data["at"]`` (``local_day``: its date in the tenant's zone)."""
    _check_points(session, meter, data)
    new = data.get("new_meter") or {}
    check = new.get("verification")
    due = check.get("next_due_on") if check is not None else None
    if check is not None and due is not None and due <= check["performed_on"]:
        raise InvalidInput(
            "the next due date must follow the verification",
            fields={"new_meter.verification.next_due_on": ["must be after performed_on"]},
        )
    replacements = [
        record_replacement(
            session,
            entry["point_id"],
            data["at"],
            entry["old_final"],
            entry["new_initial"],
            entry.get("note") or data.get("note"),
        )
        for entry in data["points"]
    ]
    exchange = MeterExchange(
        meter_id=meter.id,
        at=data["at"],
        old_factory_number=meter.factory_number,
        new_factory_number=new.get("factory_number") or meter.factory_number,
        old_model=meter.model,
        new_model=new.get("model") or meter.model,
        replacement_ids=[r.id for r in replacements],
        note=data.get("note"),
        recorded_by=current_actor.get().name,
    )
    session.add(exchange)
    for name in DETAILS:
        if new.get(name) is not None:
            setattr(meter, name, new[name])
    meter.installed_on = new.get("installed_on") or local_day
    _back_in_service(session, meter, exchange, local_day)
    if check is not None:
        services.add_verification(session, meter, check)
    session.flush()
    return exchange


def _back_in_service(
    session: Session, meter: Meter, exchange: MeterExchange, local_day: date
) -> None:
    """A new instrument works: the state history gets a 正常 entry saying why."""
    since = max(local_day, meter.state_since) if meter.state_since else local_day
    meter.state, meter.state_since = MeterState.NORMAL.value, since
    old, new = exchange.old_factory_number or "?", exchange.new_factory_number or "?"
    session.add(
        MeterStateChange(
            meter_id=meter.id,
            state=MeterState.NORMAL.value,
            since=since,
            reason=f"换表 replaced: factory number {old} -> {new}",
            recorded_by=current_actor.get().name,
        )
    )


def exchanges(session: Session, meter: Meter) -> list[dict[str, Any]]:
    """The meter's replacements, newest first, each with its counter bases."""
    rows = session.scalars(
        select(MeterExchange)
        .where(MeterExchange.meter_id == meter.id)
        .order_by(MeterExchange.at.desc(), MeterExchange.id.desc())
    ).all()
    ids = [rid for row in rows for rid in row.replacement_ids]
    bases = {
        r.id: r
        for r in session.scalars(select(MeterReplacement).where(MeterReplacement.id.in_(ids)))
    }
    return [
        {
            **{c.key: getattr(row, c.key) for c in MeterExchange.__table__.columns},
            "points": [
                {
                    "point_id": bases[rid].point,
                    "old_final": bases[rid].old_final,
                    "new_initial": bases[rid].new_initial,
                    "note": bases[rid].note,
                }
                for rid in row.replacement_ids
                if rid in bases
            ],
        }
        for row in rows
    ]
