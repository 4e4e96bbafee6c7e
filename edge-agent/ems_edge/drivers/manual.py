"""Manual points: values people read off a meter and enter (construction code 4.3.5(3)).

A manual bus has no line to poll. Its points receive values through the
agent's local interface (``POST /manual`` on the status port) or, later, from
the cloud; they still get sequence numbers, the buffer and the ledger like
every other reading. ``interval`` on a manual point states how often an entry
is expected and is not held to the automatic-collection floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ems_edge.configfile import Section
from ems_edge.drivers.base import Driver, DriverKind
from ems_edge.model import FaultKind, MeterSpec, PointResult, PointSpec, all_faulty


class ManualDriver(Driver):
    """Never polled; asked anyway (collect now), it says the values come from people."""

    def poll(self, meter: MeterSpec, points: Sequence[PointSpec]) -> list[PointResult]:
        """No automatic reading is possible for manual points."""
        return all_faulty(points, FaultKind.COMMUNICATION, "manual point: enter the value")


def _no_keys(section: Section, *_: Any) -> None:
    del section


_meters = iter(range(1, 1 << 62))


MANUAL = DriverKind(
    name="manual",
    parse_bus=_no_keys,
    # Manual meters have no address; each gets a distinct key so none can collide.
    parse_meter=lambda section, bus: next(_meters),
    parse_point=_no_keys,
    meter_address=str,
    open=ManualDriver,
    exclusive=False,
    scheduled=False,
)
