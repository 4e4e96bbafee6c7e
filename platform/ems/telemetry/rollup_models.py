"""Tenant-schema tables of the rollups: per point, per energy category, and meter replacements.

``point_rollups`` holds every grain of every point in one table, keyed by
(point, grain, start): ``start`` is the UTC instant at which the bucket begins
in the tenant's time zone (see :mod:`ems.telemetry.calendar`), so a local day is
found with one equality and never needs a zone conversion at query time.
Cumulative points fill ``consumption``; instantaneous points fill ``minimum``,
``maximum`` and ``mean``; ``flags`` carries the :class:`ems.telemetry.intervals.Flag`
bits of everything the value depends on.

The rows are derived data: :mod:`ems.telemetry.rollups` rewrites them from the
raw readings whenever a ``dirty_ranges`` row says readings changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from ems.audit.models import Audited
from ems.db import TenantBase, UtcDateTime, utcnow
from ems.telemetry.models import DirtyRange


class PointRollup(TenantBase):
    """One bucket (15m, 1h, 1d or 1mo) of one point."""

    __tablename__ = "point_rollups"

    # No foreign key to points: like ``readings``, this table is written in
    # bulk, and a per-row key check would cost on the hottest write path.
    point: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(4), primary_key=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    consumption: Mapped[float | None] = mapped_column(Float(precision=53))
    minimum: Mapped[float | None] = mapped_column(Float(precision=53))
    maximum: Mapped[float | None] = mapped_column(Float(precision=53))
    mean: Mapped[float | None] = mapped_column(Float(precision=53))
    count: Mapped[int] = mapped_column(Integer)
    flags: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CategoryRollup(TenantBase):
    """One bucket of an energy category: the sum of its cumulative points that count in totals."""

    __tablename__ = "category_rollups"

    energy_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Physical units are never added across: kWh and MWh of one type are two rows.
    unit: Mapped[str] = mapped_column(String(16), primary_key=True)
    grain: Mapped[str] = mapped_column(String(4), primary_key=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    consumption: Mapped[float] = mapped_column(Float(precision=53))
    points: Mapped[int] = mapped_column(Integer)  # how many points contributed
    flags: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class MeterReplacement(Audited, TenantBase):
    """A counter base change of a point: at ``at`` the old meter read ``old_final``
    and the new one started from ``new_initial`` (an entry of the meter ledger).

    Audited, because it changes every consumption figure after it. A new one is
    marked dirty by :func:`ems.telemetry.rollups.record_replacement`; an edit or a
    deletion by the flush listener at the end of this module, so the rollups never
    keep figures computed with a base that changed.
    """

    __tablename__ = "meter_replacements"
    __table_args__ = (Index("ix_meter_replacements_point_at", "point", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No ON DELETE CASCADE: a ledger entry must not vanish with a point silently.
    point: Mapped[int] = mapped_column(ForeignKey("points.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    old_final: Mapped[float] = mapped_column(Float(precision=53))
    new_initial: Mapped[float] = mapped_column(Float(precision=53))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


@event.listens_for(Session, "before_flush")
def _replacements_mark_dirty(session: Session, _context: Any, _instances: Any) -> None:
    """A meter replacement edited or deleted: its point is dirty at the old and new time.

    (``record_replacement`` marks a new one itself.) Catching it at flush means no writer
    of the meter ledger can forget it.
    """
    for obj in [*session.dirty, *session.deleted]:
        if not isinstance(obj, MeterReplacement):
            continue
        state = inspect(obj)
        moments: set[datetime] = set()
        points: set[int] = {obj.point}
        for name, into in (("at", moments), ("point", points)):
            history = state.attrs[name].history
            into.update(v for v in (*history.deleted, *history.unchanged) if v is not None)
        if obj in session.deleted or state.attrs["at"].history.has_changes():
            moments.add(obj.at)
        elif not any(
            state.attrs[n].history.has_changes() for n in ("point", "old_final", "new_initial")
        ):
            continue
        for moment in moments:
            session.add(DirtyRange(points=sorted(points), from_ts=moment, to_ts=moment))
