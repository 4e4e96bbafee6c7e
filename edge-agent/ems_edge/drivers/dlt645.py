"""DL/T 645 electricity meters on an RS-485 bus: a local serial port or a serial server over TCP.

Configuration (the driver's own keys; see :mod:`ems_edge.config` for the generic ones)::

    buses:
      - name: substation-1
        kind: dlt645-tcp            # dlt645-serial: device, baudrate (2400), parity (E),
        host: 192.168.10.20         #   bytesize (8), stopbits (1) instead of host and port
        port: 4001
        meters:
          - id: incomer-1
            address: "000012345678" # 12 digits, quoted so YAML keeps the leading zeros
            version: 2007           # or 1997
            preamble: 4             # FE wake-up bytes before each request, 0-4
            points:
              - id: incomer-1-ep
                energy_type: electricity
                kind: cumulative
                unit: kWh
                di: "00010000"      # 8 hex digits (2007) or 4 (1997), from dlt645_data.csv
                multiplier: 20      # CT x PT ratio, when the meter counts secondary values

Each point is one read-data exchange. A meter that does not answer one point is not asked
for the rest in the same poll; a garbled answer is retried ``bus.retries`` times; an error
reply or invalid BCD is the meter's fault and is not retried.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ems_edge.codecs import CHINA_STANDARD_TIME
from ems_edge.codecs.dlt645 import (
    BROADCAST_ADDRESS,
    DI_BYTES,
    VERSIONS,
    DataItem,
    Dlt645Error,
    Dlt645FrameError,
    Dlt645MeterError,
    Frame,
    broadcast_time,
    data_item,
    decode,
    encode,
    parse_read_reply,
    read_data,
)
from ems_edge.configfile import Section
from ems_edge.drivers.base import Driver, DriverKind
from ems_edge.links import (
    Decoder,
    Link,
    LinkError,
    link_endpoint,
    open_link,
    parse_serial_link,
    parse_tcp_link,
)
from ems_edge.model import (
    BusSpec,
    Fault,
    FaultKind,
    MeterSpec,
    PointResult,
    PointSpec,
    all_faulty,
)


@dataclass(frozen=True, slots=True)
class MeterOptions:
    """One meter: its 12-digit address, its edition of the standard, its wake-up preamble."""

    address: str
    version: int
    preamble: int


@dataclass(frozen=True, slots=True)
class PointSource:
    """What a point reads: one data identifier, scaled by the CT x PT ratio."""

    item: DataItem
    multiplier: float


def _code(section: Section, key: str, length: int, pattern: str, what: str) -> str:
    """A fixed-length code (address, DI) given as text, or as a number YAML read unquoted."""
    value = section.raw(key)
    text = str(value).strip().upper() if isinstance(value, str | int) else ""
    if isinstance(value, bool) or len(text) != length or not re.fullmatch(pattern, text):
        hint = ""
        if isinstance(value, int) and not isinstance(value, bool):
            hint = " (write it in quotes: unquoted digits are a number to YAML, leading zeros lost)"
        raise section.where(key).error(f"{value!r} is not {length} {what}{hint}")
    return text


def _parse_meter(section: Section, bus: object) -> MeterOptions:
    del bus  # every meter on a DL/T 645 bus is configured the same way
    address = _code(section, "address", 12, r"\d+", "decimal digits")
    if address == BROADCAST_ADDRESS:
        raise section.where("address").error("999999999999 is the broadcast address, not a meter")
    version = section.integer("version", 2007)
    if version not in VERSIONS:
        raise section.where("version").error(f"{version} is not 2007 or 1997")
    return MeterOptions(address, version, section.integer("preamble", 4, low=0, high=4))


def _parse_point(section: Section, bus: object, meter: MeterOptions) -> PointSource:
    del bus
    di = _code(section, "di", 2 * DI_BYTES[meter.version], r"[0-9A-F]+", "hex digits")
    try:
        item = data_item(di, meter.version)
    except Dlt645Error:
        raise section.where("di").error(
            f"DI {di} is not in the DL/T 645-{meter.version} table "
            "(ems_edge/codecs/dlt645_data.csv)"
        ) from None
    multiplier = section.number("multiplier", 1.0)
    if multiplier <= 0:
        raise section.where("multiplier").error(f"{multiplier:g} must be above 0")
    return PointSource(item, multiplier)


def _answers_from(address: str) -> Decoder[Frame]:
    """A decoder that passes over frames not from ``address`` (an echo of our request, a late
    answer of another meter) and keeps decoding the rest of the buffer."""

    def decode_answer(buffer: bytes) -> tuple[int, Frame | None]:
        offset = 0
        while True:
            consumed, frame = decode(buffer[offset:])
            offset += consumed
            if frame is None or (frame.is_reply and frame.address == address):
                return offset, frame

    return decode_answer


class Dlt645Driver(Driver):
    """Reads DL/T 645 meters one data identifier at a time over one link."""

    def __init__(self, bus: BusSpec, link: Link) -> None:
        super().__init__(bus)
        self.link = link

    def poll(self, meter: MeterSpec, points: Sequence[PointSpec]) -> list[PointResult]:
        """One result per point; a silent meter fails the points not yet asked at once."""
        options: MeterOptions = meter.options
        results: list[PointResult] = []
        for index, point in enumerate(points):
            try:
                value = self._read(options, point.source)
            except LinkError as exc:
                reason = f"DL/T 645 meter {options.address} did not answer: {exc}"
                return results + all_faulty(points[index:], FaultKind.COMMUNICATION, reason)
            except Dlt645FrameError as exc:
                reason = f"DL/T 645 meter {options.address}: garbled answer: {exc}"
                results.append(PointResult(point, None, Fault(FaultKind.COMMUNICATION, reason)))
            except Dlt645MeterError as exc:
                results.append(PointResult(point, None, Fault(FaultKind.METER, str(exc))))
            else:
                results.append(PointResult(point, value))
        return results

    def _read(self, meter: MeterOptions, source: PointSource) -> float:
        """The point's value; line faults are retried, the meter's own errors are not."""
        request = encode(read_data(meter.address, source.item.di, meter.version), meter.preamble)
        retries = self.bus.retries
        while True:
            try:
                reply = self._exchange(request, meter.address)
                return parse_read_reply(reply, source.item.di, meter.version) * source.multiplier
            except (LinkError, Dlt645FrameError):
                if retries == 0:
                    raise
                retries -= 1

    def _exchange(self, request: bytes, address: str) -> Frame:
        self._pace()
        try:
            return self.link.exchange(request, _answers_from(address), self.bus.timeout)
        finally:
            self._last_exchange = time.monotonic()

    def broadcast_time(self, when: datetime) -> bool:
        """Send ``when`` (aware) in Beijing time to every meter of the bus; no meter answers."""
        if when.tzinfo is None:
            raise ValueError("broadcast_time needs a time zone aware datetime")
        frame = broadcast_time(when.astimezone(CHINA_STANDARD_TIME))
        preamble = max((meter.options.preamble for meter in self.bus.meters), default=4)
        self._pace()
        try:
            self.link.send(encode(frame, preamble))
        except LinkError:
            return False
        finally:
            self._last_exchange = time.monotonic()
        return True

    def close(self) -> None:
        """Close the serial port or the serial server connection."""
        self.link.close()


def meter_address(options: MeterOptions) -> str:
    """The meter's 12-digit address, unique on its bus."""
    return options.address


def _open(bus: BusSpec) -> Dlt645Driver:
    return Dlt645Driver(bus, open_link(bus.options, bus.timeout))


DLT645_TCP = DriverKind(
    name="dlt645-tcp",
    parse_bus=parse_tcp_link,
    parse_meter=_parse_meter,
    parse_point=_parse_point,
    meter_address=meter_address,
    open=_open,
    endpoint=link_endpoint,
)

DLT645_SERIAL = DriverKind(
    name="dlt645-serial",
    parse_bus=parse_serial_link,
    parse_meter=_parse_meter,
    parse_point=_parse_point,
    meter_address=meter_address,
    open=_open,
    endpoint=link_endpoint,
)
