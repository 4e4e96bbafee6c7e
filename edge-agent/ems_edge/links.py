"""Byte links to meters: a serial port or a serial server's TCP socket.

DL/T 645 and CJ/T 188 meters hang on RS-485 buses. The gateway reaches them
either through its own serial port (pyserial) or through a serial server
that forwards the bus over TCP, byte for byte. Both look the same to a codec:
write a request, read bytes until the decoder has a whole frame or time runs
out. A :class:`Link` does one exchange at a time; the caller holds the bus's
lock and respects the inter-frame delay (see :class:`ems_edge.poller`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from ems_edge.configfile import Section
from ems_edge.errors import EdgeAgentError

if TYPE_CHECKING:
    import serial

F = TypeVar("F")

#: ``decode(buffer) -> (consumed, frame or None)``: the shape of every codec's decoder.
Decoder = Callable[[bytes], tuple[int, F | None]]


class LinkError(EdgeAgentError):
    """The line to the meter failed: no answer in time, connection refused or dropped."""


class Link(Protocol):
    """One byte stream to the meters of a bus."""

    def send(self, data: bytes) -> None:
        """Write ``data`` (a broadcast needs no answer)."""

    def exchange(self, request: bytes, decode: Decoder[F], timeout: float) -> F:
        """Write ``request`` and return the first whole frame ``decode`` finds in the answer."""

    def close(self) -> None:
        """Close the line; the next exchange reopens it."""


@dataclass
class TcpLink:
    """A serial server (transparent RS-485 to TCP): the same frames on a TCP stream."""

    host: str
    port: int
    connect_timeout: float = 3.0

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            try:
                self._sock = socket.create_connection(
                    (self.host, self.port), timeout=self.connect_timeout
                )
            except OSError as exc:
                raise LinkError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._sock

    def send(self, data: bytes) -> None:
        """Write ``data``; a dropped connection is closed so the next call reconnects."""
        try:
            self._socket().sendall(data)
        except OSError as exc:
            self.close()
            raise LinkError(f"{self.host}:{self.port}: write failed: {exc}") from exc

    def exchange(self, request: bytes, decode: Decoder[F], timeout: float) -> F:
        """Write ``request``, then read until ``decode`` yields a frame or ``timeout`` passes."""
        sock = self._socket()
        self._drain(sock)
        self.send(request)
        deadline = time.monotonic() + timeout
        buffer = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError(f"{self.host}:{self.port}: no complete answer in {timeout:g} s")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError as exc:
                self.close()
                raise LinkError(f"{self.host}:{self.port}: read failed: {exc}") from exc
            if not chunk:
                self.close()
                raise LinkError(f"{self.host}:{self.port}: connection closed by the serial server")
            buffer += chunk
            consumed, frame = decode(buffer)
            if frame is not None:
                return frame
            buffer = buffer[consumed:]

    def _drain(self, sock: socket.socket) -> None:
        """Drop stale bytes (a late answer to an earlier request) before a new exchange."""
        sock.setblocking(False)
        try:
            while sock.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.close()
        finally:
            if self._sock is not None:
                sock.setblocking(True)

    def close(self) -> None:
        """Close the socket; the next exchange reconnects."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@dataclass
class SerialLink:
    """A local RS-485 port (pyserial); 2400 8E1 is the DL/T 645 default."""

    device: str
    baudrate: int = 2400
    bytesize: int = 8
    parity: str = "E"
    stopbits: int = 1

    def __post_init__(self) -> None:
        self._port: serial.Serial | None = None

    def _serial(self) -> serial.Serial:
        if self._port is None:
            import serial

            try:
                self._port = serial.Serial(
                    self.device,
                    self.baudrate,
                    bytesize=self.bytesize,
                    parity=self.parity,
                    stopbits=self.stopbits,
                    timeout=0.05,
                )
            except (serial.SerialException, ValueError) as exc:
                raise LinkError(f"cannot open {self.device}: {exc}") from exc
        return self._port

    def send(self, data: bytes) -> None:
        """Write ``data`` and wait until it has left the UART."""
        port = self._serial()
        try:
            port.write(data)
            port.flush()
        except OSError as exc:
            self.close()
            raise LinkError(f"{self.device}: write failed: {exc}") from exc

    def exchange(self, request: bytes, decode: Decoder[F], timeout: float) -> F:
        """Write ``request``, then read until ``decode`` yields a frame or ``timeout`` passes."""
        port = self._serial()
        port.reset_input_buffer()
        self.send(request)
        deadline = time.monotonic() + timeout
        buffer = b""
        while time.monotonic() < deadline:
            try:
                chunk = port.read(256)
            except OSError as exc:
                self.close()
                raise LinkError(f"{self.device}: read failed: {exc}") from exc
            if chunk:
                buffer += chunk
                consumed, frame = decode(buffer)
                if frame is not None:
                    return frame
                buffer = buffer[consumed:]
        raise LinkError(f"{self.device}: no complete answer in {timeout:g} s")

    def close(self) -> None:
        """Close the port; the next exchange reopens it."""
        if self._port is not None:
            self._port.close()
            self._port = None


# -- configuration of a line, shared by the DL/T 645 and CJ/T 188 buses ----------------------

BAUD_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


@dataclass(frozen=True, slots=True)
class TcpLinkOptions:
    """A serial server forwarding the RS-485 bus byte for byte."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class SerialLinkOptions:
    """The gateway's own RS-485 port and its line settings (2400 bit/s 8E1 by default)."""

    device: str
    baudrate: int
    parity: str
    bytesize: int
    stopbits: int


LinkOptions = TcpLinkOptions | SerialLinkOptions


def parse_tcp_link(section: Section) -> TcpLinkOptions:
    """``host`` and ``port`` of a serial server."""
    return TcpLinkOptions(section.string("host"), section.integer("port", low=1, high=65535))


def parse_serial_link(section: Section) -> SerialLinkOptions:
    """``device`` and the line settings of a local port."""
    options = SerialLinkOptions(
        device=section.string("device"),
        baudrate=section.integer("baudrate", 2400),
        parity=section.choice("parity", ["E", "N", "O"], "E"),
        bytesize=section.integer("bytesize", 8, low=7, high=8),
        stopbits=section.integer("stopbits", 1, low=1, high=2),
    )
    if options.baudrate not in BAUD_RATES:
        rates = ", ".join(map(str, BAUD_RATES))
        raise section.where("baudrate").error(f"{options.baudrate} is not one of {rates}")
    return options


def link_endpoint(options: LinkOptions) -> str:
    """``tcp:host:port`` or ``serial:/dev/...``: the physical line, so two buses cannot share it."""
    if isinstance(options, TcpLinkOptions):
        return f"tcp:{options.host}:{options.port}"
    return f"serial:{options.device}"


def open_link(options: LinkOptions, timeout: float) -> TcpLink | SerialLink:
    """The link the options describe (not yet connected: the first exchange connects)."""
    if isinstance(options, TcpLinkOptions):
        return TcpLink(options.host, options.port, connect_timeout=max(1.0, timeout))
    o = options
    return SerialLink(o.device, o.baudrate, o.bytesize, o.parity, o.stopbits)
