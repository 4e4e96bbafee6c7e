"""CJ/T 188-2004 driver: water, gas and heat meters on RS-485, local or via a serial server.

Configuration (besides the generic keys read by :mod:`ems_edge.config`)::

    bus, kind cjt188-tcp:     host, port
    bus, kind cjt188-serial:  device, baudrate (2400), parity (E), bytesize (8), stopbits (1)
    meter:  address     14 decimal digits as printed on the meter; quote it in YAML
            meter_type  cold_water, hot_water, drinking_water, reclaimed_water (T 10-13),
                        heat, cooling (20, 21) or gas (30): names, not hex codes, because
                        an unquoted 10 in YAML is a number and a typo'd code is silent
            di_order    standard (DI 901F sent 1F 90, the standard's example) or swapped
            preamble    FE wake-up bytes before a request, 0-4 (2)
    point:  field       current_volume, settlement_volume (water and gas); settlement_heat,
                        current_heat, thermal_power, flow, cumulative_volume,
                        supply_temperature, return_temperature, working_hours (heat, cooling)
            multiplier  applied after unit conversion (1)

One read of 901F per meter per poll serves every point of that meter. The
meter says the unit of each value (a unit code); the driver converts it to
the point's ``unit`` when the two differ by a factor (kWh to MWh or GJ, L to
m3) and reports a meter fault when they measure different things.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ems_edge.codecs import cjt188
from ems_edge.configfile import Section
from ems_edge.drivers.base import Driver, DriverKind
from ems_edge.errors import CodecError
from ems_edge.links import (
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
    PointKind,
    PointResult,
    PointSpec,
    all_faulty,
)

METER_TYPES = {
    "cold_water": 0x10,
    "hot_water": 0x11,
    "drinking_water": 0x12,
    "reclaimed_water": 0x13,
    "heat": 0x20,
    "cooling": 0x21,
    "gas": 0x30,
}

#: unit name -> (what it measures, size in that dimension's base unit); physics, not protocol data.
UNITS: dict[str, tuple[str, float]] = {
    "m3": ("volume", 1.0),
    "L": ("volume", 1e-3),
    "J": ("energy", 1.0),
    "kJ": ("energy", 1e3),
    "MJ": ("energy", 1e6),
    "GJ": ("energy", 1e9),
    "Wh": ("energy", 3600.0),
    "kWh": ("energy", 3.6e6),
    "MWh": ("energy", 3.6e9),
    "W": ("power", 1.0),
    "kW": ("power", 1e3),
    "MW": ("power", 1e6),
    "m3/h": ("flow", 1.0),
    "L/h": ("flow", 1e-3),
    "C": ("temperature", 1.0),
    "h": ("time", 1.0),
}
_ALIASES = {"m³": "m3", "m^3": "m3", "°C": "C", "℃": "C", "m³/h": "m3/h", "m^3/h": "m3/h"}
_LOOKUP = {name.casefold(): name for name in UNITS} | {
    alias.casefold(): name for alias, name in _ALIASES.items()
}

#: field -> (what it measures, the point kind it must have)
FIELDS: dict[str, tuple[str, PointKind]] = {
    "current_volume": ("volume", PointKind.CUMULATIVE),
    "settlement_volume": ("volume", PointKind.CUMULATIVE),
    "settlement_heat": ("energy", PointKind.CUMULATIVE),
    "current_heat": ("energy", PointKind.CUMULATIVE),
    "thermal_power": ("power", PointKind.INSTANTANEOUS),
    "flow": ("flow", PointKind.INSTANTANEOUS),
    "cumulative_volume": ("volume", PointKind.CUMULATIVE),
    "supply_temperature": ("temperature", PointKind.INSTANTANEOUS),
    "return_temperature": ("temperature", PointKind.INSTANTANEOUS),
    "working_hours": ("time", PointKind.CUMULATIVE),
}


@dataclass(frozen=True, slots=True)
class MeterOptions:
    """How to address one meter."""

    address: str
    type_name: str
    meter_type: int
    di_order: cjt188.DiOrder
    preamble: int


@dataclass(frozen=True, slots=True)
class PointSource:
    """Which value of the 901F reply a point takes."""

    field: str
    multiplier: float


def canonical_unit(unit: str) -> str | None:
    """The name in :data:`UNITS` for ``unit`` (``m³`` -> ``m3``, ``kwh`` -> ``kWh``), if known."""
    return _LOOKUP.get(unit.strip().casefold())


def meter_fields(meter_type: int) -> tuple[str, ...]:
    """The fields a meter of type ``meter_type`` answers 901F with."""
    return cjt188.HEAT_FIELDS if meter_type >> 4 == 2 else cjt188.WATER_GAS_FIELDS


def convert(quantity: cjt188.Quantity, field: str, unit: str) -> float | str:
    """``quantity`` in ``unit``, or why it cannot be (the meter reports something else)."""
    if quantity.unit is None:
        return f"meter reports {field} in unknown unit code {quantity.unit_code:02X}"
    have = UNITS.get(quantity.unit)
    want = UNITS.get(canonical_unit(unit) or "")
    if have is None or want is None or have[0] != want[0]:
        return f"meter reports {field} in {quantity.unit}, which cannot be converted to {unit}"
    return quantity.value * have[1] / want[1]


# ----------------------------------------------------------------------------- configuration


def parse_meter(section: Section, bus_options: object) -> MeterOptions:
    """Address, type, DI order and preamble of one meter."""
    del bus_options
    address = section.string("address")
    if not re.fullmatch(r"\d{14}", address):
        raise section.where("address").error(
            f"{address!r} is not 14 decimal digits (quote it in YAML: '00000012345678')"
        )
    type_name = section.choice("meter_type", list(METER_TYPES))
    return MeterOptions(
        address=address,
        type_name=type_name,
        meter_type=METER_TYPES[type_name],
        di_order=section.choice("di_order", list(cjt188.DI_ORDERS), "standard"),
        preamble=section.integer("preamble", 2, low=0, high=4),
    )


def parse_point(section: Section, bus_options: object, meter: MeterOptions) -> PointSource:
    """The field of a point, checked against the meter's type, its unit and its kind."""
    del bus_options
    fields = meter_fields(meter.meter_type)
    field = section.string("field")
    if field not in fields:
        raise section.where("field").error(
            f"{field!r} is not a field of a {meter.type_name} meter (one of {', '.join(fields)})"
        )
    dimension, kind = FIELDS[field]
    unit = section.string("unit")
    if UNITS.get(canonical_unit(unit) or "", ("", 0.0))[0] != dimension:
        units = [name for name, (dim, _) in UNITS.items() if dim == dimension]
        raise section.where("unit").error(
            f"{unit!r} is not a unit of {dimension} for {field} (one of {', '.join(units)})"
        )
    if section.choice("kind", [k.value for k in PointKind]) != kind:
        raise section.where("kind").error(f"{field} is {kind.value}")
    multiplier = section.number("multiplier", 1.0)
    if multiplier == 0:
        raise section.where("multiplier").error("must not be 0")
    return PointSource(field, multiplier)


def meter_address(options: MeterOptions) -> str:
    """The meter's address: unique on its bus."""
    return options.address


# ----------------------------------------------------------------------------- polling


def _reply_decoder(address: str) -> Callable[[bytes], tuple[int, cjt188.Frame | None]]:
    """A decoder that skips frames not from ``address``: echoes of our request, other meters."""

    def decode_reply(buffer: bytes) -> tuple[int, cjt188.Frame | None]:
        offset = 0
        while True:
            consumed, frame = cjt188.decode(buffer[offset:])
            offset += consumed
            if frame is None or (frame.is_reply and frame.address == address):
                return offset, frame

    return decode_reply


class Cjt188Driver(Driver):
    """Reads 901F from each meter and serves all its points from that one reply."""

    def __init__(self, bus: BusSpec, link: Link) -> None:
        super().__init__(bus)
        self._link = link
        self._ser = 0

    def poll(self, meter: MeterSpec, points: Sequence[PointSpec]) -> list[PointResult]:
        """One result per point; the meter is read once."""
        try:
            reading = self._read(meter.options)
        except cjt188.Cjt188MeterError as exc:
            return all_faulty(points, FaultKind.METER, str(exc))
        except (LinkError, CodecError) as exc:
            return all_faulty(points, FaultKind.COMMUNICATION, str(exc))
        return [self._result(point, reading) for point in points]

    def close(self) -> None:
        """Close the line."""
        self._link.close()

    def _read(self, options: MeterOptions) -> cjt188.Reading:
        """The meter's 901F reply, retrying communication faults ``bus.retries`` times."""
        for attempt in range(self.bus.retries, -1, -1):
            try:
                return self._exchange(options)
            except cjt188.Cjt188MeterError:
                raise
            except (LinkError, CodecError):
                if attempt == 0:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _exchange(self, options: MeterOptions) -> cjt188.Reading:
        self._pace()
        self._ser = (self._ser + 1) & 0xFF
        request = cjt188.read_data(options.meter_type, options.address, self._ser, options.di_order)
        try:
            frame = self._link.exchange(
                cjt188.encode(request, options.preamble),
                _reply_decoder(options.address),
                self.bus.timeout,
            )
        finally:
            self._last_exchange = time.monotonic()
        return cjt188.parse_read_data_reply(frame, self._ser)

    @staticmethod
    def _result(point: PointSpec, reading: cjt188.Reading) -> PointResult:
        source: PointSource = point.source
        if source.field not in reading.FIELDS:
            kind = "heat" if isinstance(reading, cjt188.HeatReading) else "water/gas"
            reason = f"meter answered with a {kind} reading, which has no {source.field}"
            return PointResult(point, None, Fault(FaultKind.METER, reason))
        value = convert(reading.quantity(source.field), source.field, point.unit)
        if isinstance(value, str):
            return PointResult(point, None, Fault(FaultKind.METER, value))
        return PointResult(point, value * source.multiplier)


def _open(bus: BusSpec) -> Cjt188Driver:
    return Cjt188Driver(bus, open_link(bus.options, bus.timeout))


CJT188_TCP = DriverKind(
    name="cjt188-tcp",
    parse_bus=parse_tcp_link,
    parse_meter=parse_meter,
    parse_point=parse_point,
    meter_address=meter_address,
    open=_open,
    endpoint=link_endpoint,
)
CJT188_SERIAL = DriverKind(
    name="cjt188-serial",
    parse_bus=parse_serial_link,
    parse_meter=parse_meter,
    parse_point=parse_point,
    meter_address=meter_address,
    open=_open,
    endpoint=link_endpoint,
)
