"""Tenant tables of reminders: the events themselves and each kind's lead time."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import TenantBase, UtcDateTime, utcnow

DEFAULT_LEAD_DAYS = 30
MAX_LEAD_DAYS = 366


class Reminder(Audited, TenantBase):
    """Something falls due on ``due``: a meter's verification, a certificate's expiry.

    One row per (kind, subject, due date): the unique key is what makes the daily
    job safe to run twice, or twice at once. A new due date (a meter verified
    again) is a new reminder; the old one stays as it was, acknowledged or not.
    Rows are inserted in bulk by the job (not audited); an acknowledgement is an
    ORM update (audited).
    """

    __tablename__ = "reminders"
    # The daily job's delivery bookkeeping is not a user's write.
    __audit_exclude__ = frozenset({"notified_at"})
    __table_args__ = (
        UniqueConstraint(
            "kind", "subject_type", "subject_id", "due", name="uq_reminders_subject_due"
        ),
        Index("ix_reminders_due", "due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    due: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(254))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ReminderSetting(Audited, TenantBase):
    """How many days before its due date a kind of reminder is raised (default 30)."""

    __tablename__ = "reminder_settings"
    __table_args__ = (
        CheckConstraint(f"lead_days BETWEEN 0 AND {MAX_LEAD_DAYS}", name="lead_days"),
    )

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    lead_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
