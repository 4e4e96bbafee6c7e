"""Network API: ``/api/v1/tenants/<slug>/network/...`` and ``.../metering-requirements``.

Nodes and flows are edited like the other ledgers (ETag / If-Match); the figures,
balances, equipping rates and diagrams are computed on each read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response
from flask.views import MethodView
from sqlalchemy import select

from ems.actuals.periods import Period, plan
from ems.networks import diagrams, figures, realtime, services
from ems.networks.models import MeteringRequirement, NetworkFlow, NetworkNode
from ems.networks.schemas import (
    DefaultBuildResultSchema,
    DefaultBuildSchema,
    DiagramQuerySchema,
    FlowInputSchema,
    FlowQuerySchema,
    FlowSchema,
    NodeInputSchema,
    NodeSchema,
    PeriodQuerySchema,
    RatesQuerySchema,
    RequirementSchema,
    SeriesQuerySchema,
    plain,
)
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, tenant_blueprint

blp = tenant_blueprint(
    "networks",
    __name__,
    description="Metering network (GB/T 33656) and energy balance network (GB/T 28749)",
)


def _zone() -> ZoneInfo:
    return ZoneInfo(bound_tenant_row().timezone)


def _today() -> date:
    return datetime.now(_zone()).date()


def _period(query: dict[str, Any]) -> tuple[date, date]:
    return figures.requested_period(query.get("from_"), query.get("to"), _today())


@blp.route("/network/nodes")
class Nodes(MethodView):
    """Boxes of the diagrams."""

    @blp.response(200, NodeSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[NetworkNode]:
        """List nodes."""
        stmt = select(NetworkNode).order_by(NetworkNode.sort_order, NetworkNode.code)
        return paginate(db(), stmt, pagination_parameters)

    @blp.arguments(NodeInputSchema)
    @blp.response(201, NodeSchema)
    def post(self, data: dict[str, Any]) -> NetworkNode:
        """Add a node."""
        return services.create_node(db(), data)


@blp.route("/network/nodes/<int:node_id>")
class NodeById(MethodView):
    """One node."""

    @blp.etag
    @blp.response(200, NodeSchema)
    def get(self, node_id: int) -> NetworkNode:
        """Show a node (with its ETag)."""
        return services.access_node(db(), node_id)

    @blp.etag
    @blp.arguments(NodeInputSchema)
    @blp.response(200, NodeSchema)
    def put(self, data: dict[str, Any], node_id: int) -> NetworkNode:
        """Replace a node (send its ETag in If-Match)."""
        node = services.access_node(db(), node_id)
        blp.check_etag(node, NodeSchema)
        return services.update_node(db(), node, data)

    @blp.etag
    @blp.response(204)
    def delete(self, node_id: int) -> None:
        """Remove a node without flows (send its ETag in If-Match)."""
        node = services.access_node(db(), node_id)
        blp.check_etag(node, NodeSchema)
        services.delete_node(db(), node)


@blp.route("/network/flows")
class Flows(MethodView):
    """Lines of the diagrams: one energy type from one node to another."""

    @blp.arguments(FlowQuerySchema, location="query")
    @blp.response(200, FlowSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[NetworkFlow]:
        """List flows (filter by energy type, level)."""
        stmt = select(NetworkFlow).order_by(NetworkFlow.energy_type, NetworkFlow.id)
        for name in ("energy_type", "level"):
            if name in query:
                stmt = stmt.where(getattr(NetworkFlow, name) == query[name])
        return paginate(db(), stmt, pagination_parameters)

    @blp.arguments(FlowInputSchema)
    @blp.response(201, FlowSchema)
    def post(self, data: dict[str, Any]) -> NetworkFlow:
        """Add a flow."""
        return services.create_flow(db(), data)


@blp.route("/network/flows/<int:flow_id>")
class FlowById(MethodView):
    """One flow."""

    @blp.etag
    @blp.response(200, FlowSchema)
    def get(self, flow_id: int) -> NetworkFlow:
        """Show a flow (with its ETag)."""
        return services.access_flow(db(), flow_id)

    @blp.etag
    @blp.arguments(FlowInputSchema)
    @blp.response(200, FlowSchema)
    def put(self, data: dict[str, Any], flow_id: int) -> NetworkFlow:
        """Replace a flow (send its ETag in If-Match)."""
        flow = services.access_flow(db(), flow_id)
        blp.check_etag(flow, FlowSchema)
        return services.update_flow(db(), flow, data)

    @blp.etag
    @blp.response(204)
    def delete(self, flow_id: int) -> None:
        """Remove a flow (send its ETag in If-Match)."""
        flow = services.access_flow(db(), flow_id)
        blp.check_etag(flow, FlowSchema)
        services.delete_flow(db(), flow)


@blp.route("/network/default-build", methods=["POST"])
@blp.arguments(DefaultBuildSchema)
@blp.response(201, DefaultBuildResultSchema)
def default_build(data: dict[str, Any]) -> dict[str, Any]:
    """Add the nodes and flows the unit hierarchy implies (only what is missing)."""
    nodes, flows = services.default_build(db(), data["energy_types"])
    return {"nodes": nodes, "flows": flows}


@blp.route("/network/figures")
@blp.arguments(PeriodQuerySchema, location="query")
@blp.response(200)
def network_figures(query: dict[str, Any]) -> dict[str, Any]:
    """Levels, items (DB53/T 1026 4.2) and GB/T 2589 comprehensive consumption."""
    start, end = _period(query)
    result = figures.enterprise_figures(
        db(),
        start,
        end,
        _zone(),
        bound_tenant_row().region_code,
        query.get("energy_type"),
    )
    out: dict[str, Any] = plain(result)
    return out


@blp.route("/network/figures/series")
@blp.arguments(SeriesQuerySchema, location="query")
@blp.response(200)
def network_series(query: dict[str, Any]) -> dict[str, Any]:
    """Levels, items and comprehensive consumption (tce) per bucket, with 同比 and 环比."""
    spans = plan(
        Period(query["period"]), query.get("from_"), query.get("to"), _zone(), datetime.now(UTC)
    )
    rows = figures.series(db(), spans, _zone(), bound_tenant_row().region_code)
    return {"period": query["period"], "buckets": plain(rows)}


@blp.route("/network/balance")
@blp.arguments(PeriodQuerySchema, location="query")
@blp.response(200)
def network_balance(query: dict[str, Any]) -> dict[str, Any]:
    """Per node: in = out + loss, the loss and its rate, per energy type and in tce."""
    start, end = _period(query)
    nodes = figures.balances(db(), start, end, _zone(), bound_tenant_row().region_code)
    return {"from": start.isoformat(), "to": end.isoformat(), "nodes": plain(nodes)}


@blp.route("/network/equipping-rates")
@blp.arguments(RatesQuerySchema, location="query")
@blp.response(200)
def equipping_rates(query: dict[str, Any]) -> dict[str, Any]:
    """Meters equipped / required per energy type and level, checked against GB 17167."""
    on = query.get("on") or _today()
    rows = figures.equipping_rates(db(), on, query.get("energy_type"))
    return {"on": on.isoformat(), "rates": plain(rows)}


@blp.route("/network/live")
@blp.arguments(DiagramQuerySchema, location="query")
@blp.response(200)
def live(query: dict[str, Any]) -> dict[str, Any]:
    """Each flow with the latest value of its metering point (counter reading)."""
    _, flows = diagrams.graph(db(), query.get("energy_type"))
    latest = diagrams.latest(db(), diagrams.metered_points(flows))
    return {
        "flows": [
            {
                "flow_id": f.id,
                "energy_type": f.energy_type,
                "level": f.level,
                "point_id": f.point_id,
                "latest": latest.get(f.point_id) if f.point_id is not None else None,
            }
            for f in flows
        ]
    }


@blp.route("/realtime/views")
@blp.response(200)
def realtime_views() -> dict[str, Any]:
    """Current rates: enterprise total, per site, per process, per key equipment (4.5.2)."""
    result: dict[str, Any] = plain(realtime.views(db(), datetime.now(UTC)))
    return result


@blp.route("/network/diagram.svg")
@blp.arguments(DiagramQuerySchema, location="query")
@blp.response(200, content_type="image/svg+xml")
def diagram(query: dict[str, Any]) -> Response:
    """The diagram as SVG: one energy type's metering network, or the balance network."""
    body = diagrams.diagram(db(), query.get("energy_type"), query["live"])
    return Response(body, mimetype="image/svg+xml")


@blp.route("/metering-requirements")
@blp.response(200, RequirementSchema(many=True))
def metering_requirements() -> list[MeteringRequirement]:
    """GB 17167 thresholds and required equipping rates, with edition and source."""
    stmt = select(MeteringRequirement).order_by(
        MeteringRequirement.energy_type, MeteringRequirement.level, MeteringRequirement.valid_from
    )
    return list(db().scalars(stmt))
