"""Schemas of the upload log and statistics (also the regulator's statistics)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from ems.upload.models import ItemStatus, StatType
from ems.web.fields import Text

OUTCOMES = ("accepted", "refused", "error", "timeout", "unreachable", "invalid")
ENDPOINTS = ("register", "version", "dictionary", "info", "meters", "data", "access_key")
CODE = re.compile(r"^(\d{16}|\d{2}-\d{2}-\d{4}-\d{6}-\d{2})$")
CODE_ERROR = "16 digits, plain or as 2-2-4-6-2 with hyphens"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
ROW_ID = validate.Range(min=1, max=2**63 - 1)
STAT_TYPES = [s.value for s in StatType]


class Moment(ma.fields.String):
    """A date (a whole local day) or a date-time with its UTC offset."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ma.ValidationError("not a date (YYYY-MM-DD) or an ISO 8601 date-time") from exc
        if moment.tzinfo is None:
            raise ma.ValidationError("a date-time needs its UTC offset (e.g. +08:00 or Z)")
        return moment


class DayRangeSchema(ma.Schema):
    """Local days, inclusive (default: the last seven, today included)."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    registration_id = ma.fields.Integer(validate=ROW_ID)


class RequestQuerySchema(ma.Schema):
    """Filter the request log."""

    start = Moment(data_key="from", metadata={"description": "a date or a date-time"})
    end = Moment(data_key="to", metadata={"description": "a date (inclusive) or a date-time"})
    registration_id = ma.fields.Integer(validate=ROW_ID)
    endpoint = ma.fields.String(validate=validate.OneOf(ENDPOINTS))
    outcome = ma.fields.String(validate=validate.OneOf(OUTCOMES))
    q = Text(200, metadata={"description": "the message contains this (any case)"})
    item_id = ma.fields.Integer(validate=ROW_ID)


class RequestSchema(ma.Schema):
    """One request to a platform and its answer."""

    id = ma.fields.Integer()
    registration_id = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    endpoint = ma.fields.String()
    url = ma.fields.String()
    manual = ma.fields.Boolean()
    rows = ma.fields.Integer()
    item_ids = ma.fields.List(ma.fields.Integer())
    duration_ms = ma.fields.Integer()
    http_status = ma.fields.Integer(allow_none=True)
    outcome = ma.fields.String()
    response_code = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)
    request_excerpt = ma.fields.String(allow_none=True)
    response_excerpt = ma.fields.String(allow_none=True)


class ItemQuerySchema(ma.Schema):
    """Filter the outbox; the period by the local days its start falls on."""

    registration_id = ma.fields.Integer(validate=ROW_ID)
    status = ma.fields.String(validate=validate.OneOf([s.value for s in ItemStatus]))
    code = ma.fields.String(validate=validate.Regexp(CODE, error=CODE_ERROR))
    stat_type = ma.fields.Integer(validate=validate.OneOf(STAT_TYPES))
    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")


class ItemSchema(ma.Schema):
    """One figure in the outbox."""

    id = ma.fields.Integer()
    registration_id = ma.fields.Integer()
    code = ma.fields.String()
    stat_type = ma.fields.Integer()
    period_start = ma.fields.AwareDateTime()
    version = ma.fields.Integer()
    value = ma.fields.Decimal(as_string=True, allow_none=True)
    input_type = ma.fields.Integer()
    scope = ma.fields.Integer()
    valid = ma.fields.Boolean()
    flags = ma.fields.Integer()
    status = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    attempts = ma.fields.Integer()
    queued_at = ma.fields.AwareDateTime()
    last_attempt_at = ma.fields.AwareDateTime(allow_none=True)
    accepted_at = ma.fields.AwareDateTime(allow_none=True)
    due_at = ma.fields.AwareDateTime()


class TallySchema(ma.Schema):
    """Expected, uploaded and on-time items; rates over expected, in per cent."""

    expected = ma.fields.Integer()
    uploaded = ma.fields.Integer()
    on_time = ma.fields.Integer()
    failed_requests = ma.fields.Integer()
    completeness = ma.fields.Float(allow_none=True)
    timeliness = ma.fields.Float(allow_none=True)
    warning = ma.fields.Boolean()
    message = ma.fields.String(allow_none=True)


class DayStatsSchema(TallySchema):
    """One local day."""

    day = ma.fields.Date()


class RegistrationStatsSchema(TallySchema):
    """One registration: totals over the range, and each day."""

    registration_id = ma.fields.Integer()
    profile = ma.fields.String()
    days = ma.fields.List(ma.fields.Nested(DayStatsSchema))


class DayStatisticsSchema(ma.Schema):
    """Completeness and timeliness per registration and day."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    registrations = ma.fields.List(ma.fields.Nested(RegistrationStatsSchema))


class FailureGroupSchema(ma.Schema):
    """Failures sharing one reason."""

    outcome = ma.fields.String(metadata={"description": "request outcome, or item status"})
    message = ma.fields.String(allow_none=True)
    count = ma.fields.Integer()
    latest = ma.fields.AwareDateTime()
    endpoints = ma.fields.List(ma.fields.String())


class FailuresSchema(ma.Schema):
    """Failed requests and waiting items, grouped by reason."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    requests = ma.fields.List(ma.fields.Nested(FailureGroupSchema))
    items = ma.fields.List(ma.fields.Nested(FailureGroupSchema))  # endpoints: empty


class ConsistencyQuerySchema(ma.Schema):
    """A local month (default: the previous one, the latest that is closed)."""

    month = ma.fields.String(validate=validate.Regexp(MONTH, error="YYYY-MM"))
    registration_id = ma.fields.Integer(validate=ROW_ID)


class ConsistencyRowSchema(ma.Schema):
    """One code: accepted day values summed against the accepted month value."""

    registration_id = ma.fields.Integer()
    code = ma.fields.String()
    days_in_month = ma.fields.Integer()
    days_accepted = ma.fields.Function(lambda c: len(c.days))
    day_sum = ma.fields.Decimal(as_string=True, allow_none=True)
    month_value = ma.fields.Decimal(as_string=True, allow_none=True)
    difference_pct = ma.fields.Float(allow_none=True)
    status = ma.fields.String(
        metadata={"description": "ok | difference | month_missing | days_missing | not_additive"}
    )
    ok = ma.fields.Boolean()


class ConsistencySchema(ma.Schema):
    """Day sums against month values (within 5 %, provincial rule)."""

    month = ma.fields.String()
    tolerance_pct = ma.fields.Float()
    codes = ma.fields.List(ma.fields.Nested(ConsistencyRowSchema))


class MisalignedSchema(ma.Schema):
    """An item whose statDate is not on its period's boundary."""

    item_id = ma.fields.Integer()
    registration_id = ma.fields.Integer()
    code = ma.fields.String()
    stat_type = ma.fields.Integer()
    period_start = ma.fields.AwareDateTime()
    stat_date = ma.fields.String()
    aligned_start = ma.fields.AwareDateTime()
    aligned_stat_date = ma.fields.String()
    status = ma.fields.String()


class MissingDaySchema(ma.Schema):
    """A closed day without any item of a mapped day code."""

    registration_id = ma.fields.Integer()
    code = ma.fields.String()
    day = ma.fields.Date()


class PeriodStartsSchema(ma.Schema):
    """Period boundary check."""

    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    misaligned = ma.fields.List(ma.fields.Nested(MisalignedSchema))
    missing_days = ma.fields.List(ma.fields.Nested(MissingDaySchema))
