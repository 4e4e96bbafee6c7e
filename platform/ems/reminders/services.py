"""Reminders: sources say what falls due, :func:`run` turns that into reminder rows.

A feature registers a *source* per kind of reminder::

    register_source("calibration_due", meters_due)

where ``meters_due(session, today, lead_days)`` yields a :class:`Due` for every
subject falling due on or before ``today + lead_days`` (overdue ones included:
a subject imported already overdue still deserves one reminder). :func:`run`,
called daily per tenant by the worker, inserts the reminders that do not exist
yet (``INSERT ... ON CONFLICT DO NOTHING`` on kind, subject and due date), so a
second run, or two at once, create each reminder exactly once.

Register from a module that the feature's package ``__init__`` imports: every
process loads every feature's models (:func:`ems.models.load_all_models`), and
with them their packages, so the API, the worker and the CLI all see the same
sources. The session passed in is bound to the tenant; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ems.context import current_actor
from ems.db import utcnow
from ems.errors import InvalidInput, NotFound
from ems.reminders.models import DEFAULT_LEAD_DAYS, Reminder, ReminderSetting

TITLE_LENGTH = 300


@dataclass(frozen=True)
class Due:
    """One subject falling due: what it is, which one, when, and a line for people."""

    subject_type: str
    subject_id: int
    due: date
    title: str


Source = Callable[[Session, date, int], Iterable[Due]]


@dataclass(frozen=True)
class _Registered:
    fn: Source
    default_lead_days: int


_sources: dict[str, _Registered] = {}


def register_source(kind: str, fn: Source, *, default_lead_days: int = DEFAULT_LEAD_DAYS) -> None:
    """Declare the source of one kind of reminder (at import time of the feature).

    Registering a kind again replaces its source (a module reloaded in a test).
    """
    if not kind or len(kind) > 32:
        raise ValueError(f"reminder kind {kind!r} must be 1 to 32 characters")
    _sources[kind] = _Registered(fn, default_lead_days)


def kinds() -> list[str]:
    """The registered kinds, sorted."""
    _load_features()
    return sorted(_sources)


def _load_features() -> None:
    # Sources register when their feature's package is imported, which loading
    # the models does in every process.
    from ems.models import load_all_models

    load_all_models()


def lead_days(session: Session, kind: str) -> int:
    """Days ahead of the due date at which ``kind`` is raised (the tenant's, else the default)."""
    row = session.get(ReminderSetting, kind)
    if row is not None:
        return row.lead_days
    registered = _sources.get(kind)
    return registered.default_lead_days if registered else DEFAULT_LEAD_DAYS


def settings(session: Session) -> list[dict[str, object]]:
    """Every registered kind with its lead time and whether the tenant set it."""
    stored = {row.kind: row for row in session.scalars(select(ReminderSetting))}
    return [
        {"kind": kind, "lead_days": lead_days(session, kind), "customised": kind in stored}
        for kind in kinds()
    ]


def set_lead_days(session: Session, changes: list[dict[str, object]]) -> None:
    """Set the lead time of the kinds named; an unknown kind names its position."""
    known = set(kinds())
    for index, change in enumerate(changes):
        if change["kind"] not in known:
            raise InvalidInput(
                f"unknown reminder kind {change['kind']!r}",
                fields={f"settings.{index}.kind": [f"one of {', '.join(sorted(known))}"]},
            )
    for change in changes:
        kind = str(change["kind"])
        days = int(str(change["lead_days"]))
        row = session.get(ReminderSetting, kind)
        if row is None:
            session.add(ReminderSetting(kind=kind, lead_days=days))
        elif row.lead_days != days:
            row.lead_days = days
    session.flush()


def run(session: Session, today: date) -> list[Reminder]:
    """Create the reminders that fall due within each kind's lead time; return the new ones.

    Safe to repeat and to run concurrently: existing reminders are left as they are.
    """
    _load_features()
    created: list[Reminder] = []
    for kind in sorted(_sources):
        days = lead_days(session, kind)
        rows = [
            {
                "kind": kind,
                "subject_type": due.subject_type,
                "subject_id": due.subject_id,
                "due": due.due,
                "title": due.title[:TITLE_LENGTH],
                "created_at": utcnow(),
            }
            for due in _sources[kind].fn(session, today, days)
        ]
        if not rows:
            continue
        stmt = (
            insert(Reminder)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["kind", "subject_type", "subject_id", "due"])
            .returning(Reminder)
        )
        created.extend(session.scalars(stmt))
    return sorted(created, key=lambda r: (r.due, r.kind, r.subject_id))


def access_reminder(session: Session, reminder_id: int) -> Reminder:
    """A reminder of the session's tenant."""
    reminder = session.get(Reminder, reminder_id)
    if reminder is None:
        raise NotFound("reminder not found")
    return reminder


def acknowledge(session: Session, reminder: Reminder) -> Reminder:
    """Mark a reminder seen and handled; acknowledging again changes nothing."""
    if reminder.acknowledged_at is None:
        reminder.acknowledged_at = utcnow()
        reminder.acknowledged_by = current_actor.get().name
        session.flush()
    return reminder
