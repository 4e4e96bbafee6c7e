"""A CJ/T 188 bus on a TCP port: water, gas and heat meters behind a serial server.

One port is one RS-485 bus: every meter hears every request and only the
addressed one answers, in the DI byte order the request used. A request for
another meter type (neither AA nor the meter's) goes unanswered, as on a real
bus; read address (DI 810A) is answered only when one meter is on the bus,
because several would talk at once. Quantities are keyed by the codec's
field names (``current_volume``, ``current_heat``...), in the unit their
code says (m3; kWh, kW, m3/h for heat meters unless ``units`` says otherwise).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from ems_edge.codecs import CHINA_STANDARD_TIME, cjt188
from ems_edge.errors import CodecError
from ems_edge.simulators.model import FaultMode, SimMeter, SimQuantity

#: Water carries 1.163 kWh per m3 and kelvin: links a heat meter's flow to its power.
WATER_KWH_PER_M3_K = 1.163
#: Replies start with wake-up bytes, as many meters send them.
REPLY_PREAMBLE = 2
_MAX_BUFFER = 1024


def _default_type(meter: SimMeter) -> int:
    return 0x20 if "current_heat" in meter.quantities else 0x10


class Cjt188Server:
    """The simulated bus; ``types`` and ``units`` are keyed by meter address and may be changed."""

    def __init__(
        self,
        meters: Iterable[SimMeter],
        host: str,
        port: int,
        types: dict[str, int] | None = None,
        units: dict[str, dict[str, int]] | None = None,
    ) -> None:
        self.meters = list(meters)
        self.types = {m.address: _default_type(m) for m in self.meters} | (types or {})
        self.units = dict(units or {})
        self._listener = socket.create_server((host, port))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, name="cjt188-sim", daemon=True)
        self._acceptor.start()

    def close(self) -> None:
        """Stop listening, hang up on every client and wait for the threads."""
        with self._lock:
            self._closed = True
            connections = list(self._connections)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(timeout=5)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> Cjt188Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    connection.close()
                    return
                self._connections.add(connection)
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        buffer = b""
        try:
            while chunk := connection.recv(4096):
                buffer = self._handle(connection, buffer + chunk)
        except OSError:
            pass  # the client hung up or close() shut the socket
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def _handle(self, connection: socket.socket, buffer: bytes) -> bytes:
        """Answer every whole request in ``buffer``; return what is left of it."""
        while buffer:
            try:
                consumed, frame = cjt188.decode(buffer)
            except CodecError as exc:
                buffer = buffer[max(1, getattr(exc, "consumed", 1)) :]
                continue
            buffer = buffer[consumed:]
            if frame is None:
                break
            answer = self.answer(frame)
            if answer is not None:
                connection.sendall(answer)
        return buffer[-_MAX_BUFFER:]

    def answer(self, frame: cjt188.Frame) -> bytes | None:
        """The bytes the bus sends back for one request frame (None: silence)."""
        meter = self._addressed(frame)
        if meter is None or meter.fault == FaultMode.SILENCE:
            return None
        meter_type = self.types.get(meter.address, 0x10)
        if frame.meter_type not in (cjt188.WILDCARD_TYPE, meter_type):
            return None
        try:
            request = cjt188.parse_request(frame)
        except CodecError:
            return None
        reply = self._reply(meter, meter_type, frame.function, request)
        wire = bytearray(cjt188.encode(reply, REPLY_PREAMBLE))
        if meter.fault == FaultMode.BAD_CHECKSUM:
            wire[-2] ^= 0xFF
        return bytes(wire)

    def _addressed(self, frame: cjt188.Frame) -> SimMeter | None:
        if frame.is_reply:
            return None
        meters = self.meters
        if frame.function == cjt188.READ_ADDRESS and len(meters) != 1:
            return None
        if frame.address == cjt188.WILDCARD_ADDRESS:
            return meters[0] if len(meters) == 1 else None
        return next((m for m in meters if m.address == frame.address), None)

    def _reply(
        self, meter: SimMeter, meter_type: int, function: int, request: cjt188.Request
    ) -> cjt188.Frame:
        address, ser = meter.address, request.ser
        error = cjt188.reply_error(meter_type, address, ser, function=function)
        if meter.fault == FaultMode.ERROR_REPLY:
            return error
        if function == cjt188.READ_ADDRESS and request.di == cjt188.DI_READ_ADDRESS:
            return cjt188.reply_address(meter_type, address, ser, request.di_order)
        if function != cjt188.READ_DATA or request.di != cjt188.DI_READ_DATA:
            return error
        heat = meter_type >> 4 == 2
        now = time.time()
        try:
            fields = cjt188.HEAT_FIELDS if heat else cjt188.WATER_GAS_FIELDS
            values = {name: max(0.0, meter.read(name, now)) for name in fields}
            encoder = cjt188.reply_heat if heat else cjt188.reply_water_gas
            return encoder(
                meter_type,
                address,
                ser,
                values,
                clock=datetime.fromtimestamp(now, CHINA_STANDARD_TIME),
                units=self.units.get(address),
                di_order=request.di_order,
            )
        except (KeyError, CodecError):
            return error  # a quantity the meter lacks or cannot display


def serve_cjt188(
    meters: Iterable[SimMeter],
    host: str = "127.0.0.1",
    port: int = 0,
    types: dict[str, int] | None = None,
    units: dict[str, dict[str, int]] | None = None,
) -> Cjt188Server:
    """Serve ``meters`` on one TCP port in background threads; ``close()`` it when done.

    ``types`` maps an address to its meter type (default 20 for a meter with
    heat quantities, else 10, cold water); ``units`` maps an address to unit
    codes per field, to simulate meters that report in other units.
    """
    return Cjt188Server(meters, host, port, types, units)


def cjt188_meter(address: str, meter_type: int, seed: int = 0) -> SimMeter:
    """A plausible meter of ``meter_type``: water 1-20 m3/h, gas 10-200 m3/h, heat 0.1-2 GJ/h."""
    rng = random.Random(seed or int(address))  # noqa: S311 - simulated readings, not secrets
    if meter_type >> 4 == 2:
        return SimMeter(address, _heat_quantities(rng), seed=seed)
    rate = rng.uniform(10, 200) if meter_type >> 4 == 3 else rng.uniform(1, 20)
    start = rng.uniform(100, 50_000)
    quantities = {
        "current_volume": SimQuantity(cumulative=True, rate=rate, value=start),
        # the register frozen on the last settlement day
        "settlement_volume": SimQuantity(cumulative=False, rate=start, noise=0.0),
    }
    return SimMeter(address, quantities, seed=seed)


def _heat_quantities(rng: random.Random) -> dict[str, SimQuantity]:
    power_kw = rng.uniform(0.1, 2.0) * 1e9 / 3.6e6  # GJ/h in kW
    supply, return_ = 60.0, 45.0
    flow = power_kw / (WATER_KWH_PER_M3_K * (supply - return_))
    heat, volume = rng.uniform(1_000, 500_000), rng.uniform(100, 50_000)
    return {
        "settlement_heat": SimQuantity(cumulative=False, rate=heat, noise=0.0),
        "current_heat": SimQuantity(cumulative=True, rate=power_kw, value=heat),
        "thermal_power": SimQuantity(cumulative=False, rate=power_kw, noise=0.02),
        "flow": SimQuantity(cumulative=False, rate=flow, noise=0.02),
        "cumulative_volume": SimQuantity(cumulative=True, rate=flow, value=volume),
        "supply_temperature": SimQuantity(cumulative=False, rate=supply, noise=0.005),
        "return_temperature": SimQuantity(cumulative=False, rate=return_, noise=0.005),
        # counts with the load profile, close enough to one hour per hour for a simulation
        "working_hours": SimQuantity(cumulative=True, rate=1.0, value=rng.uniform(0, 40_000)),
    }
