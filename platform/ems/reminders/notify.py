"""Telling people about reminders: a small pluggable notifier.

E-mail and SMS gateways are outside the system; what the platform owns is the
bookkeeping: a reminder is *pending* until a notifier has taken it, then it
carries ``notified_at``. :func:`deliver` hands every pending reminder of the
tenant to the notifier in force and marks each one it accepted. A notifier that
cannot deliver one raises :class:`NotificationFailed`; that reminder stays
pending and the next daily run tries again. The default notifier only logs.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.context import TenantRef
from ems.db import utcnow
from ems.errors import EmsError
from ems.reminders.models import Reminder

log = logging.getLogger(__name__)


class NotificationFailed(EmsError):
    """A notifier could not deliver a reminder (its gateway refused or was unreachable)."""

    status = 502
    code = "notification_failed"


class Notifier(Protocol):
    """Delivers one reminder to the tenant's people; raises NotificationFailed if it cannot."""

    def notify(self, tenant: TenantRef | None, reminder: Reminder) -> None: ...


class LogNotifier:
    """The default: writes the reminder to the log (an operator's mail relay can tail it)."""

    def notify(self, tenant: TenantRef | None, reminder: Reminder) -> None:
        log.info(
            "reminder %s for tenant %s: %s (due %s)",
            reminder.kind,
            tenant.slug if tenant else "?",
            reminder.title,
            reminder.due.isoformat(),
        )


_notifier: Notifier = LogNotifier()


def set_notifier(notifier: Notifier) -> Notifier:
    """Install the process's notifier; returns the previous one (to restore it)."""
    global _notifier  # one notifier per process, set at start-up or in tests
    previous, _notifier = _notifier, notifier
    return previous


def current_notifier() -> Notifier:
    """The notifier in force."""
    return _notifier


def deliver(session: Session, tenant: TenantRef | None, notifier: Notifier | None = None) -> int:
    """Notify every pending, unacknowledged reminder; return how many were delivered.

    The rows are locked (``SKIP LOCKED``): two runs at once never notify one twice.
    The caller commits; a crash before the commit re-notifies (at least once).
    """
    notifier = notifier or _notifier
    pending = session.scalars(
        select(Reminder)
        .where(Reminder.notified_at.is_(None), Reminder.acknowledged_at.is_(None))
        .order_by(Reminder.due, Reminder.id)
        .with_for_update(skip_locked=True)
    ).all()
    delivered = 0
    for reminder in pending:
        try:
            notifier.notify(tenant, reminder)
        except NotificationFailed as exc:
            log.warning("reminder %s not delivered: %s", reminder.id, exc.message)
            continue
        reminder.notified_at = utcnow()
        delivered += 1
    session.flush()
    return delivered
