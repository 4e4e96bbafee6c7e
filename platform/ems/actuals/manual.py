"""Manual entry (手工录入) of what no meter measures, keeping every version.

- A **manual reading** of a point is written to ``readings`` with quality MANUAL, with a
  ``dirty_ranges`` row so the rollups recompute the counter steps around it (the rollups
  flag every bucket built on it MANUAL). A metered reading is only overwritten when the
  caller says it is a correction and why; each entry is a new ``manual_readings`` row holding
  what it replaced, so every version, the metered original included, stays retrievable.
- A **manual quantity** of an energy type over local days counts in the actuals; a correction
  updates it and appends a version row (the audit log keeps the before/after too).

The session is the tenant's; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ems.actuals.models import ManualQuantity, ManualQuantityVersion, ManualReading
from ems.actuals.periods import EARLIEST, LATEST
from ems.context import current_actor
from ems.energy.coefficients import UNITS, energy_type_row
from ems.errors import Conflict, InvalidInput, NotFound
from ems.org.models import Unit
from ems.telemetry import partitions
from ems.telemetry.models import DirtyRange, LatestValue, Point, Quality, Reading

# Like the ingest's business layer: a reading more than this ahead of the clock is refused.
MAX_AHEAD = timedelta(minutes=5)
MAX_PERIOD_DAYS = 366


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields={field: [message]})


def access_point(session: Session, point_id: int) -> Point:
    """A point of the session's tenant."""
    point = session.get(Point, point_id)
    if point is None:
        raise NotFound("point not found")
    return point


# --- manual readings ----------------------------------------------------------------------


def _ensure_partition(session: Session, schema: str, ts: datetime) -> None:
    """Create the month partition of ``ts`` if missing, in a short transaction of its own.

    Creating a partition locks the parent table; like the ingest, never hold that lock
    across other work. Runs before this transaction touches ``readings`` (else it would wait
    on itself). An empty partition left by a request that fails later is harmless.
    """
    month = date(ts.year, ts.month, 1)
    name = partitions.partition_name(month)
    found = session.scalar(select(func.to_regclass(func.format("%I.%I", schema, name))))
    if found is not None:
        return
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # noqa: S101 - tenant sessions are bound to an engine
    with engine.connect() as side:
        raw = side.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)  # noqa: S101 - the platform's only driver
        with raw.transaction():
            partitions.ensure(raw, schema, {month})


def _check_reading(point: Point, ts: datetime, value: float, now: datetime, keep_days: int) -> None:
    if ts > now + MAX_AHEAD:
        raise _invalid("ts", "is in the future")
    if ts < now - timedelta(days=keep_days):
        raise _invalid("ts", f"is older than the plan's retention ({keep_days} days)")
    if point.min_value is not None and value < point.min_value:
        raise _invalid("value", f"below the point's minimum {point.min_value}")
    if point.max_value is not None and value > point.max_value:
        raise _invalid("value", f"above the point's maximum {point.max_value}")


def enter_reading(
    session: Session,
    schema: str,
    point: Point,
    data: Mapping[str, Any],
    now: datetime,
    retention_days: int,
) -> ManualReading:
    """Write a manual reading of ``point`` and record its version.

    ``schema`` comes from the tenant registry. Raises InvalidInput (ts, value), or Conflict
    (``correction``) for a metered reading at ``ts`` unless ``correction`` is true.
    """
    ts: datetime = data["ts"].astimezone(UTC)
    value = float(data["value"])
    _check_reading(point, ts, value, now, retention_days)
    _ensure_partition(session, schema, ts)
    stored = session.execute(
        select(Reading.value, Reading.quality).where(Reading.point == point.id, Reading.ts == ts)
    ).first()
    if stored is not None and stored.quality != Quality.MANUAL and not data.get("correction"):
        message = (
            f"a metered reading ({stored.value!r}) exists at this time: send correction: true "
            "with the reason to replace it"
        )
        raise Conflict(message, fields={"correction": [message]})
    version = session.scalar(
        select(func.coalesce(func.max(ManualReading.version), 0)).where(
            ManualReading.point_id == point.id, ManualReading.ts == ts
        )
    )
    entry = ManualReading(
        point_id=point.id,
        ts=ts,
        version=(version or 0) + 1,
        value=value,
        previous_value=None if stored is None else stored.value,
        previous_quality=None if stored is None else stored.quality,
        correction=stored is not None,
        reason=data["reason"],
        entered_by=current_actor.get().name,
        entered_at=now,
    )
    session.add(entry)
    _write_reading(session, point.id, ts, value, now)
    session.flush()
    return entry


def _write_reading(
    session: Session, point_id: int, ts: datetime, value: float, now: datetime
) -> None:
    manual = int(Quality.MANUAL)
    upsert = insert(Reading).values(point=point_id, ts=ts, value=value, quality=manual)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=[Reading.point, Reading.ts],
            set_={"value": upsert.excluded.value, "quality": upsert.excluded.quality},
        )
    )
    latest = insert(LatestValue).values(
        point=point_id, ts=ts, value=value, quality=manual, received_at=now
    )
    session.execute(
        latest.on_conflict_do_update(
            index_elements=[LatestValue.point],
            set_={
                "ts": latest.excluded.ts,
                "value": latest.excluded.value,
                "quality": latest.excluded.quality,
                "received_at": latest.excluded.received_at,
            },
            where=LatestValue.ts <= latest.excluded.ts,
        )
    )
    # The rollups recompute the steps on either side of ts, as for an ingested reading.
    session.add(DirtyRange(points=[point_id], from_ts=ts, to_ts=ts))


# --- manual quantities --------------------------------------------------------------------

QUANTITY_FIELDS = (
    "energy_type",
    "unit",
    "quantity",
    "period_from",
    "period_to",
    "unit_id",
    "item",
    "reason",
)


def check_period(start: date, end: date, max_days: int = MAX_PERIOD_DAYS) -> None:
    """[start, end) local days: inside the supported window, not empty, not too long."""
    for value, field in ((start, "period_from"), (end, "period_to")):
        if not EARLIEST <= value <= LATEST:
            raise _invalid(field, f"must lie between {EARLIEST} and {LATEST}")
    if end <= start:
        raise _invalid("period_to", "must be after period_from (it is exclusive)")
    if (end - start).days > max_days:
        raise _invalid("period_to", f"a period spans at most {max_days} days")


def check_unit_id(session: Session, unit_id: int | None) -> None:
    """An organisation unit named by id must exist."""
    if unit_id is not None and session.get(Unit, unit_id) is None:
        raise _invalid("unit_id", "no such unit")


def _check_quantity(session: Session, values: Mapping[str, Any]) -> None:
    kind = energy_type_row(session, values["energy_type"])
    dimension = UNITS.get(values["unit"], ("", None))[0]
    if dimension != kind.dimension:
        allowed = [u for u, (d, _) in UNITS.items() if d == kind.dimension]
        raise _invalid("unit", f"{kind.code} is measured in one of {allowed}")
    check_period(values["period_from"], values["period_to"])
    check_unit_id(session, values["unit_id"])


def access_quantity(session: Session, quantity_id: int) -> ManualQuantity:
    """A manual quantity of the session's tenant."""
    row = session.get(ManualQuantity, quantity_id)
    if row is None:
        raise NotFound("manual quantity not found")
    return row


def _version(row: ManualQuantity, now: datetime) -> ManualQuantityVersion:
    return ManualQuantityVersion(
        quantity_id=row.id,
        version=row.version,
        **{name: getattr(row, name) for name in QUANTITY_FIELDS},
        entered_by=row.entered_by,
        entered_at=now,
    )


def create_quantity(session: Session, data: Mapping[str, Any], now: datetime) -> ManualQuantity:
    """Record a quantity used without a meter (version 1)."""
    values = {name: data.get(name) for name in QUANTITY_FIELDS}
    _check_quantity(session, values)
    row = ManualQuantity(**values, entered_by=current_actor.get().name, version=1)
    session.add(row)
    session.flush()
    session.add(_version(row, now))
    session.flush()
    return row


def correct_quantity(
    session: Session, row: ManualQuantity, data: Mapping[str, Any], now: datetime
) -> ManualQuantity:
    """Replace a manual quantity's fields; the previous versions stay retrievable."""
    values = {name: data.get(name) for name in QUANTITY_FIELDS}
    _check_quantity(session, values)
    for name, value in values.items():
        setattr(row, name, value)
    row.entered_by = current_actor.get().name
    row.version += 1
    session.flush()
    session.add(_version(row, now))
    session.flush()
    return row


def quantity_versions(session: Session, row: ManualQuantity) -> list[ManualQuantityVersion]:
    """Every version of a manual quantity, newest first."""
    return list(
        session.scalars(
            select(ManualQuantityVersion)
            .where(ManualQuantityVersion.quantity_id == row.id)
            .order_by(ManualQuantityVersion.version.desc())
        )
    )
