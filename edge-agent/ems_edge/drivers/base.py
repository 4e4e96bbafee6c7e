"""The one small interface every meter driver implements.

A driver owns one bus (a serial port, a serial server's TCP socket, a Modbus
TCP connection, a database URL...). The poller calls :meth:`Driver.poll` for
one meter at a time, under the bus's lock, and gets one :class:`PointResult`
per point: a value, or a fault saying whether the meter or the line is to
blame. Drivers never raise for a meter that misbehaves; they raise
:class:`~ems_edge.errors.EdgeAgentError` subclasses only for programming or
configuration errors.

Each driver module exposes a :class:`DriverKind`: how to parse its part of the
configuration (bus, meter and point settings, with errors naming the line)
and how to open it. :mod:`ems_edge.drivers` maps kind names to modules so that
optional dependencies (SQLAlchemy, asyncua) load only when configured.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ems_edge.configfile import Section
from ems_edge.model import BusSpec, MeterSpec, PointResult, PointSpec


class Driver(abc.ABC):
    """Reads points from the meters of one bus."""

    def __init__(self, bus: BusSpec) -> None:
        self.bus = bus
        #: When the last exchange on the line ended; drivers set it in a ``finally``.
        self._last_exchange = -math.inf

    def _pace(self) -> None:
        """Keep the line quiet for the bus's inter-frame delay since the last exchange ended."""
        wait = self._last_exchange + self.bus.inter_frame_delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    @abc.abstractmethod
    def poll(self, meter: MeterSpec, points: Sequence[PointSpec]) -> list[PointResult]:
        """One result per point of ``points`` (all belonging to ``meter``), in the same order."""

    def broadcast_time(self, when: datetime) -> bool:
        """Set the meters' clocks to ``when`` if the protocol can; True if a sync was sent."""
        del when
        return False

    def close(self) -> None:  # noqa: B027 - most drivers have nothing to release
        """Release the connection; the poller calls it once when the agent stops."""


@dataclass(frozen=True)
class DriverKind:
    """How one bus kind is configured and opened.

    ``parse_bus``, ``parse_meter`` and ``parse_point`` read the driver's own
    keys from a :class:`Section` (the generic keys such as ``name``, ``id``,
    ``energy_type`` or ``interval`` are read by :mod:`ems_edge.config` first)
    and return an options object stored in the spec. ``meter_address`` gives
    the key that must be unique among the meters of one bus.
    """

    name: str
    parse_bus: Callable[[Section], Any]
    parse_meter: Callable[[Section, Any], Any]
    parse_point: Callable[[Section, Any, Any], Any]
    meter_address: Callable[[Any], str]
    open: Callable[[BusSpec], Driver]
    #: A physical bus that only one exchange may use at a time (serial lines, serial servers).
    exclusive: bool = True
    #: The identity of the physical line (port or host:port) so two buses cannot share it.
    endpoint: Callable[[Any], str] | None = None
    #: Polled on a schedule. Manual points are entered by people, so neither polled nor
    #: held to the collection floor.
    scheduled: bool = True
    #: Pause between exchanges unless the bus says otherwise (RS-485 needs a silent gap).
    default_inter_frame_delay: float = 0.05
