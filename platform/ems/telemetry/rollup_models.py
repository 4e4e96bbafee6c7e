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

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import TenantBase, UtcDateTime, utcnow


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

    Audited, because it changes every consumption figure after it. Writers must
    also mark the point dirty around ``at`` (:func:`ems.telemetry.rollups.record_replacement`
    does both), or the rollups would keep the old figures.
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
