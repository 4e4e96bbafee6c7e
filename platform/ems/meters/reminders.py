"""The ``calibration_due`` reminder source: meters whose next verification falls due.

DB53/T 1026-2021 §4.3 asks for reminders before verification or calibration
falls due. A meter out of service (停用) is not verified while it is out of
service, so it raises none; an overdue one does (once per due date).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.meters.models import Meter, MeterState
from ems.reminders.services import Due, register_source

KIND = "calibration_due"
SUBJECT = "meter"


def meters_due(session: Session, today: date, lead_days: int) -> Iterator[Due]:
    """Every meter in service whose next due date is on or before ``today + lead_days``."""
    horizon = today + timedelta(days=lead_days)
    rows = session.execute(
        select(Meter.id, Meter.name, Meter.management_number, Meter.next_due_on)
        .where(
            Meter.next_due_on.is_not(None),
            Meter.next_due_on <= horizon,
            Meter.state != MeterState.OUT_OF_SERVICE,
        )
        .order_by(Meter.next_due_on, Meter.id)
    )
    for meter_id, name, number, due in rows:
        assert due is not None  # noqa: S101 - filtered in the query
        yield Due(
            subject_type=SUBJECT,
            subject_id=meter_id,
            due=due,
            title=f"检定/校准到期 Verification due: {name} ({number}) {due.isoformat()}",
        )


register_source(KIND, meters_due)
