"""Meter drivers, found by the ``kind`` of a bus in the configuration.

Modules are imported only when a bus of their kind is configured, so a
gateway without an OPC UA server never needs asyncua, and one without an
existing database to pull from never needs SQLAlchemy.
"""

from __future__ import annotations

import importlib

from ems_edge.drivers.base import Driver, DriverKind
from ems_edge.errors import ConfigError

#: bus kind -> (module, attribute holding its DriverKind)
_KINDS: dict[str, tuple[str, str]] = {
    "modbus-tcp": ("ems_edge.drivers.modbus", "MODBUS_TCP"),
    "modbus-rtu": ("ems_edge.drivers.modbus", "MODBUS_RTU"),
    "dlt645-tcp": ("ems_edge.drivers.dlt645", "DLT645_TCP"),
    "dlt645-serial": ("ems_edge.drivers.dlt645", "DLT645_SERIAL"),
    "cjt188-tcp": ("ems_edge.drivers.cjt188", "CJT188_TCP"),
    "cjt188-serial": ("ems_edge.drivers.cjt188", "CJT188_SERIAL"),
    "sql": ("ems_edge.drivers.sql", "SQL"),
    "opcua": ("ems_edge.drivers.opcua", "OPCUA"),
    "manual": ("ems_edge.drivers.manual", "MANUAL"),
}

BUS_KINDS = tuple(_KINDS)


def driver_kind(name: str) -> DriverKind:
    """The :class:`DriverKind` of bus kind ``name``; an optional extra not installed is named."""
    module_name, attribute = _KINDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        extra = {"sql": "sql", "opcua": "opcua"}.get(name)
        hint = f" (pip install 'ems-edge-agent[{extra}]')" if extra else ""
        raise ConfigError(f"bus kind {name!r} needs {exc.name}, not installed{hint}") from exc
    kind = getattr(module, attribute)
    if not isinstance(kind, DriverKind):
        raise TypeError(f"{module_name}.{attribute} is not a DriverKind")
    return kind


__all__ = ["BUS_KINDS", "Driver", "DriverKind", "driver_kind"]
