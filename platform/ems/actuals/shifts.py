"""Shift definitions (班次) of a tenant: wall-clock times in the tenant's zone, never overlapping.

Times are multiples of 15 minutes because the quarter hour is the finest rollup: a shift
boundary inside a quarter hour could not be served from the rollups. The session is the
tenant's; nothing here commits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.actuals.models import MINUTES_PER_DAY, Shift
from ems.errors import Conflict, InvalidInput, NotFound

MAX_SHIFTS = 24
SLOT = 15
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
FIELDS = ("name", "start_minute", "end_minute", "starts_previous_day", "sort_order")


def parse_clock(text: str, field: str, *, end: bool) -> int:
    """``HH:MM`` as minutes after midnight; an end of ``00:00`` or ``24:00`` is midnight
    at the end of the day (1440)."""
    match = _CLOCK.fullmatch(text)
    minutes = int(match[1]) * 60 + int(match[2]) if match else -1
    if not 0 <= minutes <= MINUTES_PER_DAY or (minutes == MINUTES_PER_DAY and not end):
        raise InvalidInput(f"bad time {text!r}", fields={field: ["HH:MM, 00:00 to 23:45"]})
    if minutes % SLOT:
        raise InvalidInput(
            f"{text} is not on a quarter hour",
            fields={field: ["a multiple of 15 minutes (the finest rollup)"]},
        )
    return MINUTES_PER_DAY if end and minutes == 0 else minutes


def clock(minutes: int) -> str:
    """Minutes after midnight as ``HH:MM`` (1440 is ``24:00``)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def duration(shift: Shift) -> int:
    """Length in minutes (wall clock); an end at or before the start crosses midnight."""
    return (shift.end_minute - shift.start_minute) % MINUTES_PER_DAY or MINUTES_PER_DAY


def slots(start_minute: int, end_minute: int) -> set[int]:
    """The quarter hours of the wall-clock day a shift occupies (mod 24 h)."""
    length = (end_minute - start_minute) % MINUTES_PER_DAY or MINUTES_PER_DAY
    first = start_minute // SLOT
    return {(first + i) % (MINUTES_PER_DAY // SLOT) for i in range(length // SLOT)}


def ordered(session: Session) -> list[Shift]:
    """The tenant's shifts in report order."""
    return list(
        session.scalars(select(Shift).order_by(Shift.sort_order, Shift.start_minute, Shift.id))
    )


def access_shift(session: Session, shift_id: int) -> Shift:
    """A shift of the session's tenant."""
    row = session.get(Shift, shift_id)
    if row is None:
        raise NotFound("shift not found")
    return row


def _check(session: Session, values: Mapping[str, Any], own_id: int | None) -> None:
    others = [s for s in ordered(session) if s.id != own_id]
    if any(s.name == values["name"] for s in others):
        raise Conflict("a shift with this name exists", fields={"name": ["already in use"]})
    if own_id is None and len(others) >= MAX_SHIFTS:
        raise Conflict(f"at most {MAX_SHIFTS} shifts", fields={"name": ["too many shifts"]})
    mine = slots(values["start_minute"], values["end_minute"])
    for other in others:
        if mine & slots(other.start_minute, other.end_minute):
            message = (
                f"overlaps shift {other.name!r} "
                f"({clock(other.start_minute)}-{clock(other.end_minute)})"
            )
            raise InvalidInput(message, fields={"start": [message], "end": [message]})


def _values(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": data["name"],
        "start_minute": parse_clock(data["start"], "start", end=False),
        "end_minute": parse_clock(data["end"], "end", end=True),
        "starts_previous_day": data.get("starts_previous_day", False),
        "sort_order": data.get("sort_order", 0),
    }


def create_shift(session: Session, data: Mapping[str, Any]) -> Shift:
    """Add a shift; it may not overlap another (on the 24-hour clock)."""
    values = _values(data)
    _check(session, values, None)
    row = Shift(**values)
    session.add(row)
    session.flush()
    return row


def update_shift(session: Session, row: Shift, data: Mapping[str, Any]) -> Shift:
    """Replace a shift's fields."""
    values = _values(data)
    _check(session, values, row.id)
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    return row
