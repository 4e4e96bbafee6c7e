"""Schemas of the network API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import validate

from ems.networks.models import NodeKind, Stage
from ems.org.schemas import ROW_ID

CODE = [validate.Length(min=1, max=32), validate.Regexp(r"^[\w.-]+$")]


class NodeInputSchema(ma.Schema):
    """The editable fields of a node (PUT replaces them all)."""

    code = ma.fields.String(required=True, validate=CODE)
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    name_en = ma.fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=200)
    )
    kind = ma.fields.String(required=True, validate=validate.OneOf([k.value for k in NodeKind]))
    stage = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([s.value for s in Stage]),
        metadata={"description": "GB/T 28749 stage; null: the kind's usual stage."},
    )
    unit_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ROW_ID)
    equipment_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ROW_ID)
    sort_order = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class NodeSchema(NodeInputSchema):
    id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class FlowInputSchema(ma.Schema):
    """The editable fields of a flow (PUT replaces them all)."""

    energy_type = ma.fields.String(required=True, validate=validate.Length(min=1, max=32))
    from_node_id = ma.fields.Integer(required=True, validate=ROW_ID)
    to_node_id = ma.fields.Integer(required=True, validate=ROW_ID)
    level = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=3),
        metadata={"description": "GB 17167 level: 1 enterprise, 2 main sub-unit, 3 equipment."},
    )
    metering_required = ma.fields.Boolean(load_default=True)
    point_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "The cumulative point metering the flow; null: meter missing."},
    )
    label = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    note = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class FlowSchema(FlowInputSchema):
    id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class FlowQuerySchema(ma.Schema):
    energy_type = ma.fields.String(validate=validate.Length(min=1, max=32))
    level = ma.fields.Integer(validate=validate.Range(min=1, max=3))


class DefaultBuildSchema(ma.Schema):
    energy_types = ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=32)),
        required=True,
        validate=validate.Length(min=1, max=40),
    )


class DefaultBuildResultSchema(ma.Schema):
    nodes = ma.fields.List(ma.fields.Nested(NodeSchema))
    flows = ma.fields.List(ma.fields.Nested(FlowSchema))


class PeriodQuerySchema(ma.Schema):
    """Local calendar days [from, to) of the tenant's zone; default: this month so far."""

    from_ = ma.fields.Date(data_key="from")
    to = ma.fields.Date(metadata={"description": "Exclusive; default: tomorrow."})
    energy_type = ma.fields.String(validate=validate.Length(min=1, max=32))


class SeriesQuerySchema(ma.Schema):
    """Buckets of a calendar period between local dates (the actuals' periods, whole days)."""

    period = ma.fields.String(
        load_default="month",
        validate=validate.OneOf(["day", "week", "month", "quarter", "year", "custom"]),
        metadata={"description": "Shifts and hours need sub-day rollups: not offered here."},
    )
    from_ = ma.fields.Date(data_key="from")
    to = ma.fields.Date(metadata={"description": "Exclusive."})


class RatesQuerySchema(ma.Schema):
    on = ma.fields.Date(metadata={"description": "Which GB 17167 edition applies; default today."})
    energy_type = ma.fields.String(validate=validate.Length(min=1, max=32))


class DiagramQuerySchema(ma.Schema):
    energy_type = ma.fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "One energy type (metering network); absent: every type."},
    )
    live = ma.fields.Boolean(load_default=False)


class RequirementSchema(ma.Schema):
    id = ma.fields.Integer()
    standard = ma.fields.String()
    edition = ma.fields.String()
    category = ma.fields.String()
    energy_type = ma.fields.String()
    level = ma.fields.Integer()
    required_rate = ma.fields.Decimal(as_string=True, allow_none=True)
    threshold = ma.fields.Decimal(as_string=True, allow_none=True)
    threshold_unit = ma.fields.String(allow_none=True)
    valid_from = ma.fields.Date()
    valid_to = ma.fields.Date(allow_none=True)
    source = ma.fields.String()
    note = ma.fields.String(allow_none=True)


class FiguresSchema(ma.Schema):
    """Computed figures; numbers are decimal strings (exact), dates ISO."""

    body = ma.fields.Dict(keys=ma.fields.String())


def plain(value: Any) -> Any:
    """Figures as JSON: Decimal -> exact decimal string, date -> ISO, recursively."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value != 0 else "0"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
