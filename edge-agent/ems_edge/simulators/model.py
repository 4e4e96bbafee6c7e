"""Simulated meters that behave like real ones, shared by every protocol simulator.

A :class:`SimMeter` holds quantities keyed by the protocol's own identifier
(a DL/T 645 DI such as ``"00010000"``, a CJ/T 188 field name, a Modbus
register name). Cumulative quantities grow with a daily load profile and wrap
at the meter's display limit (999999.99 kWh for a 4-byte BCD register), as a
real register does; instantaneous ones are a nominal value with noise.
Faults are switched on demand: the meter falls silent, answers with a bad
checksum, or answers with an error reply. Replacing the meter starts its
counters again from zero, as a new meter on site would.

Every answered read is counted in :attr:`SimMeter.served`, so end-to-end
tests compare what the meters gave out with what reached the database.
"""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


class FaultMode(enum.StrEnum):
    """What a simulated meter does wrong, switched on and off by tests and the demo."""

    NONE = "none"
    SILENCE = "silence"
    BAD_CHECKSUM = "bad_checksum"
    ERROR_REPLY = "error_reply"


def load_profile(hour_of_day: float) -> float:
    """A factory's daily shape: low at night, a morning ramp, a plateau, an evening fall (0.3-1)."""
    return 0.65 - 0.35 * math.cos(2 * math.pi * (hour_of_day - 3) / 24)


@dataclass
class SimQuantity:
    """One quantity of a simulated meter.

    Cumulative: ``rate`` is units per hour at full load; ``modulus`` is where
    the register wraps to zero. Instantaneous: ``rate`` is the nominal value
    and ``noise`` the relative standard deviation.
    """

    cumulative: bool
    rate: float
    noise: float = 0.01
    modulus: float = 1_000_000.0
    value: float = 0.0
    updated: float = field(default_factory=time.time)


@dataclass
class SimMeter:
    """A meter: its address, quantities, fault switch and a tally of answers given."""

    address: str
    quantities: dict[str, SimQuantity]
    fault: FaultMode = FaultMode.NONE
    seed: int = 0
    served: Counter[str] = field(default_factory=Counter)
    replacements: int = 0

    def __post_init__(self) -> None:
        # Noise for simulated readings, not secrets.
        self._random = random.Random(self.seed or hash(self.address))  # noqa: S311
        self._lock = threading.Lock()

    def read(self, key: str, now: float | None = None) -> float:
        """The value of ``key`` now (KeyError for a quantity the meter does not have)."""
        quantity = self.quantities[key]
        now = time.time() if now is None else now
        with self._lock:
            if quantity.cumulative:
                hours = max(0.0, now - quantity.updated) / 3600
                local_hour = ((now + 8 * 3600) % 86400) / 3600  # China Standard Time
                quantity.value = (
                    quantity.value + quantity.rate * load_profile(local_hour) * hours
                ) % quantity.modulus
                quantity.updated = now
                value = quantity.value
            else:
                value = quantity.rate * (1 + self._random.gauss(0, quantity.noise))
            self.served[key] += 1
            return value

    def set_counter(self, key: str, value: float) -> None:
        """Put a counter at ``value``, e.g. just below its modulus to provoke a rollover."""
        with self._lock:
            quantity = self.quantities[key]
            quantity.value = value % quantity.modulus
            quantity.updated = time.time()

    def replace(self) -> None:
        """A new meter in the same place: every counter starts again from zero."""
        with self._lock:
            for quantity in self.quantities.values():
                if quantity.cumulative:
                    quantity.value = 0.0
                    quantity.updated = time.time()
            self.replacements += 1
