"""Editing the network graph: nodes and flows, their rules, and the default build.

The session passed in is bound to the tenant; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ems.energy.coefficients import energy_type_row
from ems.errors import Conflict, InvalidInput, NotFound
from ems.networks.models import DEFAULT_STAGE, EXTERNAL_KINDS, NetworkFlow, NetworkNode, NodeKind
from ems.org import services as org
from ems.org.models import Unit
from ems.sites.models import Site
from ems.telemetry.models import Point, PointKind

NODE_FIELDS = ("code", "name", "name_en", "kind", "stage", "unit_id", "equipment_id", "sort_order")
FLOW_FIELDS = (
    "energy_type",
    "from_node_id",
    "to_node_id",
    "level",
    "metering_required",
    "point_id",
    "label",
    "note",
)


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", fields={field: [message]})


def access_node(session: Session, node_id: int) -> NetworkNode:
    node = session.get(NetworkNode, node_id)
    if node is None:
        raise NotFound(f"network node {node_id} not found")
    return node


def access_flow(session: Session, flow_id: int) -> NetworkFlow:
    flow = session.get(NetworkFlow, flow_id)
    if flow is None:
        raise NotFound(f"network flow {flow_id} not found")
    return flow


def outside(node: NetworkNode, effective: Mapping[int, tuple[str | None, bool]]) -> bool:
    """Outside the enterprise boundary: a supplier, a customer, or a unit outside it
    (``effective`` from :func:`ems.org.services.effective_all`)."""
    if node.kind in EXTERNAL_KINDS:
        return True
    if node.kind == NodeKind.UNIT and node.unit_id is not None:
        found = effective.get(node.unit_id)
        return found is not None and not found[1]
    return False


def _clean_node(session: Session, data: dict[str, Any], node: NetworkNode | None) -> dict[str, Any]:
    values = {k: data.get(k) for k in NODE_FIELDS}
    kind = NodeKind(str(values["kind"]))
    values["stage"] = values["stage"] or DEFAULT_STAGE[kind].value
    if values["sort_order"] is None:
        values["sort_order"] = 0
    clash = session.scalar(select(NetworkNode.id).where(NetworkNode.code == values["code"]))
    if clash is not None and (node is None or clash != node.id):
        raise Conflict(f"a network node with code {values['code']!r} exists")
    if kind == NodeKind.UNIT:
        if values["unit_id"] is None:
            raise _invalid("unit_id", "a node of kind unit names its organisation unit")
    elif values["unit_id"] is not None and kind != NodeKind.EQUIPMENT:
        # An equipment node may name the unit it belongs to (its role then counts).
        raise _invalid("unit_id", f"only unit and equipment nodes belong to a unit, not {kind}")
    if values["equipment_id"] is not None and kind != NodeKind.EQUIPMENT:
        raise _invalid("equipment_id", "only equipment nodes name an equipment")
    if values["unit_id"] is not None:
        org.access_unit(session, values["unit_id"])
    return values


def create_node(session: Session, data: dict[str, Any]) -> NetworkNode:
    node = NetworkNode(**_clean_node(session, data, None))
    session.add(node)
    session.flush()
    return node


def update_node(session: Session, node: NetworkNode, data: dict[str, Any]) -> NetworkNode:
    for key, value in _clean_node(session, data, node).items():
        setattr(node, key, value)
    session.flush()
    return node


def delete_node(session: Session, node: NetworkNode) -> None:
    used = session.scalar(
        select(NetworkFlow.id)
        .where(or_(NetworkFlow.from_node_id == node.id, NetworkFlow.to_node_id == node.id))
        .limit(1)
    )
    if used is not None:
        raise Conflict(f"network node {node.code!r} still has flows; remove them first")
    session.delete(node)
    session.flush()


def _clean_flow(session: Session, data: dict[str, Any], flow: NetworkFlow | None) -> dict[str, Any]:
    values = {k: data.get(k) for k in FLOW_FIELDS}
    energy_type_row(session, str(values["energy_type"]))
    if values["from_node_id"] == values["to_node_id"]:
        raise _invalid("to_node_id", "a flow goes from one node to another")
    source = session.get(NetworkNode, values["from_node_id"])
    if source is None:
        raise _invalid("from_node_id", f"no network node {values['from_node_id']}")
    target = session.get(NetworkNode, values["to_node_id"])
    if target is None:
        raise _invalid("to_node_id", f"no network node {values['to_node_id']}")
    effective = org.effective_all(session)
    ends = outside(source, effective), outside(target, effective)
    if all(ends):
        raise _invalid("to_node_id", "a flow between two external nodes is not the enterprise's")
    if values["level"] == 1 and not any(ends):
        raise _invalid("level", "level 1 meters the enterprise boundary: one end must be external")
    if values["metering_required"] is None:
        values["metering_required"] = True
    if values["point_id"] is not None:
        point = session.get(Point, values["point_id"])
        if point is None:
            raise _invalid("point_id", f"no point {values['point_id']}")
        if point.kind != PointKind.CUMULATIVE:
            raise _invalid("point_id", "a flow is metered by a cumulative point (a counter)")
        if point.energy_type != values["energy_type"]:
            raise _invalid(
                "point_id",
                f"point {point.code!r} meters {point.energy_type}, not {values['energy_type']}",
            )
        other = session.scalar(select(NetworkFlow.id).where(NetworkFlow.point_id == point.id))
        if other is not None and (flow is None or other != flow.id):
            raise Conflict(f"point {point.code!r} already meters network flow {other}")
    duplicate = session.scalar(
        select(NetworkFlow.id).where(
            NetworkFlow.energy_type == values["energy_type"],
            NetworkFlow.from_node_id == values["from_node_id"],
            NetworkFlow.to_node_id == values["to_node_id"],
        )
    )
    if duplicate is not None and (flow is None or duplicate != flow.id):
        raise Conflict("that flow exists already (same energy type and nodes)")
    return values


def create_flow(session: Session, data: dict[str, Any]) -> NetworkFlow:
    flow = NetworkFlow(**_clean_flow(session, data, None))
    session.add(flow)
    session.flush()
    return flow


def update_flow(session: Session, flow: NetworkFlow, data: dict[str, Any]) -> NetworkFlow:
    for key, value in _clean_flow(session, data, flow).items():
        setattr(flow, key, value)
    session.flush()
    return flow


def delete_flow(session: Session, flow: NetworkFlow) -> None:
    session.delete(flow)
    session.flush()


@org.register_delete_guard
def _unit_in_network(session: Session, unit: Unit) -> str | None:
    node = session.scalar(select(NetworkNode.code).where(NetworkNode.unit_id == unit.id).limit(1))
    return None if node is None else f"unit {unit.code!r} is network node {node!r}"


# --- default build -----------------------------------------------------------------------


def _node_for(
    session: Session, code: str, name: str, kind: NodeKind, created: list[NetworkNode], **extra: Any
) -> NetworkNode:
    node = session.scalar(select(NetworkNode).where(NetworkNode.code == code))
    if node is None:
        node = NetworkNode(
            code=code, name=name, kind=kind.value, stage=DEFAULT_STAGE[kind].value, **extra
        )
        session.add(node)
        session.flush()
        created.append(node)
    return node


def _flow_for(
    session: Session,
    energy_type: str,
    source: NetworkNode,
    target: NetworkNode,
    level: int,
    created: list[NetworkFlow],
) -> None:
    exists = session.scalar(
        select(NetworkFlow.id).where(
            NetworkFlow.energy_type == energy_type,
            NetworkFlow.from_node_id == source.id,
            NetworkFlow.to_node_id == target.id,
        )
    )
    if exists is None:
        flow = NetworkFlow(
            energy_type=energy_type,
            from_node_id=source.id,
            to_node_id=target.id,
            level=level,
            metering_required=True,
        )
        session.add(flow)
        session.flush()
        created.append(flow)


def default_build(
    session: Session, energy_types: Iterable[str]
) -> tuple[list[NetworkNode], list[NetworkFlow]]:
    """Add what the unit hierarchy implies and is not there yet; never change what is.

    Per energy type: a supplier node (外购), per site a distribution node fed from it
    (level 1, the enterprise's intake), and per key unit (主要次级用能单位, level 2)
    a flow from its site's distribution node; a key unit outside the boundary gets
    the flow too, and counts as supplied out (外供). Meters are then attached by
    editing the flows (or by the meter ledger's links). Running it again adds only
    what is missing, so edits survive.
    """
    nodes: list[NetworkNode] = []
    flows: list[NetworkFlow] = []
    types = sorted(set(energy_types))
    for code in types:
        energy_type_row(session, code)
    sites = list(session.scalars(select(Site).order_by(Site.code)))
    key_units = list(
        session.scalars(select(Unit).where(Unit.is_key_unit.is_(True)).order_by(Unit.code))
    )
    for energy_type in types:
        row = energy_type_row(session, energy_type)
        supplier = _node_for(
            session,
            f"SUP-{energy_type}"[:32],
            f"外购{row.name_zh}",
            NodeKind.SUPPLIER,
            nodes,
            name_en=f"Purchased {row.name_en.lower()}",
        )
        for site in sites:
            bus = _node_for(
                session,
                f"DIST-{site.code}"[:32],
                f"{site.name} 输配",
                NodeKind.DISTRIBUTION,
                nodes,
                name_en=f"{site.code} distribution",
            )
            _flow_for(session, energy_type, supplier, bus, 1, flows)
            for unit in (u for u in key_units if u.site_id == site.id):
                node = _node_for(
                    session,
                    f"UNIT-{unit.code}"[:32],
                    unit.name,
                    NodeKind.UNIT,
                    nodes,
                    name_en=unit.name_en,
                    unit_id=unit.id,
                    sort_order=unit.sort_order,
                )
                _flow_for(session, energy_type, bus, node, 2, flows)
    _attach_meters(session, types)
    return nodes, flows


def _attach_meters(session: Session, energy_types: list[str]) -> None:
    # Imported here: the meter ledger is a feature of its own that the network reads.
    from ems.meters.models import Meter, MeterPoint

    units = {u.id: u for u in session.scalars(select(Unit))}
    sites = {s.id: s for s in session.scalars(select(Site))}
    used = set(
        session.scalars(select(NetworkFlow.point_id).where(NetworkFlow.point_id.is_not(None)))
    )
    rows = session.execute(
        select(Meter, Point)
        .join(MeterPoint, MeterPoint.meter_id == Meter.id)
        .join(Point, Point.id == MeterPoint.point_id)
        .where(
            Meter.energy_type.in_(energy_types),
            Meter.level.in_([1, 2]),
            Point.kind == PointKind.CUMULATIVE,
            Point.energy_type == Meter.energy_type,
        )
        .order_by(Meter.management_number, Point.id)
    )
    for meter, point in rows:
        if point.id in used:
            continue
        unit = units.get(meter.unit_id) if meter.unit_id is not None else None
        site_id = meter.site_id or (unit.site_id if unit is not None else None)
        if site_id is None or site_id not in sites:
            continue
        source_code = f"SUP-{meter.energy_type}"[:32]
        target_code = f"DIST-{sites[site_id].code}"[:32]
        if meter.level == 2:
            if unit is None or not unit.is_key_unit:
                continue
            source_code, target_code = target_code, f"UNIT-{unit.code}"[:32]
        source = session.scalar(select(NetworkNode).where(NetworkNode.code == source_code))
        target = session.scalar(select(NetworkNode).where(NetworkNode.code == target_code))
        if source is None or target is None:
            continue
        flow = session.scalar(
            select(NetworkFlow).where(
                NetworkFlow.energy_type == meter.energy_type,
                NetworkFlow.from_node_id == source.id,
                NetworkFlow.to_node_id == target.id,
                NetworkFlow.point_id.is_(None),
            )
        )
        if flow is None:
            continue
        flow.point_id = point.id
        flow.label = flow.label or meter.management_number[:32]
        used.add(point.id)
    session.flush()
