"""One place that imports every model module, so metadata is complete.

Alembic's environments and the test setup call :func:`load_all_models`; each
feature adds its ``models`` module here.
"""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "ems.audit.models",
    "ems.audit.services",  # registers the flush listeners that write the audit log
    "ems_tenants.models",
    "ems.sites.models",
    "ems.org.models",
    "ems.telemetry.models",
    "ems.telemetry.rollup_models",
    "ems.energy.models",
    "ems.actuals.models",
    "ems.meters.models",
    "ems.reminders.models",
    "ems.personnel.models",
    "ems.equipment.models",
    "ems.networks.models",
    "ems.upload.models",
    "ems.jobs.models",
)


def load_all_models() -> None:
    """Import every feature's models module (idempotent)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
