"""Schemas of the sites API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate


class SiteInputSchema(ma.Schema):
    """The editable fields of a site."""

    code = ma.fields.String(
        required=True, validate=[validate.Length(min=1, max=32), validate.Regexp(r"^[\w.-]+$")]
    )
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    address = ma.fields.String(allow_none=True, validate=validate.Length(max=500))
    region_code = ma.fields.String(allow_none=True, validate=validate.Regexp(r"^\d{6}$"))
    timezone = ma.fields.String(allow_none=True, validate=validate.Length(max=64))


class SiteSchema(SiteInputSchema):
    """A site."""

    id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)
