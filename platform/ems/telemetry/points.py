"""Rules of the points catalogue shared by the API and the CLI import."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ems.errors import QuotaExceeded
from ems.telemetry import rollups
from ems.telemetry.models import Point


def check_room(session: Session, max_points: int, adding: int = 1, source: str = "") -> None:
    """Refuse adding ``adding`` points beyond the plan's ``max_points``.

    ``source`` names what would add them (say, "the configuration") in the message.
    """
    total = session.scalar(select(func.count()).select_from(Point)) or 0
    if total + adding > max_points:
        detail = f"; the tenant has {total} and {source} would add {adding}" if source else ""
        raise QuotaExceeded(f"the plan allows {max_points} points{detail}")


def update(session: Session, point: Point, fields: dict[str, Any]) -> None:
    """Set a point's fields; what its past figures were computed from is recomputed.

    A counter becoming a gauge, a new rollover, another category...: the rollups were
    computed under the old settings and are marked dirty over the point's history.
    """
    before = {name: getattr(point, name) for name in rollups.ROLLUP_FIELDS}
    for key, value in fields.items():
        setattr(point, key, value)
    session.flush()
    rollups.point_changed(session, point, before)
