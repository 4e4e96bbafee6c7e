"""The network diagrams as the API and the portal serve them: which nodes and flows are
drawn, the latest value on each metered flow, and the title (GB/T 33656 / GB/T 28749).

Both ``GET /network/diagram.svg`` and the portal's network page call :func:`diagram`, so
the picture is the same wherever it is looked at. The session is the tenant's; nothing
here writes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.energy.coefficients import energy_type_row
from ems.meters.models import Meter, MeterPoint, MeterState
from ems.networks import svg
from ems.networks.models import NetworkFlow, NetworkNode
from ems.telemetry.models import LatestValue, Point, Quality


def latest(session: Session, point_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Latest value per point, and whether its meter is in alarm on the diagram: the meter
    ledger says it is faulty or out of service, or the value is suspect."""
    rows = session.execute(
        select(
            LatestValue.point,
            LatestValue.ts,
            LatestValue.value,
            LatestValue.quality,
            Point.unit,
            Meter.state,
        )
        .join(Point, Point.id == LatestValue.point)
        .outerjoin(MeterPoint, MeterPoint.point_id == Point.id)
        .outerjoin(Meter, Meter.id == MeterPoint.meter_id)
        .where(LatestValue.point.in_(point_ids))
    )
    return {
        point: {
            "ts": ts.isoformat(),
            "value": value,
            "quality": quality,
            "unit": unit,
            "meter_state": state,
            "alarm": (state is not None and state != MeterState.NORMAL)
            or quality == Quality.SUSPECT,
        }
        for point, ts, value, quality, unit, state in rows
    }


def graph(session: Session, energy_type: str | None) -> tuple[list[NetworkNode], list[NetworkFlow]]:
    """The nodes and flows of one energy type's metering network, or of the balance network
    (every type; absent ``energy_type``). An unknown type is refused (422)."""
    stmt = select(NetworkFlow).order_by(NetworkFlow.id)
    if energy_type is not None:
        energy_type_row(session, energy_type)
        stmt = stmt.where(NetworkFlow.energy_type == energy_type)
    flows = list(session.scalars(stmt))
    ids = {f.from_node_id for f in flows} | {f.to_node_id for f in flows}
    if energy_type is None:
        nodes = list(session.scalars(select(NetworkNode)))
    else:
        nodes = list(session.scalars(select(NetworkNode).where(NetworkNode.id.in_(ids))))
    return nodes, flows


def metered_points(flows: list[NetworkFlow]) -> list[int]:
    """The points that meter ``flows``."""
    return [f.point_id for f in flows if f.point_id is not None]


def title(session: Session, energy_type: str | None) -> str:
    """The diagram's title, Chinese first, naming the standard it follows."""
    if energy_type is None:
        return "企业能量平衡网络图 Energy balance network (GB/T 28749)"
    row = energy_type_row(session, energy_type)
    return f"{row.name_zh}能源计量网络图 {row.name_en} metering network (GB/T 33656)"


def diagram(session: Session, energy_type: str | None, live: bool) -> str:
    """The diagram as SVG; ``live`` writes each metered flow's latest value on it."""
    nodes, flows = graph(session, energy_type)
    values = latest(session, metered_points(flows)) if live else None
    return svg.render(nodes, flows, title=title(session, energy_type), live=values)
