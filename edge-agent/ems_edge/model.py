"""What the agent measures: points, meters, buses, and the results of a poll.

A *point* (测点) is one quantity of one meter: a cumulative counter such as
forward active energy, or an instantaneous value such as phase-A voltage.
Protocol-specific settings (a register map, a DL/T 645 data identifier, a
CJ/T 188 field) are opaque to everything but the driver that parsed them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class PointKind(enum.StrEnum):
    """Whether a point counts up (energy, volume) or is a value at an instant (power, voltage)."""

    CUMULATIVE = "cumulative"
    INSTANTANEOUS = "instantaneous"


class FaultKind(enum.StrEnum):
    """Who is at fault when a point has no value (construction code 4.3.7(6), 4.5.12(3))."""

    #: The meter answered, but with an error reply or an impossible value.
    METER = "meter"
    #: The meter could not be reached: timeout, bad checksum, garbled frame, bus down.
    COMMUNICATION = "communication"


@dataclass(frozen=True, slots=True)
class Fault:
    """Why a point has no value this time, in words a plant engineer can act on."""

    kind: FaultKind
    reason: str


@dataclass(frozen=True, slots=True)
class PointSpec:
    """One configured point.

    ``source`` is what the bus's driver parsed from the point's protocol
    settings (a register map, a data identifier...); only that driver reads it.
    """

    id: str
    meter_id: str
    energy_type: str
    kind: PointKind
    unit: str
    interval: float
    data_code: str | None
    source: Any


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """One meter on a bus; ``options`` is what the driver parsed (its address, variant...)."""

    id: str
    name: str
    options: Any
    points: tuple[PointSpec, ...]


@dataclass(frozen=True, slots=True)
class BusSpec:
    """One physical bus or connection, polled by one driver under one lock."""

    name: str
    kind: str
    options: Any
    meters: tuple[MeterSpec, ...]
    #: Pause between the end of one exchange and the start of the next on this bus.
    inter_frame_delay: float = 0.05
    #: How long to wait for a meter's answer before calling it a communication fault.
    timeout: float = 1.0
    retries: int = 1


@dataclass(frozen=True, slots=True)
class PointResult:
    """A point's value from one poll, or the fault that kept it from being read."""

    point: PointSpec
    value: float | None
    fault: Fault | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.fault is None):
            raise ValueError("a point result has a value or a fault, never both or neither")


def all_faulty(points: Sequence[PointSpec], kind: FaultKind, reason: str) -> list[PointResult]:
    """The same fault for every point, e.g. when the meter did not answer at all."""
    fault = Fault(kind, reason)
    return [PointResult(point, None, fault) for point in points]
