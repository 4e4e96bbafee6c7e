"""Real-time monitoring views (construction code 4.5.2): enterprise, site, process, equipment.

The current rate of a flow is the consumption of its metering point's most recent
complete quarter hour, times four: the mean rate over that quarter hour (kWh in
15 minutes x 4 = mean kW), which is also how the grid measures demand. A quarter
hour is recent when it ended within the last hour; a metered flow without one is
listed as stale rather than counted as zero. The views sum the flows that the
network (``ems.networks``) attributes to each of them:

* **enterprise**: into the boundary minus out of it, per energy type;
* **site**: what enters final use (units, equipment) from an earlier stage, by
  the site of the node's unit;
* **process**: what enters each process / process-unit node;
* **equipment**: what enters each equipment node.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from ems.energy import coefficients
from ems.networks.figures import load_graph
from ems.networks.models import NetworkFlow, NodeKind, Stage
from ems.org.models import Unit, UnitKind
from ems.sites.models import Site
from ems.telemetry.models import Point
from ems.telemetry.rollup_models import PointRollup

QUARTER = timedelta(minutes=15)
FRESH = timedelta(hours=1)
PER_HOUR = Decimal(4)  # quarter hours in an hour


@dataclass
class Rate:
    per_hour: Decimal
    unit: str
    as_of: datetime


@dataclass
class View:
    """Rates summed per energy type, with the flows that had no recent quarter hour."""

    rates: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    units: dict[str, str] = field(default_factory=dict)
    as_of: datetime | None = None
    stale: list[int] = field(default_factory=list)

    def add(self, flow: NetworkFlow, rate: Rate | None, sign: int = 1) -> None:
        if flow.point_id is None:
            return
        if rate is None:
            self.stale.append(flow.id)
            return
        self.rates[flow.energy_type] += sign * rate.per_hour
        self.units[flow.energy_type] = rate.unit
        self.as_of = rate.as_of if self.as_of is None else min(self.as_of, rate.as_of)

    def as_dict(self) -> dict[str, Any]:
        return {
            "by_energy_type": [
                {"energy_type": t, "rate": r, "unit": self.units[t]}
                for t, r in sorted(self.rates.items())
            ],
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "stale_flows": sorted(self.stale),
        }


def flow_rates(session: Session, flows: list[NetworkFlow], now: datetime) -> dict[int, Rate]:
    """Each metered flow's rate from its latest quarter hour that ended within the hour."""
    by_point = {f.point_id: f for f in flows if f.point_id is not None}
    if not by_point:
        return {}
    points = {p.id: p for p in session.scalars(select(Point).where(Point.id.in_(by_point)))}
    rows = session.execute(
        select(PointRollup.point, PointRollup.start, PointRollup.consumption)
        .where(
            PointRollup.point.in_(list(by_point)),
            PointRollup.grain == "15m",
            PointRollup.start >= now - FRESH - QUARTER,
            PointRollup.start <= now - QUARTER,
            PointRollup.consumption.is_not(None),
        )
        .order_by(PointRollup.point, PointRollup.start.desc())
        .ext(distinct_on(PointRollup.point))
    )
    out: dict[int, Rate] = {}
    for point_id, start, consumption in rows:
        flow = by_point[point_id]
        unit = coefficients.energy_type_row(session, flow.energy_type).unit
        amount = coefficients.convert(Decimal(repr(consumption)), points[point_id].unit, unit)
        out[flow.id] = Rate(per_hour=amount * PER_HOUR, unit=f"{unit}/h", as_of=start + QUARTER)
    return out


def views(session: Session, now: datetime) -> dict[str, Any]:
    graph = load_graph(session)
    nodes, external = graph.nodes, graph.external
    flows = list(session.scalars(select(NetworkFlow).order_by(NetworkFlow.id)))
    rates = flow_rates(session, flows, now)
    units = {u.id: u for u in session.scalars(select(Unit))}
    sites = {s.id: s for s in session.scalars(select(Site))}
    enterprise = View()
    per_site: dict[int, View] = defaultdict(View)
    per_process: dict[int, View] = defaultdict(View)
    per_equipment: dict[int, View] = defaultdict(View)
    for flow in flows:
        rate = rates.get(flow.id)
        source, target = nodes[flow.from_node_id], nodes[flow.to_node_id]
        if external[source.id]:
            enterprise.add(flow, rate)
        if external[target.id]:
            enterprise.add(flow, rate, sign=-1)
            continue
        unit = units.get(target.unit_id) if target.unit_id is not None else None
        if unit is not None and target.stage == Stage.FINAL_USE and source.stage != Stage.FINAL_USE:
            per_site[unit.site_id].add(flow, rate)
        if (
            target.kind == NodeKind.UNIT
            and unit is not None
            and unit.kind
            in (
                UnitKind.PROCESS,
                UnitKind.PROCESS_UNIT,
            )
        ):
            per_process[target.id].add(flow, rate)
        if target.kind == NodeKind.EQUIPMENT:
            per_equipment[target.id].add(flow, rate)

    def named(node_id: int, view: View) -> dict[str, Any]:
        node = nodes[node_id]
        return {"node_id": node_id, "code": node.code, "name": node.name, **view.as_dict()}

    return {
        "at": now.isoformat(),
        "enterprise": enterprise.as_dict(),
        "sites": [
            {"site_id": i, "code": sites[i].code, "name": sites[i].name, **v.as_dict()}
            for i, v in sorted(per_site.items())
        ],
        "processes": [named(i, v) for i, v in sorted(per_process.items())],
        "equipment": [named(i, v) for i, v in sorted(per_equipment.items())],
    }
