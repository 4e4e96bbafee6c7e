"""A DL/T 645 RS-485 bus behind a serial server, simulated over TCP for tests and the demo.

One listening port is one bus: every connection sees the same meters, each answering
frames sent to its own address as a real meter would (2007 or 1997 edition per meter):
read data, read address (the wildcard only when it is alone on the bus), and broadcast
time, recorded in :attr:`Dlt645Server.last_time_sync` without an answer. Values outside
a register's BCD range wrap as the register would. Garbage and damaged frames are dropped
without an answer; the server never stops on bad bytes. ``meter.fault`` is honoured on
every frame addressed to the meter (see :class:`~ems_edge.simulators.model.FaultMode`).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType

from ems_edge.codecs import CHINA_STANDARD_TIME
from ems_edge.codecs.dlt645 import (
    BROADCAST_ADDRESS,
    BROADCAST_TIME,
    NO_SUCH_DATA,
    OTHER_ERROR,
    READ_ADDRESS,
    VERSIONS,
    WILDCARD_ADDRESS,
    Dlt645Error,
    Dlt645FrameError,
    Frame,
    data_item,
    decode,
    encode,
    parse_broadcast_time,
    parse_read_request,
    reply_address,
    reply_error,
    reply_read,
)
from ems_edge.simulators.model import FaultMode, SimMeter, SimQuantity


class Dlt645Server:
    """The meters of one simulated bus, served on one TCP port until :meth:`close`."""

    def __init__(
        self, meters: Iterable[SimMeter], host: str, port: int, versions: dict[str, int]
    ) -> None:
        self.meters = list(meters)
        self._by_address = {meter.address: meter for meter in self.meters}
        if len(self._by_address) != len(self.meters):
            raise ValueError("two simulated meters share an address")
        unknown = set(versions) - set(self._by_address)
        if unknown or not set(versions.values()) <= set(VERSIONS):
            raise ValueError(f"versions must map meter addresses to 2007 or 1997: {versions}")
        self.versions = {meter.address: versions.get(meter.address, 2007) for meter in self.meters}
        #: The time of the last broadcast-time frame received, in the meters' time zone.
        self.last_time_sync: datetime | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.05)  # so the accept loop notices close() promptly
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"dlt645-sim:{self.port}", daemon=True
        )
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(
                target=self._serve, args=(conn,), name=f"dlt645-sim:{self.port}:conn", daemon=True
            )
            with self._lock:
                self._connections[conn] = thread
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while chunk := conn.recv(4096):
                buffer = self._answer_all(conn, buffer + chunk)
        except OSError:
            pass  # the client went away or close() shut the connection
        finally:
            with self._lock:
                self._connections.pop(conn, None)
            conn.close()

    def _answer_all(self, conn: socket.socket, buffer: bytes) -> bytes:
        """Answer every whole frame in ``buffer``; what is left is the start of the next one."""
        while True:
            try:
                consumed, frame = decode(buffer)
            except Dlt645FrameError as exc:
                buffer = buffer[exc.consumed :]  # a real meter ignores a damaged frame
                continue
            buffer = buffer[consumed:]
            if frame is None:
                return buffer
            try:
                answer = self.respond(frame)
            except Dlt645Error:
                answer = None  # a request the simulated meter cannot answer: silence
            if answer is not None:
                conn.sendall(answer)

    def respond(self, frame: Frame) -> bytes | None:
        """The bytes the bus sends back for ``frame`` (None: every meter keeps quiet)."""
        if frame.is_reply:
            return None
        if frame.address == BROADCAST_ADDRESS:
            if frame.function == BROADCAST_TIME:
                self._record_time_sync(frame)
            return None
        meter = self._addressed(frame)
        if meter is None or meter.fault is FaultMode.SILENCE:
            return None
        reply = self._reply(meter, frame)
        if reply is None:
            return None
        wire = bytearray(encode(reply, preamble=4))
        if meter.fault is FaultMode.BAD_CHECKSUM:
            wire[-2] ^= 0xFF
        return bytes(wire)

    def _record_time_sync(self, frame: Frame) -> None:
        try:
            when = parse_broadcast_time(frame, CHINA_STANDARD_TIME)
        except Dlt645FrameError:
            return  # a meter ignores an impossible time
        with self._lock:
            self.last_time_sync = when

    def _addressed(self, frame: Frame) -> SimMeter | None:
        if frame.address == WILDCARD_ADDRESS:
            # Two meters answering a wildcard at once would collide on a real bus.
            alone = len(self.meters) == 1 and frame.control == READ_ADDRESS
            return self.meters[0] if alone else None
        return self._by_address.get(frame.address)

    def _reply(self, meter: SimMeter, frame: Frame) -> Frame | None:
        version = self.versions[meter.address]
        if frame.control == READ_ADDRESS:
            return reply_address(meter.address) if version == 2007 else None
        try:
            di, asked = parse_read_request(frame)
        except Dlt645FrameError:
            return None  # functions the simulator does not implement get no answer
        if asked != version:
            return None
        if meter.fault is FaultMode.ERROR_REPLY:
            return reply_error(meter.address, OTHER_ERROR[version], version)
        try:
            item = data_item(di, version)
        except Dlt645Error:
            item = None
        if item is None or di not in meter.quantities:
            return reply_error(meter.address, NO_SUCH_DATA[version], version)
        return reply_read(meter.address, di, item.wrap(meter.read(di)), version)

    def close(self) -> None:
        """Stop listening, drop every connection and wait for the server's threads."""
        self._closing.set()
        self._acceptor.join()
        self._listener.close()
        with self._lock:
            connections = dict(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                conn.shutdown(socket.SHUT_RDWR)
        for thread in connections.values():
            thread.join()

    def __enter__(self) -> Dlt645Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def serve_dlt645(
    meters: Iterable[SimMeter],
    host: str = "127.0.0.1",
    port: int = 0,
    versions: dict[str, int] | None = None,
) -> Dlt645Server:
    """Serve ``meters`` as one DL/T 645 bus; ``versions`` maps addresses to 1997 (default 2007)."""
    return Dlt645Server(meters, host, port, versions or {})


def _instant(nominal: float, noise: float) -> SimQuantity:
    return SimQuantity(cumulative=False, rate=nominal, noise=noise)


def _counter(rate: float, start: float) -> SimQuantity:
    return SimQuantity(cumulative=True, rate=rate, value=start)


def dlt645_meter(address: str, seed: int = 0, version: int = 2007) -> SimMeter:
    """A three-phase meter with plausible quantities keyed by DI.

    Energy counters grow 50-500 kWh an hour at full load (primary side). Instantaneous
    values are what the meter's terminals see behind a 100/5 A current transformer, so
    power and current points read them with ``multiplier: 20``, as on site.
    """
    rng = random.Random(seed)  # noqa: S311 - simulated load, not cryptography
    rate = rng.uniform(50, 500)
    start = rng.uniform(1_000, 50_000)
    power = rate * 0.65 / 20  # kW at the secondary side, at the daily mean load
    current = power * 1000 / (3 * 220 * 0.92)
    if version == 1997:
        quantities = {
            "9010": _counter(rate, start),
            "9020": _counter(rate * 0.01, start * 0.01),
            **{f"B61{phase}": _instant(220, 0.01) for phase in "123"},
            **{f"B62{phase}": _instant(current, 0.05) for phase in "123"},
            "B630": _instant(power, 0.05),
            "B650": _instant(0.92, 0.01),
        }
        return SimMeter(address, quantities, seed=seed)
    quantities = {
        "00000000": _counter(rate * 0.99, start * 0.99),
        "00010000": _counter(rate, start),
        **{f"0001{t:02d}00": _counter(rate / 4, start / 4) for t in range(1, 5)},
        "00020000": _counter(rate * 0.01, start * 0.01),
        "00030000": _counter(rate * 0.4, start * 0.4),
        "00040000": _counter(rate * 0.02, start * 0.02),
        **{f"0201{p:02d}00": _instant(220, 0.01) for p in range(1, 4)},
        **{f"0202{p:02d}00": _instant(current, 0.05) for p in range(1, 4)},
        "02030000": _instant(power, 0.05),
        **{f"0203{p:02d}00": _instant(power / 3, 0.05) for p in range(1, 4)},
        "02040000": _instant(power * 0.4, 0.05),
        "02050000": _instant(power / 0.92, 0.05),
        "02060000": _instant(0.92, 0.01),
        **{f"0206{p:02d}00": _instant(0.92, 0.01) for p in range(1, 4)},
        "02800002": _instant(50, 0.001),
        "02800004": _instant(power, 0.02),
        "02800007": _instant(35, 0.05),
    }
    return SimMeter(address, quantities, seed=seed)
