"""Schemas of the organisation API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from ems.org.models import UnitKind, UnitRole

# A row id in a JSON body or query: positive and inside PostgreSQL's ``integer``.
ROW_ID = validate.Range(min=1, max=2**31 - 1)
# The provincial dictionaries' process / process-unit code: digits only, leading
# zeros significant (so a string); the combined 16-digit code bounds its length.
PROCESS_CODE = r"^\d{2,16}$"


class UnitInputSchema(ma.Schema):
    """The editable fields of a unit (PUT replaces them all)."""

    site_id = ma.fields.Integer(required=True, validate=ROW_ID)
    parent_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "The parent unit; null: directly under the site."},
    )
    code = ma.fields.String(
        required=True, validate=[validate.Length(min=1, max=32), validate.Regexp(r"^[\w.-]+$")]
    )
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    name_en = ma.fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=200)
    )
    kind = ma.fields.String(required=True, validate=validate.OneOf([k.value for k in UnitKind]))
    role = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([r.value for r in UnitRole]),
        metadata={"description": "Null: inherited from the parent (required at the top)."},
    )
    process_code = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(PROCESS_CODE, error="2 to 16 digits"),
        metadata={"description": "Provincial 生产工序 / 工序单元 code (processes only)."},
    )
    inside_boundary = ma.fields.Boolean(load_default=True)
    is_key_unit = ma.fields.Boolean(
        load_default=False, metadata={"description": "主要次级用能单位 (level 2 metering)."}
    )
    sort_order = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class UnitSchema(UnitInputSchema):
    """A unit as stored (``role`` null means inherited; see the site's tree)."""

    id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class UnitQuerySchema(ma.Schema):
    """Filter units."""

    site_id = ma.fields.Integer(validate=ROW_ID)
    kind = ma.fields.String(validate=validate.OneOf([k.value for k in UnitKind]))
    parent_id = ma.fields.Integer(validate=ROW_ID)


class TreeNodeSchema(ma.Schema):
    """A unit in its site's tree, with what it inherits."""

    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    name_en = ma.fields.String(allow_none=True)
    kind = ma.fields.String()
    role = ma.fields.String(allow_none=True)
    effective_role = ma.fields.String(allow_none=True)
    process_code = ma.fields.String(allow_none=True)
    inside_boundary = ma.fields.Boolean()
    effective_inside_boundary = ma.fields.Boolean(
        metadata={"description": "False when the unit or an ancestor is outside the boundary."}
    )
    is_key_unit = ma.fields.Boolean()
    sort_order = ma.fields.Integer()
    children = ma.fields.List(ma.fields.Nested(lambda: TreeNodeSchema()))


class SiteTreeSchema(ma.Schema):
    """A site's units, nested."""

    site_id = ma.fields.Integer()
    site_code = ma.fields.String()
    site_name = ma.fields.String()
    units = ma.fields.List(ma.fields.Nested(TreeNodeSchema))
