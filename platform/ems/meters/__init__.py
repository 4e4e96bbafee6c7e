"""Metering management (DB53/T 1026-2021 §4.3): the energy metering instrument ledger
(table A.1), JJF 1051 classification, state history, verification and calibration
records, links to points, meter replacements, and calibration reminders.

Importing the package registers the ``calibration_due`` reminder source and the
guards that keep a unit or site with meters from being deleted, so every process
that loads the models (API, worker, CLI) has them.
"""

from ems.meters import reminders as _reminders  # noqa: F401 - registers the source
from ems.meters import services as _services  # noqa: F401 - registers the delete guards
