"""Meter equipping at a glance (DB53/T 1026 §4.3): counts of the ledger by metering level,
JJF 1051 code and name, energy type and state, and where verification stands."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ems.meters.models import InstrumentClass, Meter, MeterState


def _grouped(session: Session, *columns: Any) -> list[tuple[Any, ...]]:
    stmt = select(*columns, Meter.level, func.count()).group_by(*columns, Meter.level)
    return [tuple(row) for row in session.execute(stmt)]


def _by(session: Session, column: Any, label: str) -> list[dict[str, Any]]:
    """Counts per value of ``column``, each split by metering level."""
    out: dict[Any, dict[str, Any]] = {}
    for value, level, count in _grouped(session, column):
        entry = out.setdefault(value, {label: value, "count": 0, "by_level": {}})
        entry["count"] += count
        entry["by_level"][str(level)] = count
    return sorted(out.values(), key=lambda e: (-e["count"], str(e[label])))


def summary(session: Session, today: date, lead_days: int) -> dict[str, Any]:
    """Counts of the ledger: in all, per level, JJF 1051 code and name, energy type, state."""
    total = session.scalar(select(func.count()).select_from(Meter)) or 0
    levels = session.execute(select(Meter.level, func.count()).group_by(Meter.level))
    by_type = _by(session, Meter.type_code, "type_code")
    names = dict(
        session.execute(
            select(InstrumentClass.code, InstrumentClass.name_zh).where(
                InstrumentClass.code.in_([e["type_code"] for e in by_type if e["type_code"]])
            )
        ).all()
    )
    for entry in by_type:
        entry["type_name"] = names.get(entry["type_code"])
    horizon = today + timedelta(days=lead_days)
    in_service = Meter.state != MeterState.OUT_OF_SERVICE

    def count(*where: Any) -> int:
        return session.scalar(select(func.count()).select_from(Meter).where(*where)) or 0

    return {
        "total": total,
        "by_level": [{"level": lv, "count": n} for lv, n in sorted(levels.all())],
        "by_type": by_type,
        "by_name": _by(session, Meter.name, "name"),
        "by_energy_type": _by(session, Meter.energy_type, "energy_type"),
        "by_state": _by(session, Meter.state, "state"),
        "verification": {
            "today": today,
            "lead_days": lead_days,
            "overdue": count(in_service, Meter.next_due_on < today),
            "due_within_lead_days": count(
                in_service, Meter.next_due_on >= today, Meter.next_due_on <= horizon
            ),
            "failed": count(Meter.verification_result == "fail"),
            "no_due_date": count(in_service, Meter.next_due_on.is_(None)),
        },
    }
