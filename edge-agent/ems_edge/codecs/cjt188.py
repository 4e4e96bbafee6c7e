"""CJ/T 188-2004 frames: water, gas and heat meters (户用计量仪表数据传输技术条件).

Follows the standard's frame format (帧格式), its control codes and the read
metering data (DI 901F) and read address (DI 810A) exchanges. One frame::

    [FE ..] 68  T  A0 A1 A2 A3 A4 A5 A6  C  L  DATA[L]  CS  16
            |   |  address: 7 bytes BCD, |  |           |   end
            |   |  low byte first        |  length      sum mod 256 from 68
            |   meter type (10 water, 20 heat, 30 gas, AA any)  to the last DATA byte
            start                        control: D7 reply, D6 abnormal, D5-D0 function

Read data request DATA = DI0 DI1 SER (DI 901F sent ``1F 90`` in the
standard's example, ``90 1F`` by many devices: both are read, the sending
order is a setting). Replies to 901F, offsets into DATA::

    water/gas (L=22): 0 DI, 2 SER, 3 current volume 4+unit, 8 settlement-day volume 4+unit,
                      13 real time 7 (ss mm hh DD MM YY-low YY-high), 20 status 2
    heat (L=46):      0 DI, 2 SER, 3 settlement-day heat 4+unit, 8 current heat 4+unit,
                      13 thermal power 4+unit, 18 flow 4+unit, 23 cumulative volume 4+unit,
                      28 supply temperature 3, 31 return temperature 3, 34 working hours 3,
                      37 real time 7, 44 status 2

An abnormal reply (C = C1) carries SER and the two status bytes. Values are
BCD, low byte first, without the DL/T 645 +33h scrambling. Unit codes live in
``cjt188_units.csv`` (only 2C = m3 is verified; the rest come from secondary
sources and are easy to correct there).
"""

from __future__ import annotations

import csv
import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import ClassVar, Literal

from ems_edge.codecs import CHINA_STANDARD_TIME
from ems_edge.errors import CodecError

START = 0x68
END = 0x16
PREAMBLE_BYTE = 0xFE
#: 68 T A0..A6 C L: what precedes DATA.
HEADER_LENGTH = 11

WILDCARD_TYPE = 0xAA
WILDCARD_ADDRESS = "AAAAAAAAAAAAAA"

#: Control code bits and functions.
REPLY = 0x80
ABNORMAL = 0x40
FUNCTION_MASK = 0x3F
READ_DATA = 0x01
READ_ADDRESS = 0x03

DI_READ_DATA = 0x901F
DI_READ_ADDRESS = 0x810A
_KNOWN_DI = (DI_READ_DATA, DI_READ_ADDRESS)

DiOrder = Literal["standard", "swapped"]
DI_ORDERS: tuple[DiOrder, ...] = ("standard", "swapped")


# Status byte 1 (the first on the wire); bit positions from secondary sources (unverified).
VALVE_MASK = 0x03
BATTERY_LOW_BIT = 0x04
VALVE_STATES = {0b00: "open", 0b01: "closed", 0b10: "unknown (10)", 0b11: "abnormal"}

_ADDRESS = re.compile(r"[0-9A-F]{14}")


class Cjt188Error(CodecError):
    """A CJ/T 188 frame or value cannot be encoded as the standard requires."""


class Cjt188FrameError(Cjt188Error):
    """The line garbled the answer: bad checksum or end byte, or a reply to another request.

    ``consumed`` is how many bytes of the decoded buffer a stream reader
    should drop to look for the next frame.
    """

    def __init__(self, message: str, consumed: int = 0) -> None:
        super().__init__(message)
        self.consumed = consumed


class Cjt188MeterError(Cjt188Error):
    """The meter answered, but with an error reply or an impossible value (invalid BCD)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One CJ/T 188 frame; ``address`` is the 14 digits as printed, most significant first."""

    meter_type: int
    address: str
    control: int
    data: bytes = b""

    @property
    def function(self) -> int:
        """D5-D0 of the control code: 01 read data, 03 read address..."""
        return self.control & FUNCTION_MASK

    @property
    def is_reply(self) -> bool:
        """D7 of the control code: set in frames from the meter."""
        return bool(self.control & REPLY)


def checksum(data: bytes) -> int:
    """Sum mod 256 of ``data`` (from the 68 to the last DATA byte)."""
    return sum(data) & 0xFF


def address_bytes(address: str) -> bytes:
    """The 7 address bytes on the wire (low byte first) for 14 hex digits."""
    if not _ADDRESS.fullmatch(address):
        raise Cjt188Error(f"address {address!r} is not 14 digits (or AAAAAAAAAAAAAA)")
    return bytes.fromhex(address)[::-1]


def encode(frame: Frame, preamble: int = 0) -> bytes:
    """The bytes of ``frame``, after ``preamble`` wake-up bytes FE."""
    if not 0 <= frame.meter_type <= 0xFF or not 0 <= frame.control <= 0xFF:
        raise Cjt188Error("meter type and control code are single bytes")
    if len(frame.data) > 0xFF:
        raise Cjt188Error(f"DATA of {len(frame.data)} bytes does not fit the length byte")
    if not 0 <= preamble <= 16:
        raise Cjt188Error(f"preamble of {preamble} bytes is out of range")
    body = (
        bytes([START, frame.meter_type])
        + address_bytes(frame.address)
        + bytes([frame.control, len(frame.data)])
        + frame.data
    )
    return bytes([PREAMBLE_BYTE] * preamble) + body + bytes([checksum(body), END])


def decode(buffer: bytes) -> tuple[int, Frame | None]:
    """The first whole frame in ``buffer`` and the bytes consumed up to its end.

    Bytes before the first 68 (preamble, line noise) are consumed. An
    incomplete frame gives ``(offset of its 68, None)``. A complete frame with
    a bad checksum or end byte raises :class:`Cjt188FrameError`, unless a good
    frame follows it in the buffer (the bad one was noise that held a 68).
    """
    start = buffer.find(START)
    if start < 0:
        return len(buffer), None
    try:
        found = _frame_at(buffer, start)
    except Cjt188FrameError as exc:
        later = _later_frame(buffer, start)
        if later is not None:
            return later
        raise Cjt188FrameError(str(exc), consumed=start + 1) from None
    if found is not None:
        return found
    later = _later_frame(buffer, start)
    return later if later is not None else (start, None)


def _frame_at(buffer: bytes, start: int) -> tuple[int, Frame] | None:
    """The frame whose 68 is at ``start``; None if incomplete; raises if complete but bad."""
    if len(buffer) - start < HEADER_LENGTH:
        return None
    length = buffer[start + HEADER_LENGTH - 1]
    end = start + HEADER_LENGTH + length + 2
    if len(buffer) < end:
        return None
    body = buffer[start : end - 2]
    if buffer[end - 2] != checksum(body):
        raise Cjt188FrameError(
            f"CJ/T 188 checksum mismatch (got {buffer[end - 2]:02X}, computed {checksum(body):02X})"
        )
    if buffer[end - 1] != END:
        raise Cjt188FrameError(f"CJ/T 188 frame ends with {buffer[end - 1]:02X}, not 16")
    address = body[2:9][::-1].hex().upper()
    return end, Frame(body[1], address, body[9], bytes(body[HEADER_LENGTH:]))


def _later_frame(buffer: bytes, start: int) -> tuple[int, Frame] | None:
    """A whole, valid frame starting at a 68 after ``start``, if the buffer holds one."""
    position = buffer.find(START, start + 1)
    while position >= 0:
        try:
            found = _frame_at(buffer, position)
        except Cjt188FrameError:
            found = None
        if found is not None:
            return found
        position = buffer.find(START, position + 1)
    return None


# ----------------------------------------------------------------------------- requests


def di_bytes(di: int, order: DiOrder = "standard") -> bytes:
    """A data identifier on the wire: ``standard`` sends DI0 (low byte) first."""
    wire = di.to_bytes(2, "little")
    return wire if order == "standard" else wire[::-1]


def read_di(wire: bytes) -> tuple[int, DiOrder]:
    """The data identifier in two wire bytes and the order it was sent in.

    Known identifiers (901F, 810A) are recognised in either order; any other
    is read in the standard order.
    """
    standard = int.from_bytes(wire[:2], "little")
    swapped = int.from_bytes(wire[:2], "big")
    if standard not in _KNOWN_DI and swapped in _KNOWN_DI:
        return swapped, "swapped"
    return standard, "standard"


def read_data(meter_type: int, address: str, ser: int, di_order: DiOrder = "standard") -> Frame:
    """The request for the metering data (DI 901F) of one meter."""
    return Frame(meter_type, address, READ_DATA, di_bytes(DI_READ_DATA, di_order) + bytes([ser]))


def read_address(
    ser: int, di_order: DiOrder = "standard", meter_type: int = WILDCARD_TYPE
) -> Frame:
    """The request for the address (DI 810A) of the only meter on a line."""
    data = di_bytes(DI_READ_ADDRESS, di_order) + bytes([ser])
    return Frame(meter_type, WILDCARD_ADDRESS, READ_ADDRESS, data)


@dataclass(frozen=True, slots=True)
class Request:
    """What a meter reads from a request: the identifier, its wire order and SER."""

    di: int
    di_order: DiOrder
    ser: int


def parse_request(frame: Frame) -> Request:
    """The DI and SER of a read request (as a meter, or the simulator, sees it)."""
    if frame.is_reply or len(frame.data) < 3:
        raise Cjt188FrameError(f"not a read request (C {frame.control:02X}, L {len(frame.data)})")
    di, order = read_di(frame.data)
    return Request(di, order, frame.data[2])


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class UnitCode:
    """A unit code of the standard: the value in ``unit`` is the BCD number times ``factor``."""

    code: int
    unit: str
    factor: float
    verified: bool


@cache
def unit_codes() -> dict[int, UnitCode]:
    """The unit codes, read from the packaged ``cjt188_units.csv``."""
    text = importlib.resources.files("ems_edge.codecs").joinpath("cjt188_units.csv")
    rows = csv.DictReader(text.read_text(encoding="utf-8").splitlines())
    table = {}
    for row in rows:
        code = int(row["code"], 16)
        table[code] = UnitCode(code, row["unit"], float(row["factor"]), row["verified"] == "true")
    return table


def bcd_to_int(wire: bytes, what: str) -> int:
    """The integer in BCD bytes sent low byte first; a nibble above 9 is a meter fault."""
    value = 0
    for byte in reversed(wire):
        high, low = byte >> 4, byte & 0x0F
        if high > 9 or low > 9:
            raise Cjt188MeterError(f"invalid BCD in {what} ({wire.hex(' ').upper()})")
        value = value * 100 + high * 10 + low
    return value


def int_to_bcd(value: int, length: int) -> bytes:
    """``value`` as ``length`` BCD bytes, low byte first."""
    if not 0 <= value < 100**length:
        raise Cjt188Error(f"{value} does not fit {length} BCD bytes")
    digits = f"{value:0{2 * length}d}"
    return bytes.fromhex(digits)[::-1]


@dataclass(frozen=True, slots=True)
class Quantity:
    """A value in physical units; ``unit`` is None for a unit code missing from the table."""

    value: float
    unit: str | None
    unit_code: int | None = None


@dataclass(frozen=True, slots=True)
class MeterStatus:
    """The two status bytes (ST) in wire order, with the bits the standard names."""

    raw: bytes

    @property
    def valve(self) -> str:
        """``open``, ``closed`` or ``abnormal`` (D0-D1 of the first byte)."""
        return VALVE_STATES[self.raw[0] & VALVE_MASK]

    @property
    def battery_low(self) -> bool:
        """D2 of the first byte (unverified position)."""
        return bool(self.raw[0] & BATTERY_LOW_BIT)

    def describe(self) -> str:
        """The status in words, e.g. ``valve abnormal, battery low``."""
        parts = [] if self.valve == "open" else [f"valve {self.valve}"]
        if self.battery_low:
            parts.append("battery low")
        other = (self.raw[0] & ~(VALVE_MASK | BATTERY_LOW_BIT) & 0xFF, self.raw[1])
        if any(other):
            parts.append(f"other status bits {other[0]:02X} {other[1]:02X}")
        return ", ".join(parts) if parts else "valve open, battery ok"


@dataclass(frozen=True, slots=True)
class _Field:
    """Where one value sits in a 901F reply; ``unit`` is fixed, or None if a unit byte follows."""

    name: str
    offset: int
    length: int
    decimals: int
    unit: str | None = None


_WATER_GAS = (
    _Field("current_volume", 3, 4, 2),
    _Field("settlement_volume", 8, 4, 2),
)
_HEAT = (
    _Field("settlement_heat", 3, 4, 2),
    _Field("current_heat", 8, 4, 2),
    _Field("thermal_power", 13, 4, 2),
    # XXXX.XXXX per secondary sources (unverified)
    _Field("flow", 18, 4, 4),
    _Field("cumulative_volume", 23, 4, 2),
    _Field("supply_temperature", 28, 3, 2, "C"),
    _Field("return_temperature", 31, 3, 2, "C"),
    _Field("working_hours", 34, 3, 0, "h"),
)
#: DATA length -> (fields, offset of the real time, offset of the status)
_LAYOUTS = {0x16: (_WATER_GAS, 13, 20), 0x2E: (_HEAT, 37, 44)}

WATER_GAS_FIELDS = tuple(f.name for f in _WATER_GAS)
HEAT_FIELDS = tuple(f.name for f in _HEAT)


class _ByName:
    """Access to a reading's values by field name."""

    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]]

    def quantity(self, name: str) -> Quantity:
        """The field called ``name`` (KeyError if this kind of meter has none)."""
        if name not in self.FIELDS:
            raise KeyError(name)
        value: Quantity = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True)
class WaterGasReading(_ByName):
    """A water or gas meter's answer to 901F."""

    FIELDS: ClassVar[tuple[str, ...]] = WATER_GAS_FIELDS

    meter_type: int
    address: str
    di_order: DiOrder
    clock: datetime | None
    status: MeterStatus
    current_volume: Quantity
    settlement_volume: Quantity


@dataclass(frozen=True, slots=True)
class HeatReading(_ByName):
    """A heat (or cooling) meter's answer to 901F."""

    FIELDS: ClassVar[tuple[str, ...]] = HEAT_FIELDS

    meter_type: int
    address: str
    di_order: DiOrder
    clock: datetime | None
    status: MeterStatus
    settlement_heat: Quantity
    current_heat: Quantity
    thermal_power: Quantity
    flow: Quantity
    cumulative_volume: Quantity
    supply_temperature: Quantity
    return_temperature: Quantity
    working_hours: Quantity


Reading = WaterGasReading | HeatReading


def decode_clock(wire: bytes) -> datetime | None:
    """The meter's real time (ss mm hh DD MM YY-low YY-high); None if it keeps none.

    Meters without a clock send zeros or FF; that is no reason to refuse
    their volumes, so an impossible time reads as None.
    """
    try:
        second, minute, hour, day, month, low, high = (bcd_to_int(bytes([b]), "time") for b in wire)
        return datetime(
            high * 100 + low, month, day, hour, minute, second, tzinfo=CHINA_STANDARD_TIME
        )
    except (Cjt188MeterError, ValueError):
        return None


def encode_clock(when: datetime) -> bytes:
    """The 7 real-time bytes for an aware datetime, in China Standard Time."""
    if when.tzinfo is None:
        raise Cjt188Error("the meter time must be timezone-aware")
    local = when.astimezone(CHINA_STANDARD_TIME)
    parts = (local.second, local.minute, local.hour, local.day, local.month)
    return bytes(int_to_bcd(p, 1)[0] for p in (*parts, local.year % 100, local.year // 100))


def _check_reply(frame: Frame, function: int, expected_di: int, ser: int | None) -> DiOrder:
    """The DI order of a normal reply to ``function``; anything else raises.

    An error reply becomes a meter error; another control code, DI or SER
    means the answer belongs to another exchange: a communication fault.
    """
    if frame.control & ~ABNORMAL != REPLY | function:
        raise Cjt188FrameError(
            f"CJ/T 188 control code {frame.control:02X} is no reply to function {function:02X}"
        )
    if frame.control & ABNORMAL:
        raise _error_reply(frame, ser)
    if len(frame.data) < 3:
        raise Cjt188FrameError(f"CJ/T 188 reply of {len(frame.data)} bytes is too short")
    di, order = read_di(frame.data)
    if di != expected_di:
        raise Cjt188FrameError(f"CJ/T 188 reply carries DI {di:04X}, not {expected_di:04X}")
    _check_ser(frame.data[2], ser)
    return order


def _check_ser(got: int, expected: int | None) -> None:
    if expected is not None and got != expected:
        raise Cjt188FrameError(f"CJ/T 188 reply carries SER {got:02X}, not {expected:02X}")


def _error_reply(frame: Frame, ser: int | None) -> Cjt188MeterError:
    """The meter's abnormal reply explained: SER ST ST (some devices put DI first)."""
    data = frame.data
    if len(data) in (3, 5):
        _check_ser(data[-3], ser)
        status = MeterStatus(bytes(data[-2:]))
        return Cjt188MeterError(
            f"CJ/T 188 error reply: {status.describe()} (ST {status.raw.hex(' ').upper()})"
        )
    return Cjt188MeterError(f"CJ/T 188 error reply (DATA {data.hex(' ').upper() or 'empty'})")


def _quantity(data: bytes, field: _Field) -> Quantity:
    raw = bcd_to_int(data[field.offset : field.offset + field.length], field.name)
    value = raw / 10**field.decimals
    if field.unit is not None:
        return Quantity(value, field.unit)
    code = data[field.offset + field.length]
    entry = unit_codes().get(code)
    if entry is None:
        return Quantity(value, None, code)
    return Quantity(value * entry.factor, entry.unit, code)


def parse_read_data_reply(frame: Frame, ser: int | None = None) -> Reading:
    """The named values of a reply to 901F; ``ser`` is the request's, which must be echoed.

    Layout by length: L=22 water/gas, L=46 heat. A reply for another SER or
    DI is a communication fault; an error reply or invalid BCD a meter fault.
    """
    order = _check_reply(frame, READ_DATA, DI_READ_DATA, ser)
    data = frame.data
    layout = _LAYOUTS.get(len(data))
    if layout is None:
        raise Cjt188MeterError(f"CJ/T 188 reply to 901F of unexpected length {len(data)}")
    fields, clock_at, status_at = layout
    values = [_quantity(data, field) for field in fields]
    clock = decode_clock(data[clock_at : clock_at + 7])
    status = MeterStatus(bytes(data[status_at : status_at + 2]))
    head = (frame.meter_type, frame.address, order, clock, status)
    if fields is _HEAT:
        return HeatReading(*head, *values)
    return WaterGasReading(*head, *values)


def parse_address_reply(frame: Frame, ser: int | None = None) -> str:
    """The address of the meter answering a read-address request (DI 810A)."""
    _check_reply(frame, READ_ADDRESS, DI_READ_ADDRESS, ser)
    return frame.address


# ----------------------------------------------------------------------------- replies


def _encode_value(field: _Field, value: float, unit_code: int | None) -> bytes:
    factor = 1.0
    if unit_code is not None:
        entry = unit_codes().get(unit_code)
        factor = entry.factor if entry is not None else 1.0
    scaled = round(value / factor * 10**field.decimals)
    try:
        wire = int_to_bcd(scaled, field.length)
    except Cjt188Error as exc:
        raise Cjt188Error(f"{field.name} = {value} does not fit the reply") from exc
    return wire if unit_code is None else wire + bytes([unit_code])


def _reply_901f(
    fields: tuple[_Field, ...],
    head: tuple[int, str, int, DiOrder],
    values: Mapping[str, float],
    units: Mapping[str, int],
    clock: datetime,
    status: bytes,
) -> Frame:
    meter_type, address, ser, di_order = head
    if len(status) != 2:
        raise Cjt188Error("the status is two bytes")
    data = di_bytes(DI_READ_DATA, di_order) + bytes([ser])
    for field in fields:
        unit_code = None if field.unit is not None else units[field.name]
        data += _encode_value(field, values[field.name], unit_code)
    return Frame(meter_type, address, REPLY | READ_DATA, data + encode_clock(clock) + status)


WATER_GAS_UNITS = {"current_volume": 0x2C, "settlement_volume": 0x2C}
HEAT_UNITS = {
    "settlement_heat": 0x05,
    "current_heat": 0x05,
    "thermal_power": 0x17,
    "flow": 0x35,
    "cumulative_volume": 0x2C,
}


def reply_water_gas(
    meter_type: int,
    address: str,
    ser: int,
    values: Mapping[str, float],
    *,
    clock: datetime,
    units: Mapping[str, int] | None = None,
    status: bytes = b"\x00\x00",
    di_order: DiOrder = "standard",
) -> Frame:
    """A water/gas meter's reply to 901F; values are in the unit of their code (m3 by default)."""
    units = {**WATER_GAS_UNITS, **(units or {})}
    head = (meter_type, address, ser, di_order)
    return _reply_901f(_WATER_GAS, head, values, units, clock, status)


def reply_heat(
    meter_type: int,
    address: str,
    ser: int,
    values: Mapping[str, float],
    *,
    clock: datetime,
    units: Mapping[str, int] | None = None,
    status: bytes = b"\x00\x00",
    di_order: DiOrder = "standard",
) -> Frame:
    """A heat meter's reply to 901F; by default kWh, kW, m3/h and m3, temperatures in C."""
    units = {**HEAT_UNITS, **(units or {})}
    return _reply_901f(_HEAT, (meter_type, address, ser, di_order), values, units, clock, status)


def reply_error(
    meter_type: int,
    address: str,
    ser: int,
    status: bytes = b"\x03\x00",
    function: int = READ_DATA,
) -> Frame:
    """An abnormal reply (C = C1 for a read): SER and the status bytes."""
    if len(status) != 2:
        raise Cjt188Error("the status is two bytes")
    return Frame(meter_type, address, REPLY | ABNORMAL | function, bytes([ser]) + status)


def reply_address(meter_type: int, address: str, ser: int, di_order: DiOrder = "standard") -> Frame:
    """A meter's reply to read address: its address in the header, DI 810A and SER."""
    data = di_bytes(DI_READ_ADDRESS, di_order) + bytes([ser])
    return Frame(meter_type, address, REPLY | READ_ADDRESS, data)
