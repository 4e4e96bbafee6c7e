"""Schemas of the regulator's view: registry facts and what enterprises uploaded."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from ems.upload.stats_schemas import (
    CODE,
    CODE_ERROR,
    STAT_TYPES,
    DayStatsSchema,
    TallySchema,
)


class EnterpriseSchema(ma.Schema):
    """An enterprise as a regulator sees it (registry facts only)."""

    name = ma.fields.String()
    credit_code = ma.fields.String()
    region_code = ma.fields.String()
    industry_code = ma.fields.String()
    status = ma.fields.String(metadata={"description": "active | suspended (uploads stopped)"})


class RangeSchema(ma.Schema):
    """Local days, inclusive (default: the last 30, today included)."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")


class SubmissionSchema(ma.Schema):
    """Enterprise information or a meter ledger, as a platform accepted it."""

    profile = ma.fields.String()
    kind = ma.fields.String()
    accepted_at = ma.fields.AwareDateTime()
    payload = ma.fields.Raw()


class EnterpriseTallySchema(TallySchema):
    """Published upload statistics summed over a range (warning also when none)."""

    days_reported = ma.fields.Integer()


class EnterpriseSummarySchema(EnterpriseTallySchema):
    """The last 30 days."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")


class EnterpriseDetailSchema(EnterpriseSchema):
    """Registry facts, the latest enterprise information, 30 days of statistics."""

    info = ma.fields.List(ma.fields.Nested(SubmissionSchema))
    last_30_days = ma.fields.Nested(EnterpriseSummarySchema)


class FigureQuerySchema(RangeSchema):
    """Filter an enterprise's accepted figures (periods by the local day they start on)."""

    stat_type = ma.fields.Integer(validate=validate.OneOf(STAT_TYPES))
    code = ma.fields.String(validate=validate.Regexp(CODE, error=CODE_ERROR))
    versions = ma.fields.String(load_default="latest", validate=validate.OneOf(["latest", "all"]))


class FigureSchema(ma.Schema):
    """A figure a platform accepted."""

    profile = ma.fields.String()
    code = ma.fields.String()
    stat_type = ma.fields.Integer()
    period_start = ma.fields.AwareDateTime()
    stat_date = ma.fields.String(metadata={"description": "the period's local start"})
    version = ma.fields.Integer()
    value = ma.fields.Decimal(as_string=True)
    scope = ma.fields.Integer()
    valid = ma.fields.Boolean()
    accepted_at = ma.fields.AwareDateTime()


class ProfileDaysSchema(TallySchema):
    """One platform's published statistics, and each day."""

    profile = ma.fields.String()
    days = ma.fields.List(ma.fields.Nested(DayStatsSchema))


class EnterpriseStatisticsSchema(ma.Schema):
    """One enterprise's completeness and timeliness, as published."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    total = ma.fields.Nested(EnterpriseTallySchema)
    profiles = ma.fields.List(ma.fields.Nested(ProfileDaysSchema))


class TotalsQuerySchema(RangeSchema):
    """Which periods (default: days)."""

    stat_type = ma.fields.Integer(load_default=1, validate=validate.OneOf(STAT_TYPES))


class BreakdownSchema(ma.Schema):
    """One whole-plant energy code summed over the region."""

    data_type = ma.fields.String(metadata={"description": "code digits 9-10"})
    energy_code = ma.fields.String(metadata={"description": "code digits 11-14"})
    value = ma.fields.Decimal(as_string=True)
    enterprises = ma.fields.Integer()


class PeriodTotalSchema(ma.Schema):
    """One period's region totals."""

    stat_date = ma.fields.String()
    total = ma.fields.Decimal(as_string=True, allow_none=True)
    enterprises = ma.fields.Integer()
    by_energy = ma.fields.List(ma.fields.Nested(BreakdownSchema))


class TotalsSchema(ma.Schema):
    """Whole-plant comprehensive consumption of the region per period."""

    stat_type = ma.fields.Integer()
    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    periods = ma.fields.List(ma.fields.Nested(PeriodTotalSchema))


class RegionStatisticsSchema(EnterpriseSchema, EnterpriseTallySchema):
    """One enterprise of the region over the range."""
