"""Polling: one thread and one lock per bus, readings into the buffer, faults into events.

Each point is read on a clock-aligned schedule (a 60 s point at :00 of every
minute), never slower than the floor checked at configuration load. Points of
one meter due at the same tick are read in one go. On a serial bus the lock
makes sure only one exchange is on the line at a time, whoever asks (the
schedule, an on-demand collection from the cloud, a time-sync broadcast).

Faults (construction code 4.3.7(6), 4.5.12(3)) are told apart: the meter
answered wrongly (meter fault) or could not be reached (communication fault).
The first fault of a point is an event and a loud log line; while it lasts,
further failures are logged quietly; recovery is an event again. A point that
could not be read at its tick is counted as a gap in the completeness ledger:
a flagged gap, not a loss.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ems_edge.buffer import Buffer, NewReading
from ems_edge.drivers import Driver, driver_kind
from ems_edge.errors import BufferFullError
from ems_edge.model import BusSpec, Fault, FaultKind, MeterSpec, PointKind, PointResult, PointSpec

log = logging.getLogger(__name__)

#: Called with (event kind, bus, meter, point or None, reason).
EventSink = Callable[[str, str, str, str | None, str], None]


def plausibility_fault(point: PointSpec, value: float) -> Fault | None:
    """A meter fault for values no healthy meter gives (NaN, infinity, negative counters)."""
    if math.isnan(value) or math.isinf(value):
        return Fault(FaultKind.METER, f"impossible value {value}")
    if point.kind is PointKind.CUMULATIVE and value < 0:
        return Fault(FaultKind.METER, f"negative counter value {value:g}")
    return None


@dataclass
class BusState:
    """What ``ems-edge status`` shows for one bus."""

    last_poll_at: float | None = None
    last_ok_at: float | None = None
    polls: int = 0
    readings: int = 0
    faulty_points: dict[str, str] = field(default_factory=dict)
    first_error_logged: bool = False


class BusPoller:
    """Polls the meters of one bus on their schedules and on demand."""

    def __init__(
        self,
        bus: BusSpec,
        buffer: Buffer,
        events: EventSink,
        clock: Callable[[], float],
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self.bus = bus
        self.buffer = buffer
        self.events = events
        self.clock = clock
        self.on_stored = on_stored
        self.lock = threading.Lock()
        self.state = BusState()
        self.driver: Driver = driver_kind(bus.kind).open(bus)
        self._faults: dict[str, Fault] = {}
        self._stop = threading.Event()
        self._now = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bus-{bus.name}", daemon=True)

    def start(self) -> None:
        """Start the polling thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the exchange in progress and close the driver."""
        self._stop.set()
        self._now.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.driver.close()

    def collect_now(self) -> None:
        """Read every point of the bus at once (on-demand collection, 4.3.3(5))."""
        self._now.set()

    def _run(self) -> None:
        due: dict[str, float] = {}
        while not self._stop.is_set():
            now = self.clock()
            forced = self._now.is_set()
            self._now.clear()
            for meter in self.bus.meters:
                points = [p for p in meter.points if forced or now >= due.get(p.id, 0)]
                if points:
                    self.poll_meter(meter, points, now)
                for point in points:
                    due[point.id] = (now // point.interval + 1) * point.interval
                if self._stop.is_set():
                    return
            next_due = min(due.values(), default=now + 1)
            self._now.wait(max(0.0, min(next_due - self.clock(), 5.0)))

    def poll_meter(self, meter: MeterSpec, points: Sequence[PointSpec], at: float) -> int:
        """Read ``points`` of ``meter`` now, store the values; returns how many were stored."""
        with self.lock:
            try:
                results = self.driver.poll(meter, points)
            except Exception as exc:  # a driver bug must not stop the bus; it is reported
                log.exception("driver %s failed on meter %s", self.bus.kind, meter.id)
                results = [
                    PointResult(p, None, Fault(FaultKind.COMMUNICATION, f"driver error: {exc}"))
                    for p in points
                ]
        ts_ms = int(at * 1000)
        readings: list[NewReading] = []
        gaps: list[tuple[str, int]] = []
        for result in results:
            fault = result.fault
            if result.value is not None:
                fault = plausibility_fault(result.point, result.value)
            if fault is None and result.value is not None:
                readings.append((result.point.id, ts_ms, result.value))
                self._recovered(meter, result.point)
            else:
                gaps.append((result.point.id, ts_ms))
                self._faulty(meter, result.point, fault or Fault(FaultKind.METER, "no value"))
        self._store(readings, gaps)
        self.state.polls += 1
        self.state.last_poll_at = at
        if readings:
            self.state.last_ok_at = at
            self.state.readings += len(readings)
        return len(readings)

    def _store(self, readings: list[NewReading], gaps: list[tuple[str, int]]) -> None:
        try:
            self.buffer.append(readings, gaps)
        except BufferFullError as exc:
            self.events("buffer_full", self.bus.name, "", None, str(exc))
            log.error("%s", exc)
            return
        self.on_stored()

    def _faulty(self, meter: MeterSpec, point: PointSpec, fault: Fault) -> None:
        previous = self._faults.get(point.id)
        self._faults[point.id] = fault
        self.state.faulty_points[point.id] = f"{fault.kind}: {fault.reason}"
        if previous == fault:
            log.debug("bus %s point %s still faulty: %s", self.bus.name, point.id, fault.reason)
            return
        self.events(f"{fault.kind}_fault", self.bus.name, meter.id, point.id, fault.reason)
        # A failing bus logs its first error loudly, then quietly until it has recovered:
        # a dead RS-485 line must not bury every other log line for hours.
        level = logging.DEBUG if self.state.first_error_logged else logging.ERROR
        self.state.first_error_logged = True
        log.log(
            level,
            "bus %s meter %s point %s: %s fault: %s",
            self.bus.name,
            meter.id,
            point.id,
            fault.kind,
            fault.reason,
        )

    def _recovered(self, meter: MeterSpec, point: PointSpec) -> None:
        if self._faults.pop(point.id, None) is None:
            return
        self.state.faulty_points.pop(point.id, None)
        self.events("recovered", self.bus.name, meter.id, point.id, "reading again")
        if not self._faults:
            self.state.first_error_logged = False
            log.warning("bus %s recovered: every point reads again", self.bus.name)
