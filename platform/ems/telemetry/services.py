"""Telemetry read by the API and the portal alike: the quarantine and points per gateway.

The session is the tenant's; nothing here writes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ems.telemetry.models import Point, QuarantineEntry


def quarantine_query(gateway_id: str | None = None, layer: str | None = None) -> Select[Any]:
    """What the ingest refused, newest first, optionally of one gateway or layer."""
    stmt = select(QuarantineEntry).order_by(QuarantineEntry.id.desc())
    if gateway_id:
        stmt = stmt.where(QuarantineEntry.gateway_id == gateway_id)
    if layer:
        stmt = stmt.where(QuarantineEntry.layer == layer)
    return stmt


def points_per_gateway(session: Session) -> dict[str, int]:
    """How many points each gateway reports (by gateway id)."""
    rows = session.execute(select(Point.gateway_id, func.count()).group_by(Point.gateway_id))
    return {str(gateway_id): int(count) for gateway_id, count in rows}
