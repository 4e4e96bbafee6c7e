"""Data-path health routes: gateway events, reconciliation results, completeness."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import validate
from sqlalchemy import select

from ems.auth.permissions import Permission
from ems.db import utcnow
from ems.errors import InvalidInput
from ems.telemetry import reconcile
from ems.telemetry.models import GatewayEvent, Reconciliation
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant, requires, tenant_blueprint
from ems_tenants.models import Gateway

blp = tenant_blueprint(
    "reconciliation", __name__, description="Gateway events, reconciliation, completeness"
)

# A report over more days than this is a job for an export, not a request.
MAX_DAYS = 366


class EventQuerySchema(ma.Schema):
    """Filter gateway events."""

    gateway_id = ma.fields.String(validate=validate.Length(max=64))
    kind = ma.fields.String(validate=validate.Length(max=32))


class EventSchema(ma.Schema):
    """A fault or alarm from a gateway, or a reconciliation difference."""

    id = ma.fields.Integer()
    gateway_id = ma.fields.String()
    at = ma.fields.DateTime()
    kind = ma.fields.String()
    reason = ma.fields.String()
    bus = ma.fields.String(allow_none=True)
    meter = ma.fields.String(allow_none=True)
    point = ma.fields.String(allow_none=True)
    received_at = ma.fields.DateTime()


class ReconciliationQuerySchema(ma.Schema):
    """Filter reconciliation results."""

    day = ma.fields.Date()
    gateway_id = ma.fields.String(validate=validate.Length(max=64))
    status = ma.fields.String(validate=validate.OneOf([s.value for s in reconcile.Status]))


class ReconciliationSchema(ma.Schema):
    """One point's UTC day: the gateway's ledger against the store."""

    gateway_id = ma.fields.String()
    day = ma.fields.Date()
    code = ma.fields.String()
    point_id = ma.fields.Integer(allow_none=True)
    status = ma.fields.String()
    settled = ma.fields.Boolean()
    agent_count = ma.fields.Integer(allow_none=True)
    agent_gaps = ma.fields.Integer(allow_none=True)
    agent_digest = ma.fields.String(allow_none=True)
    stored_count = ma.fields.Integer()
    stored_digest = ma.fields.String()
    lost = ma.fields.Integer()
    phantom = ma.fields.Integer()
    duplicates = ma.fields.Integer()
    quarantined = ma.fields.Integer()
    mismatched = ma.fields.Boolean()
    expected = ma.fields.Integer()
    received = ma.fields.Integer()
    checked_at = ma.fields.DateTime()


class RunSchema(ma.Schema):
    """Reconcile one UTC day now (every gateway, or one)."""

    day = ma.fields.Date(required=True)
    gateway_id = ma.fields.String(validate=validate.Length(min=3, max=64))


class RunResultSchema(ma.Schema):
    """What a reconciliation run found."""

    rows = ma.fields.Integer()
    differences = ma.fields.Integer()
    events = ma.fields.Integer()


class CompletenessQuerySchema(ma.Schema):
    """UTC days to report (default: the seven days before today)."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    gateway_id = ma.fields.String(validate=validate.Length(max=64))


class CompletenessDaySchema(ma.Schema):
    """One day's completeness."""

    day = ma.fields.Date()
    expected = ma.fields.Integer()
    received = ma.fields.Integer()
    rate = ma.fields.Float(allow_none=True)
    differences = ma.fields.Integer()


class CompletenessSchema(ma.Schema):
    """Readings received over readings expected (the agent's count plus its gaps)."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    expected = ma.fields.Integer()
    received = ma.fields.Integer()
    rate = ma.fields.Float(allow_none=True)
    days = ma.fields.List(ma.fields.Nested(CompletenessDaySchema))


def _own_gateway(gateway_id: str) -> None:
    gateway = db().get(Gateway, gateway_id)
    if gateway is None or gateway.tenant_id != bound_tenant().id:
        raise InvalidInput("unknown gateway", fields={"gateway_id": ["no such gateway"]})


@blp.route("/gateway-events")
@blp.arguments(EventQuerySchema, location="query")
@blp.response(200, EventSchema(many=True))
@blp.paginate()
def gateway_events(query: dict[str, Any], pagination_parameters: Any) -> list[GatewayEvent]:
    """Faults, alarms and reconciliation differences, newest first."""
    stmt = select(GatewayEvent).order_by(GatewayEvent.at.desc(), GatewayEvent.id.desc())
    for name in ("gateway_id", "kind"):
        if query.get(name):
            stmt = stmt.where(getattr(GatewayEvent, name) == query[name])
    return paginate(db(), stmt, pagination_parameters)


@blp.route("/reconciliation")
class Reconciliations(MethodView):
    """Per point and UTC day: lost, phantom, duplicate and mismatched readings."""

    @blp.arguments(ReconciliationQuerySchema, location="query")
    @blp.response(200, ReconciliationSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[Reconciliation]:
        """Reconciliation results, newest day first."""
        stmt = select(Reconciliation).order_by(
            Reconciliation.day.desc(), Reconciliation.gateway_id, Reconciliation.code
        )
        for name in ("day", "gateway_id", "status"):
            if query.get(name):
                stmt = stmt.where(getattr(Reconciliation, name) == query[name])
        return paginate(db(), stmt, pagination_parameters)

    @requires(Permission.DATA_WRITE)
    @blp.arguments(RunSchema)
    @blp.response(200, RunResultSchema)
    def post(self, data: dict[str, Any]) -> reconcile.Outcome:
        """Reconcile a day now (the hourly job does the recent days by itself)."""
        now = utcnow()
        if data["day"] > now.date():
            raise InvalidInput("a future day", fields={"day": ["is in the future"]})
        if data.get("gateway_id"):
            _own_gateway(data["gateway_id"])
            gateways = [data["gateway_id"]]
        else:
            gateways = list(
                db().scalars(select(Gateway.id).where(Gateway.tenant_id == bound_tenant().id))
            )
        return reconcile.reconcile(db(), [(g, data["day"]) for g in gateways], now)


@blp.route("/completeness")
@blp.arguments(CompletenessQuerySchema, location="query")
@blp.response(200, CompletenessSchema)
def completeness(query: dict[str, Any]) -> dict[str, Any]:
    """The tenant's data completeness per day, from the reconciliations."""
    today = utcnow().date()
    end: date = query.get("end") or today - timedelta(days=1)
    start: date = query.get("start") or end - timedelta(days=6)
    if start > end:
        raise InvalidInput("empty period", fields={"from": ["after 'to'"]})
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput("period too long", fields={"from": [f"at most {MAX_DAYS} days"]})
    if query.get("gateway_id"):
        _own_gateway(query["gateway_id"])
    report = reconcile.completeness(db(), start, end, query.get("gateway_id"))
    return {
        "start": report.start,
        "end": report.end,
        "expected": report.expected,
        "received": report.received,
        "rate": report.rate,
        "days": report.days,
    }
