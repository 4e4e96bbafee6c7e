"""Reading another system's OPC UA server (construction code 4.3.5(2)).

Where a plant's SCADA or a building-management system already collects the
meters, the gateway reads the values it publishes as OPC UA variables
(IEC 62541 Part 4, Read service with attribute Value) instead of polling the
meters a second time.

Configuration (bus kind ``opcua``)::

    buses:
      - name: scada
        kind: opcua
        endpoint: opc.tcp://10.0.0.7:4840/scada   # port 4840 when left out
        security: none                           # the only mode supported yet
        username: reader                         # optional, with password
        password: secret
        timeout: 2s                              # generic bus key: per request
        meters:
          - id: M1
            points:
              - {id: M1.kwh, node: "ns=2;s=Meter1.Energy", multiplier: 0.1, ...}

A meter on an OPC UA bus is a grouping of points, read together in one Read
request; it has no address of its own (its identity is its place in the
file). Each point names a variable by its NodeId (``ns=2;i=2``,
``ns=2;s=Meter1.Energy``, ``ns=2;g=<guid>``); a node read by two points of one
bus is refused, since the energy would be counted twice.

A variable whose status is not Good (Bad or Uncertain) is a meter fault
naming the status; a variable that holds no number is a meter fault too. A
refused or lost connection, a timeout or a failed session is a communication
fault; the next poll connects again.

The poller is thread-based, so the driver uses asyncua's synchronous wrapper
on an event loop thread of its own (one per bus), stopped in :meth:`close`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from asyncua import ua
from asyncua.sync import Client, ThreadLoop
from asyncua.ua.uaerrors import UaError, UaStatusCodeError, UaStringParsingError

from ems_edge.configfile import Section
from ems_edge.drivers.base import Driver, DriverKind
from ems_edge.model import BusSpec, Fault, FaultKind, MeterSpec, PointResult, PointSpec

DEFAULT_PORT = 4840


class _DropReconnectNoise(logging.Filter):
    """Drops asyncua's warnings that come with every lost and every new connection.

    A lost connection is already one communication fault (logged by the
    poller); closing its session then warns twice more, and the reconnection
    warns that the server shortened the session timeout we asked for. Left in,
    they would bury the fault under three lines per failure.
    """

    NOISE = ("was called but connection is closed", "Requested session timeout to be")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(noise in message for noise in self.NOISE)


_QUIET = _DropReconnectNoise()
for _name in (
    "asyncua.client.client",
    "asyncua.client.ua_client.UaClient",
    "asyncua.client.ua_session.UaSession",
):
    logging.getLogger(_name).addFilter(_QUIET)


@dataclass(frozen=True, slots=True)
class OpcUaBus:
    """The server's endpoint URL and the optional user to log in as."""

    endpoint: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: node -> where it was first configured; fills while the file is read.
    claimed: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OpcUaMeter:
    """A group of points read in one request; its place in the file is its identity."""

    place: str


@dataclass(frozen=True, slots=True)
class OpcUaPoint:
    """The variable a point reads (a NodeId string) and the factor applied to its value."""

    node: str
    multiplier: float = 1.0


def _endpoint_url(section: Section) -> str:
    """The endpoint as ``opc.tcp://host:port/path``; credentials in it are refused."""
    text = section.string("endpoint")
    place = section.where("endpoint")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme != "opc.tcp" or not parts.hostname:
        raise place.error(f"{text!r} is not an endpoint such as opc.tcp://10.0.0.7:4840")
    if parts.username is not None or parts.password is not None:
        raise place.error("put the user in 'username' and 'password', not in the URL")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise place.error(f"{text!r} has an invalid port") from exc
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"opc.tcp://{host}:{port}{parts.path or '/'}"


def _parse_bus(section: Section) -> OpcUaBus:
    endpoint = _endpoint_url(section)
    security = section.string("security", "none")
    if security.lower() != "none":
        raise section.where("security").error(
            f"{security!r} is not supported yet: only 'none' (signed and encrypted "
            "channels need certificates)"
        )
    username = section.string("username", None)
    password = section.string("password", None)
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        present = "username" if password is None else "password"
        raise section.where(present).error(f"needs a {missing} too")
    return OpcUaBus(endpoint, username, password)


def _parse_meter(section: Section, bus: OpcUaBus) -> OpcUaMeter:
    del bus
    return OpcUaMeter(section.place.path)


def _parse_point(section: Section, bus: OpcUaBus, meter: OpcUaMeter) -> OpcUaPoint:
    del meter
    text = section.string("node").strip()
    place = section.where("node")
    try:
        node = ua.NodeId.from_string(text)
    except UaStringParsingError as exc:
        raise place.error(
            f"{text!r} is not a NodeId such as ns=2;i=2 or ns=2;s=Meter1.Energy"
        ) from exc
    if node.Identifier in ("", None):
        raise place.error(f"{text!r} has an empty identifier")
    canonical = node.to_string()
    if canonical in bus.claimed:
        raise place.error(f"node {canonical!r} is already read at {bus.claimed[canonical]}")
    bus.claimed[canonical] = f"{place.path} (line {place.line})"
    return OpcUaPoint(canonical, section.number("multiplier", 1.0))


def _meter_address(meter: OpcUaMeter) -> str:
    return meter.place


def _endpoint(bus: OpcUaBus) -> str:
    return "opcua:" + bus.endpoint


def _number(node: str, data: ua.DataValue) -> float | str:
    """The variable's value as a finite float, or the reason it is not one."""
    status = data.StatusCode
    if status is not None and not status.is_good():
        return f"OPC UA status {status.name} for node {node}"
    variant = data.Value
    raw = variant.Value if variant is not None else None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        kind = variant.VariantType.name if variant is not None else "nothing"
        return f"node {node} holds {kind}, not a number"
    if not math.isfinite(raw):
        return f"node {node} holds {raw}, not a finite number"
    return float(raw)


def _words(exc: Exception, timeout: float) -> str:
    """A short account of why a request failed."""
    if isinstance(exc, UaStatusCodeError):
        return f"server refused: {ua.status_codes.get_name_and_doc(exc.code)[0]}"
    if isinstance(exc, TimeoutError):
        return f"no answer in {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionError):
        return f"connection lost ({exc})"
    return str(exc) or type(exc).__name__


class OpcUaDriver(Driver):
    """One OPC UA session per bus, on an asyncio loop thread of its own."""

    def __init__(self, bus: BusSpec) -> None:
        super().__init__(bus)
        self.options: OpcUaBus = bus.options
        self._loop: ThreadLoop | None = None
        self._client: Client | None = None

    def poll(self, meter: MeterSpec, points: Sequence[PointSpec]) -> list[PointResult]:
        """One Read request for all of the meter's points."""
        del meter
        answer = self._read(points)
        for _retry in range(self.bus.retries):
            if not isinstance(answer, Fault):
                break
            answer = self._read(points)
        if isinstance(answer, Fault):
            return [PointResult(point, None, answer) for point in points]
        return [self._result(point, data) for point, data in zip(points, answer, strict=True)]

    @staticmethod
    def _result(point: PointSpec, data: ua.DataValue) -> PointResult:
        source: OpcUaPoint = point.source
        value = _number(source.node, data)
        if isinstance(value, str):
            return PointResult(point, None, Fault(FaultKind.METER, value))
        return PointResult(point, value * source.multiplier)

    def _read(self, points: Sequence[PointSpec]) -> list[ua.DataValue] | Fault:
        """The Value attribute of every point's node, or the communication fault."""
        self._pace()
        try:
            client = self._connected()
            nodes = [client.get_node(point.source.node) for point in points]
            answer: list[ua.DataValue] = client.read_attributes(nodes)
        except (OSError, TimeoutError, UaError) as exc:
            self._disconnect()
            return Fault(
                FaultKind.COMMUNICATION, f"{self.options.endpoint}: {_words(exc, self.bus.timeout)}"
            )
        finally:
            self._last_exchange = time.monotonic()
        if len(answer) != len(nodes):
            reason = f"{self.options.endpoint}: {len(answer)} values for {len(nodes)} nodes"
            return Fault(FaultKind.COMMUNICATION, reason)
        return answer

    def _connected(self) -> Client:
        if self._client is not None:
            return self._client
        if self._loop is None:
            # A safety net only: asyncua's own per-request timeout normally fires first
            # (a connection takes four requests: hello, channel, session, activation).
            self._loop = ThreadLoop(timeout=self.bus.timeout * 4 + 5)
            self._loop.start()
        client = Client(self.options.endpoint, timeout=self.bus.timeout, tloop=self._loop)
        if self.options.username is not None and self.options.password is not None:
            client.set_user(self.options.username)
            client.set_password(self.options.password)
        client.connect()
        self._client = client
        return client

    def _disconnect(self) -> None:
        """End the session, if any; the next read connects again."""
        client, self._client = self._client, None
        if client is None:
            return
        # A lost connection cannot be closed politely; the rest is released regardless.
        with contextlib.suppress(OSError, TimeoutError, UaError):
            client.disconnect()

    def close(self) -> None:
        """End the session and stop the loop thread (and the loop's resolver threads)."""
        self._disconnect()
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if loop.loop is not None:
            loop.post(loop.loop.shutdown_default_executor())
        loop.stop()


OPCUA = DriverKind(
    name="opcua",
    parse_bus=_parse_bus,
    parse_meter=_parse_meter,
    parse_point=_parse_point,
    meter_address=_meter_address,
    open=OpcUaDriver,
    exclusive=False,
    endpoint=_endpoint,
)
