"""Schemas of the reminders API."""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from marshmallow import validate

from ems.org.schemas import ROW_ID
from ems.reminders.models import MAX_LEAD_DAYS

DATES = validate.Range(min=date(1900, 1, 1), max=date(2200, 12, 31))


def printable(value: str) -> None:
    """No control characters (PostgreSQL refuses NUL in text)."""
    if any(ord(c) < 32 for c in value) or "\x7f" in value:
        raise ma.ValidationError("control characters are not allowed")


class ReminderSchema(ma.Schema):
    """Something falling due, and whether it was notified and acknowledged."""

    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"description": "calibration_due, certificate_expiry, ..."})
    subject_type = ma.fields.String(metadata={"description": "meter, person, ..."})
    subject_id = ma.fields.Integer()
    title = ma.fields.String()
    due = ma.fields.Date()
    created_at = ma.fields.AwareDateTime()
    notified_at = ma.fields.AwareDateTime(allow_none=True)
    acknowledged_by = ma.fields.String(allow_none=True)
    acknowledged_at = ma.fields.AwareDateTime(allow_none=True)


class ReminderQuerySchema(ma.Schema):
    """Filter reminders."""

    kind = ma.fields.String(validate=[validate.Length(min=1, max=32), printable])
    subject_type = ma.fields.String(validate=[validate.Length(min=1, max=32), printable])
    subject_id = ma.fields.Integer(validate=ROW_ID)
    acknowledged = ma.fields.Boolean(metadata={"description": "false: open reminders only"})
    due_from = ma.fields.Date(validate=DATES)
    due_to = ma.fields.Date(validate=DATES)


class ReminderSettingSchema(ma.Schema):
    """How many days before the due date a kind of reminder is raised."""

    kind = ma.fields.String(required=True, validate=[validate.Length(min=1, max=32), printable])
    lead_days = ma.fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_LEAD_DAYS))
    customised = ma.fields.Boolean(
        dump_only=True, metadata={"description": "false: the default applies"}
    )


class ReminderSettingsInputSchema(ma.Schema):
    """Lead times to set, per kind (kinds not listed keep theirs)."""

    settings = ma.fields.List(
        ma.fields.Nested(ReminderSettingSchema),
        required=True,
        validate=validate.Length(min=1, max=50),
    )
