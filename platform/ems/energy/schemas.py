"""Schemas of the energy API. Coefficients travel as decimal strings, so none is rounded."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import marshmallow as ma
from marshmallow import validate

from ems.energy.models import Basis, Category

BASES = [b.value for b in Basis]
MAX_PLACES = 10
MAX_VALUE = Decimal(1_000_000)


def _coefficient_value(value: Decimal) -> None:
    # A plain function, not validate.Range: apispec would document a Range of this
    # string-typed field as a string maximum, which is not valid OpenAPI.
    if not 0 < value <= MAX_VALUE:
        raise ma.ValidationError(f"must be above 0 and at most {MAX_VALUE}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PLACES:
        raise ma.ValidationError(f"at most {MAX_PLACES} decimal places")


class EnergyTypeSchema(ma.Schema):
    """An energy type or energy-carrying medium of the shared catalogue."""

    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    category = ma.fields.String(metadata={"enum": [c.value for c in Category]})
    unit = ma.fields.String(metadata={"description": "the unit it is usually metered in"})
    dimension = ma.fields.String(metadata={"description": "mass, volume or energy"})
    source = ma.fields.String()


class EnergyTypeQuerySchema(ma.Schema):
    """Filter the catalogue."""

    category = ma.fields.String(validate=validate.OneOf([c.value for c in Category]))


class CoefficientQuerySchema(ma.Schema):
    """Which coefficients to resolve: one type or all, on a day, on a basis."""

    energy_type = ma.fields.String(validate=validate.Length(min=1, max=32))
    on = ma.fields.Date(
        metadata={"description": "local calendar day; today in the tenant's time zone if absent"},
        validate=validate.Range(max=date(9999, 12, 30)),
    )
    basis = ma.fields.String(
        validate=validate.OneOf(BASES),
        metadata={"description": "default: the tenant's setting for electricity, else equivalent"},
    )


class CoefficientSchema(ma.Schema):
    """The coefficient in force for one energy type, and where it came from."""

    energy_type = ma.fields.String()
    basis = ma.fields.String()
    on = ma.fields.Date()
    value = ma.fields.Decimal(as_string=True, allow_none=True)
    unit = ma.fields.String(allow_none=True)
    origin = ma.fields.String(
        allow_none=True, metadata={"enum": ["override", "region", "national"]}
    )
    row_id = ma.fields.Integer(allow_none=True)
    region_code = ma.fields.String(allow_none=True)
    valid_from = ma.fields.Date(allow_none=True)
    valid_to = ma.fields.Date(allow_none=True)
    source = ma.fields.String(allow_none=True)
    version = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    missing = ma.fields.String(
        allow_none=True, metadata={"description": "why no coefficient is in force, if none is"}
    )


class OverrideQuerySchema(ma.Schema):
    """Filter overrides."""

    energy_type = ma.fields.String(validate=validate.Length(min=1, max=32))


class OverrideInputSchema(ma.Schema):
    """A tenant's own coefficient for an energy type and basis, over a range of days."""

    energy_type = ma.fields.String(required=True, validate=validate.Length(min=1, max=32))
    basis = ma.fields.String(load_default=Basis.EQUIVALENT.value, validate=validate.OneOf(BASES))
    value = ma.fields.Decimal(
        required=True,
        as_string=True,
        validate=_coefficient_value,
        metadata={"description": f"above 0, at most {MAX_VALUE}, {MAX_PLACES} decimal places"},
    )
    unit = ma.fields.String(
        required=True,
        validate=validate.Length(min=3, max=24),
        metadata={"description": "<kgce|tce>/<unit>, e.g. kgce/kWh, tce/10^4 m3"},
    )
    valid_from = ma.fields.Date(required=True, validate=validate.Range(max=date(9999, 12, 30)))
    valid_to = ma.fields.Date(
        allow_none=True, load_default=None, metadata={"description": "exclusive; null: open"}
    )
    reason = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "source of the value or why it replaces the reference one"},
    )


class OverrideSchema(OverrideInputSchema):
    """A tenant coefficient override."""

    id = ma.fields.Integer(dump_only=True)
    recorded_by = ma.fields.String(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class EnergySettingsSchema(ma.Schema):
    """The tenant's energy accounting choices."""

    electricity_basis = ma.fields.String(required=True, validate=validate.OneOf(BASES))
    updated_at = ma.fields.AwareDateTime(dump_only=True)
