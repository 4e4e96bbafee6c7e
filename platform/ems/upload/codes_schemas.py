"""Schemas of the code mapping and coverage API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from ems.org.schemas import ROW_ID
from ems.upload.models import Scope, Source
from ems.web.fields import Text


class CodeInputSchema(ma.Schema):
    """The editable fields of a mapped code (PUT replaces them all)."""

    code = Text(
        20,
        required=True,
        metadata={"description": "16 digits, or 2-2-4-6-2 with hyphens; stored as digits."},
    )
    name = Text(200, required=True, validate=validate.Length(min=1, max=200))
    scope = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([s.value for s in Scope]),
        metadata={
            "description": "1 plant, 2 process, 3 process unit, 4 key equipment; must agree "
            "with the digits (null: what the digits say)."
        },
    )
    unit_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "The organisation unit; required for scopes 2 and 3."},
    )
    equipment_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "The equipment; required for scope 4."},
    )
    source = ma.fields.String(required=True, validate=validate.OneOf([s.value for s in Source]))
    energy_type = Text(
        32,
        load_default=None,
        allow_none=True,
        metadata={"description": "Source category: the energy type (catalogue code)."},
    )
    point_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "Source point: the telemetry point."},
    )
    product_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "Sources output and unit_consumption: the product."},
    )
    input_type = ma.fields.Integer(
        load_default=2,
        validate=validate.Range(min=1, max=5),
        metadata={
            "description": "inputType: 1 MIS, 2 production monitoring, 3 DCS, 4 field "
            "instrument, 5 manual entry."
        },
    )
    realtime = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Upload every real-time period (category and point only)."},
    )
    day = ma.fields.Boolean(load_default=True)
    month = ma.fields.Boolean(load_default=True)
    year = ma.fields.Boolean(load_default=True)
    enabled = ma.fields.Boolean(load_default=True)


class CodeSchema(CodeInputSchema):
    id = ma.fields.Integer(dump_only=True)
    registration_id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)
