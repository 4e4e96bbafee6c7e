"""Reminders of things falling due (calibrations, certificates): sources registered by
features, a daily job creating each reminder once, a pluggable notifier.

The stable interface for features: ``register_source(kind, fn)``, ``Due`` and
``run(session, today)`` (see :mod:`ems.reminders.services`).
"""

from ems.reminders.services import Due, register_source, run

__all__ = ["Due", "register_source", "run"]
