"""A tenant's plant at a glance, for the dashboard, the provider overview and the API.

Services take a tenant-bound session and never commit. "Open faults" are what an
operator must act on today, from the modules that exist: gateways that stopped
reporting, readings quarantined in the last day, and uploads waiting for a
correction. (Alarm rules are their own module; their open alarms join this list
when it lands.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ems.telemetry.models import GatewayState, LatestValue, Point, Quality, QuarantineEntry
from ems.upload.models import UploadItem
from ems_tenants.models import Gateway, GatewayStatus

# A gateway is online when a batch arrived this recently (agents publish every few seconds
# and poll at least twice an hour; ten minutes of silence is an outage worth showing).
ONLINE_WITHIN = timedelta(minutes=10)
# A point is "reporting" when its latest value is younger than this (the slowest floor
# of DESIGN §4, one reading an hour for heat, cold and water).
REPORTING_WITHIN = timedelta(hours=1)
QUARANTINE_WINDOW = timedelta(hours=24)
QUALITY_NAMES = {q.value: q.name.lower() for q in Quality}


@dataclass(frozen=True)
class GatewayHealth:
    """One gateway as the overview shows it."""

    id: str
    name: str
    status: str  # registry status: active / revoked ...
    online: bool
    last_batch_at: datetime | None
    readings_total: int


@dataclass(frozen=True)
class PlantHealth:
    """The figures an operator checks first."""

    gateways: list[GatewayHealth]
    gateways_online: int
    points: int
    points_reporting: int
    completeness_pct: float | None
    quarantined_24h: int
    upload_corrections: int
    upload_pending: int

    @property
    def open_faults(self) -> int:
        """Offline gateways + quarantined readings (24 h) + uploads waiting for correction."""
        offline = sum(1 for g in self.gateways if g.status == GatewayStatus.ACTIVE and not g.online)
        return offline + self.quarantined_24h + self.upload_corrections

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived count."""
        return {**asdict(self), "open_faults": self.open_faults}


def gateways(session: Session, tenant_id: int, now: datetime) -> list[GatewayHealth]:
    """The tenant's gateways with what the cloud last heard from each."""
    registry = session.scalars(
        select(Gateway).where(Gateway.tenant_id == tenant_id).order_by(Gateway.id)
    ).all()
    states = {s.gateway_id: s for s in session.scalars(select(GatewayState))}
    out = []
    for gateway in registry:
        state = states.get(gateway.id)
        last = state.last_batch_at if state else None
        out.append(
            GatewayHealth(
                id=gateway.id,
                name=gateway.name,
                status=str(gateway.status),
                online=last is not None and now - last <= ONLINE_WITHIN,
                last_batch_at=last,
                readings_total=state.readings_total if state else 0,
            )
        )
    return out


def plant_health(session: Session, tenant_id: int, now: datetime) -> PlantHealth:
    """Gateways, completeness of the last hour, and open faults of one tenant."""
    gws = gateways(session, tenant_id, now)
    points = session.scalar(select(func.count()).select_from(Point)) or 0
    reporting = (
        session.scalar(
            select(func.count())
            .select_from(LatestValue)
            .where(LatestValue.ts >= now - REPORTING_WITHIN)
        )
        or 0
    )
    quarantined = (
        session.scalar(
            select(func.count())
            .select_from(QuarantineEntry)
            .where(QuarantineEntry.received_at >= now - QUARANTINE_WINDOW)
        )
        or 0
    )
    by_status = dict(
        session.execute(
            select(UploadItem.status, func.count())
            .where(UploadItem.status.in_(("correction", "pending")))
            .group_by(UploadItem.status)
        ).all()
    )
    return PlantHealth(
        gateways=gws,
        gateways_online=sum(1 for g in gws if g.online),
        points=points,
        points_reporting=reporting,
        completeness_pct=round(100 * reporting / points, 1) if points else None,
        quarantined_24h=quarantined,
        upload_corrections=by_status.get("correction", 0),
        upload_pending=by_status.get("pending", 0),
    )


def latest_values(
    session: Session, gateway_id: str | None = None, newest: int | None = None
) -> list[dict[str, Any]]:
    """The latest value, time and quality of every point that has one (by gateway and code),
    or of the ``newest`` that reported last (a panel polled every few seconds reads only
    those, whatever the tenant's point count)."""
    stmt = select(Point, LatestValue).join(LatestValue, LatestValue.point == Point.id)
    if newest is not None:
        stmt = stmt.order_by(LatestValue.ts.desc(), Point.code).limit(newest)
    else:
        stmt = stmt.order_by(Point.gateway_id, Point.code)
    if gateway_id:
        stmt = stmt.where(Point.gateway_id == gateway_id)
    return [
        {
            "point_id": point.id,
            "gateway_id": point.gateway_id,
            "code": point.code,
            "name": point.name,
            "unit": point.unit,
            "energy_type": point.energy_type,
            "value": latest.value,
            "ts": latest.ts,
            "quality": QUALITY_NAMES.get(latest.quality, str(latest.quality)),
            "received_at": latest.received_at,
        }
        for point, latest in session.execute(stmt)
    ]
