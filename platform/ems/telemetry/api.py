"""Telemetry routes: points, real-time values, the quarantine.

``/realtime`` reads ``latest_values``, which the ingest upserts in the same
transaction as the readings: the answer is fresh the moment a batch commits,
and never scans raw data.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import validate
from sqlalchemy import select

from ems.errors import Conflict, InvalidInput, NotFound
from ems.overview.services import latest_values
from ems.telemetry import points, services
from ems.telemetry.models import Point, PointKind, QuarantineEntry
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant, bound_tenant_row, tenant_blueprint
from ems_tenants.models import Gateway

blp = tenant_blueprint("telemetry", __name__, description="Points, real-time values, quarantine")


class PointInputSchema(ma.Schema):
    """A point as the gateway names it, with its limits."""

    gateway_id = ma.fields.String(required=True, validate=validate.Length(min=3, max=64))
    code = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    meter_code = ma.fields.String(validate=validate.Length(max=64), allow_none=True)
    energy_type = ma.fields.String(required=True, validate=validate.Length(min=1, max=32))
    kind = ma.fields.String(required=True, validate=validate.OneOf([k.value for k in PointKind]))
    unit = ma.fields.String(required=True, validate=validate.Length(min=1, max=16))
    interval_s = ma.fields.Integer(load_default=900, validate=validate.Range(min=1, max=86_400))
    min_value = ma.fields.Float(allow_none=True, allow_nan=False)
    max_value = ma.fields.Float(allow_none=True, allow_nan=False)
    rollover_max = ma.fields.Float(
        allow_none=True, allow_nan=False, validate=validate.Range(min=0, min_inclusive=False)
    )
    fill_gaps = ma.fields.Boolean(load_default=False)
    in_category_total = ma.fields.Boolean(load_default=True)


class PointSchema(PointInputSchema):
    """A point."""

    id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)


class PointQuerySchema(ma.Schema):
    """Filter points by gateway."""

    gateway_id = ma.fields.String(validate=validate.Length(max=64))


class RealtimeSchema(ma.Schema):
    """A point's latest value."""

    point_id = ma.fields.Integer()
    gateway_id = ma.fields.String()
    code = ma.fields.String()
    name = ma.fields.String()
    unit = ma.fields.String()
    value = ma.fields.Float()
    ts = ma.fields.DateTime()
    quality = ma.fields.String()
    received_at = ma.fields.DateTime()


class QuarantineQuerySchema(ma.Schema):
    """Filter the quarantine."""

    gateway_id = ma.fields.String(validate=validate.Length(max=64))
    layer = ma.fields.String(validate=validate.OneOf(["network", "communication", "business"]))


class QuarantineSchema(ma.Schema):
    """Something that failed validation, with why (the raw payload is not sent back)."""

    id = ma.fields.Integer()
    received_at = ma.fields.DateTime()
    gateway_id = ma.fields.String()
    channel = ma.fields.String()
    layer = ma.fields.String()
    reason = ma.fields.String()
    point_code = ma.fields.String(allow_none=True)
    ts = ma.fields.DateTime(allow_none=True)
    value = ma.fields.Float(allow_none=True)
    seq = ma.fields.Integer(allow_none=True)
    payload_size = ma.fields.Integer(allow_none=True)


def _check(data: dict[str, Any]) -> None:
    gateway = db().get(Gateway, data["gateway_id"])
    if gateway is None or gateway.tenant_id != bound_tenant().id:
        raise InvalidInput("unknown gateway", fields={"gateway_id": ["no such gateway"]})
    low, high = data.get("min_value"), data.get("max_value")
    if low is not None and high is not None and low > high:
        raise InvalidInput("bad limits", fields={"min_value": ["greater than max_value"]})
    if data.get("rollover_max") is not None and data["kind"] != PointKind.CUMULATIVE:
        raise InvalidInput(
            "bad rollover", fields={"rollover_max": ["only a cumulative point rolls over"]}
        )


def _unique(data: dict[str, Any], own_id: int | None = None) -> None:
    other = db().scalar(
        select(Point.id).where(Point.gateway_id == data["gateway_id"], Point.code == data["code"])
    )
    if other is not None and other != own_id:
        raise Conflict("the gateway already has this point", fields={"code": ["already in use"]})


def _access(point_id: int) -> Point:
    point = db().get(Point, point_id)
    if point is None:
        raise NotFound("point not found")
    return point


@blp.route("/points")
class Points(MethodView):
    """The tenant's points."""

    @blp.arguments(PointQuerySchema, location="query")
    @blp.response(200, PointSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[Point]:
        """List points."""
        stmt = select(Point).order_by(Point.id)
        if query.get("gateway_id"):
            stmt = stmt.where(Point.gateway_id == query["gateway_id"])
        return paginate(db(), stmt, pagination_parameters)

    @blp.arguments(PointInputSchema)
    @blp.response(201, PointSchema)
    def post(self, data: dict[str, Any]) -> Point:
        """Add a point, within the plan's point limit."""
        _check(data)
        _unique(data)
        points.check_room(db(), bound_tenant_row().plan.max_points)
        point = Point(**data)
        db().add(point)
        db().flush()
        return point


@blp.route("/points/<int:point_id>")
class PointById(MethodView):
    """One point."""

    @blp.response(200, PointSchema)
    def get(self, point_id: int) -> Point:
        """Show a point."""
        return _access(point_id)

    @blp.arguments(PointInputSchema)
    @blp.response(200, PointSchema)
    def put(self, data: dict[str, Any], point_id: int) -> Point:
        """Replace a point's fields (its readings stay with it)."""
        point = _access(point_id)
        # A replacement: a limit left out is cleared, never kept unchecked from before.
        for name in ("meter_code", "min_value", "max_value", "rollover_max"):
            data.setdefault(name, None)
        _check(data)
        _unique(data, point.id)
        points.update(db(), point, data)
        return point


@blp.route("/realtime")
@blp.arguments(PointQuerySchema, location="query")
@blp.response(200, RealtimeSchema(many=True))
def realtime(query: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest value, time and quality of every point that has one."""
    return latest_values(db(), query.get("gateway_id"))


@blp.route("/quarantine")
@blp.arguments(QuarantineQuerySchema, location="query")
@blp.response(200, QuarantineSchema(many=True))
@blp.paginate()
def quarantine(query: dict[str, Any], pagination_parameters: Any) -> list[QuarantineEntry]:
    """What the ingest refused, newest first, with the reason."""
    stmt = services.quarantine_query(query.get("gateway_id"), query.get("layer"))
    return paginate(db(), stmt, pagination_parameters)
