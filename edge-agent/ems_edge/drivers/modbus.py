"""Modbus TCP and Modbus RTU meters, read through pymodbus 3.16.1's synchronous clients.

Configuration (the generic keys are read by :mod:`ems_edge.config`)::

    buses:
      - name: plant-a
        kind: modbus-tcp          # host, port (502); or modbus-rtu: device, baudrate (9600),
        host: 10.0.0.7            #   parity (N), bytesize (8), stopbits (1)
        timeout: 500ms
        meters:
          - id: m1
            unit_id: 5            # 0-247 on TCP, 1-247 on a serial line (0 is broadcast)
            points:
              - id: m1.energy
                register: {function: holding, address: 0, type: float32,
                           word_order: big, byte_order: big, scale: 1, offset: 0}

``function`` is holding, input, coil or discrete (function codes 03, 04, 01, 02 of the
Modbus Application Protocol v1.1b3, clause 6); the value's layout is described in
:mod:`ems_edge.codecs.modbus_values`.

A poll reads the points of one meter in as few requests as possible: points of the same
function whose registers touch or overlap are merged into one request of at most 125
registers (2000 bits for coils and discrete inputs), the protocol's limits. Registers
between two points are never read, since meters commonly refuse an unmapped address.
If a merged request is refused with exception 2 (illegal data address), its points are
read one by one so that only the misconfigured point carries the fault.

Faults: no answer in ``bus.timeout``, a garbled or short answer, a refused connection or
a serial port that cannot be opened are COMMUNICATION faults, retried ``bus.retries``
times; after a meter stays silent the rest of its requests in this poll are skipped, so a
dead meter costs one timeout per attempt rather than one per request. A Modbus exception
response is a METER fault naming the code in words; exceptions 0Ah and 0Bh are answered by
a gateway that could not reach the meter behind it, so they count as COMMUNICATION. A float
register holding NaN or infinity is a METER fault.

pymodbus retries nothing here (``retries=0``): the driver retries, so that the
inter-frame delay is kept between attempts too. pymodbus logs every failed request at
ERROR level; the agent reports faults itself, so the ``pymodbus`` logger is turned down
to CRITICAL unless someone configured it explicitly.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.client.base import ModbusBaseSyncClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from ems_edge.codecs.modbus_values import (
    BIT_TYPE,
    DATA_TYPES,
    ORDERS,
    WORD_TYPES,
    ModbusValueError,
    RegisterFormat,
    decode_bit,
    decode_value,
    register_count,
)
from ems_edge.configfile import Section
from ems_edge.drivers.base import Driver, DriverKind
from ems_edge.model import BusSpec, Fault, FaultKind, MeterSpec, PointResult, PointSpec

#: Exception codes in words (Modbus Application Protocol v1.1b3, clause 7).
EXCEPTION_NAMES = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x05: "acknowledge",
    0x06: "server device busy",
    0x08: "memory parity error",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target device failed to respond",
}
ILLEGAL_DATA_ADDRESS = 0x02
#: Codes a gateway sends when the meter behind it did not answer: the line is to blame.
GATEWAY_CODES = frozenset({0x0A, 0x0B})
BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def quiet_pymodbus() -> None:
    """Turn pymodbus's own logging down to CRITICAL unless someone set its level explicitly."""
    logger = logging.getLogger("pymodbus")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)


class Function(enum.StrEnum):
    """The four Modbus object types a meter exposes."""

    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"

    @property
    def is_bit(self) -> bool:
        """Coils and discrete inputs hold bits, the others 16-bit registers."""
        return self in (Function.COIL, Function.DISCRETE)

    @property
    def max_count(self) -> int:
        """Most registers (or bits) one read request may ask for (clause 6.1-6.4)."""
        return 2000 if self.is_bit else 125


@dataclass(frozen=True, slots=True)
class TcpBusOptions:
    """A Modbus TCP device or gateway."""

    host: str
    port: int = 502


@dataclass(frozen=True, slots=True)
class RtuBusOptions:
    """A local RS-485 port speaking Modbus RTU (a pyserial URL such as socket:// also works)."""

    device: str
    baudrate: int = 9600
    parity: str = "N"
    bytesize: int = 8
    stopbits: int = 1


@dataclass(frozen=True, slots=True)
class ModbusMeterOptions:
    """One meter on the bus: its unit id (slave address)."""

    unit_id: int


@dataclass(frozen=True, slots=True)
class RegisterPoint:
    """Where one point's value is: object type, first address, and the value's layout."""

    function: Function
    address: int
    format: RegisterFormat

    @property
    def end(self) -> int:
        """One past the last register (or bit) the value occupies."""
        return self.address + self.format.count


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers from ``start``, serving the points ``members``."""

    function: Function
    start: int
    count: int
    #: indices into the polled points
    members: tuple[int, ...]

    def describe(self) -> str:
        """The request in words, e.g. ``holding 0-13``."""
        last = self.start + self.count - 1
        return f"{self.function} {self.start}" + (f"-{last}" if last != self.start else "")


def plan_reads(sources: Sequence[RegisterPoint]) -> list[ReadBlock]:
    """Group points into as few requests as possible: same function, touching ranges."""
    order = sorted(range(len(sources)), key=lambda i: (sources[i].function, sources[i].address))
    blocks: list[ReadBlock] = []
    for index in order:
        source = sources[index]
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and last.function == source.function
            and source.address <= last.start + last.count
            and max(last.start + last.count, source.end) - last.start <= source.function.max_count
        ):
            count = max(last.start + last.count, source.end) - last.start
            blocks[-1] = ReadBlock(last.function, last.start, count, (*last.members, index))
        else:
            blocks.append(ReadBlock(source.function, source.address, source.format.count, (index,)))
    return blocks


class _ReadFailure(Exception):
    """A request failed; ``fault`` says whose fault, ``code`` is the Modbus exception code."""

    def __init__(self, fault: Fault, code: int | None = None) -> None:
        super().__init__(fault.reason)
        self.fault = fault
        self.code = code


class ModbusDriver(Driver):
    """Polls the meters of one Modbus bus through one pymodbus synchronous client."""

    def __init__(self, bus: BusSpec, client: ModbusBaseSyncClient, endpoint: str) -> None:
        super().__init__(bus)
        quiet_pymodbus()
        self.client = client
        self.endpoint = endpoint

    def poll(self, meter: MeterSpec, points: Sequence[PointSpec]) -> list[PointResult]:
        """One result per point; a silent meter fails its remaining requests without waiting."""
        options: ModbusMeterOptions = meter.options
        sources = [point.source for point in points]
        results: list[PointResult | None] = [None] * len(points)
        pending = deque(plan_reads(sources))
        while pending:
            block = pending.popleft()
            try:
                data = self._read(options.unit_id, block)
            except _ReadFailure as failure:
                if failure.code == ILLEGAL_DATA_ADDRESS and len(block.members) > 1:
                    # Find the point at fault instead of failing its neighbours with it.
                    pending.extendleft(reversed([_alone(sources, i) for i in block.members]))
                    continue
                victims = list(block.members)
                if failure.fault.kind is FaultKind.COMMUNICATION:
                    victims += [i for later in pending for i in later.members]
                    pending.clear()
                for index in victims:
                    results[index] = PointResult(points[index], None, failure.fault)
                continue
            for index in block.members:
                results[index] = _decode(points[index], block, data)
        return cast(list[PointResult], results)  # every index is some block's member

    def close(self) -> None:
        """Close the TCP connection or serial port."""
        self.client.close()  # type: ignore[no-untyped-call]  # pymodbus leaves close() untyped

    def _read(self, unit: int, block: ReadBlock) -> Sequence[int] | Sequence[bool]:
        """The registers (or bits) of ``block``, retrying communication faults."""
        attempt = 0
        while True:
            try:
                return self._exchange(unit, block)
            except _ReadFailure as exc:
                attempt += 1
                if exc.fault.kind is FaultKind.METER or attempt > self.bus.retries:
                    raise

    def _exchange(self, unit: int, block: ReadBlock) -> Sequence[int] | Sequence[bool]:
        """One request and its answer, after the bus's inter-frame delay."""
        self._pace()
        try:
            if not self.client.connect():
                raise _communication(f"cannot connect to {self.endpoint}")
            read = {
                Function.HOLDING: self.client.read_holding_registers,
                Function.INPUT: self.client.read_input_registers,
                Function.COIL: self.client.read_coils,
                Function.DISCRETE: self.client.read_discrete_inputs,
            }[block.function]
            response = read(block.start, count=block.count, device_id=unit)
        except ConnectionException:
            raise _communication(f"connection to {self.endpoint} lost") from None
        except ModbusIOException:
            raise _communication(
                f"no valid answer from unit {unit} within {self.bus.timeout:g} s"
            ) from None
        except (ModbusException, OSError) as exc:
            raise _communication(f"{self.endpoint}: {exc}") from None
        finally:
            self._last_exchange = time.monotonic()
        if response.isError():
            raise _exception_reply(response.exception_code, unit, block)
        values = response.bits if block.function.is_bit else response.registers
        if len(values) < block.count:
            raise _communication(
                f"short answer from unit {unit}: {len(values)} of {block.count} for "
                f"{block.describe()}"
            )
        return values[: block.count]


def _communication(reason: str) -> _ReadFailure:
    return _ReadFailure(Fault(FaultKind.COMMUNICATION, reason))


def _exception_reply(code: int, unit: int, block: ReadBlock) -> _ReadFailure:
    name = EXCEPTION_NAMES.get(code, "unknown exception")
    kind = FaultKind.COMMUNICATION if code in GATEWAY_CODES else FaultKind.METER
    reason = f"Modbus exception {code} ({name}) from unit {unit} reading {block.describe()}"
    return _ReadFailure(Fault(kind, reason), code)


def _alone(sources: Sequence[RegisterPoint], index: int) -> ReadBlock:
    source = sources[index]
    return ReadBlock(source.function, source.address, source.format.count, (index,))


def _decode(
    point: PointSpec, block: ReadBlock, data: Sequence[int] | Sequence[bool]
) -> PointResult:
    source: RegisterPoint = point.source
    offset = source.address - block.start
    try:
        if source.format.is_bit:
            value = decode_bit(bool(data[offset]), source.format)
        else:
            value = decode_value(
                [int(w) for w in data[offset : offset + source.format.count]], source.format
            )
    except ModbusValueError as exc:
        where = f"{source.function} {source.address} ({source.format.data_type})"
        return PointResult(point, None, Fault(FaultKind.METER, f"{where}: impossible value: {exc}"))
    return PointResult(point, value)


# --- configuration -------------------------------------------------------------------------


def _parse_tcp_bus(section: Section) -> TcpBusOptions:
    return TcpBusOptions(
        host=section.string("host"), port=section.integer("port", 502, low=1, high=65535)
    )


def _parse_rtu_bus(section: Section) -> RtuBusOptions:
    baudrate = section.integer("baudrate", 9600)
    if baudrate not in BAUDRATES:
        raise section.where("baudrate").error(
            f"{baudrate} is not a standard rate ({', '.join(map(str, BAUDRATES))})"
        )
    return RtuBusOptions(
        device=section.string("device"),
        baudrate=baudrate,
        parity=section.choice("parity", ("N", "E", "O"), "N"),
        bytesize=section.integer("bytesize", 8, low=7, high=8),
        stopbits=section.integer("stopbits", 1, low=1, high=2),
    )


def _parse_meter(section: Section, bus: object) -> ModbusMeterOptions:
    unit_id = section.integer("unit_id", low=0, high=247)
    if unit_id == 0 and isinstance(bus, RtuBusOptions):
        raise section.where("unit_id").error(
            "0 is the broadcast address on a serial line: no meter answers it (use 1-247)"
        )
    return ModbusMeterOptions(unit_id)


def _parse_point(section: Section, bus: object, meter: object) -> RegisterPoint:
    del bus, meter
    register = section.section("register")
    if register is None:  # cannot happen: the section is required; this narrows the type
        raise section.place.error("'register' is required")
    function = Function(register.choice("function", [f.value for f in Function]))
    address = register.integer("address", low=0, high=65535)
    data_type = register.choice("type", DATA_TYPES, BIT_TYPE if function.is_bit else ...)
    if function.is_bit != (data_type == BIT_TYPE):
        wanted = BIT_TYPE if function.is_bit else ", ".join(WORD_TYPES)
        raise register.where("type").error(
            f"{data_type} does not fit a {function} point (use {wanted})"
        )
    orders = {key: register.choice(key, ORDERS, "big") for key in ("word_order", "byte_order")}
    for key in orders:
        if function.is_bit and key in register:
            raise register.where(key).error(f"applies to registers, not to a {function} bit")
    scale = register.number("scale", 1.0)
    if scale == 0:
        raise register.where("scale").error("0 would make every reading equal to the offset")
    offset = register.number("offset", 0.0)
    if address + register_count(data_type) > 65536:
        raise register.where("address").error(f"a {data_type} at {address} runs past 65535")
    register.done()
    fmt = RegisterFormat(data_type, orders["word_order"], orders["byte_order"], scale, offset)
    return RegisterPoint(function, address, fmt)


def _meter_address(options: ModbusMeterOptions) -> str:
    return str(options.unit_id)


def _endpoint(options: TcpBusOptions | RtuBusOptions) -> str:
    if isinstance(options, TcpBusOptions):
        return f"tcp:{options.host}:{options.port}"
    return f"serial:{options.device}"


def _open_tcp(bus: BusSpec) -> ModbusDriver:
    options: TcpBusOptions = bus.options
    client = ModbusTcpClient(options.host, port=options.port, timeout=bus.timeout, retries=0)
    return ModbusDriver(bus, client, _endpoint(options))


def _open_rtu(bus: BusSpec) -> ModbusDriver:
    options: RtuBusOptions = bus.options
    client = ModbusSerialClient(
        options.device,
        framer=FramerType.RTU,
        baudrate=options.baudrate,
        bytesize=options.bytesize,
        parity=options.parity,
        stopbits=options.stopbits,
        timeout=bus.timeout,
        retries=0,
    )
    return ModbusDriver(bus, client, _endpoint(options))


MODBUS_TCP = DriverKind(
    name="modbus-tcp",
    parse_bus=_parse_tcp_bus,
    parse_meter=_parse_meter,
    parse_point=_parse_point,
    meter_address=_meter_address,
    open=_open_tcp,
    # One request at a time per connection; many Modbus TCP devices are RS-485 gateways.
    exclusive=True,
    endpoint=_endpoint,
    # Modbus TCP carries a transaction id per request: no bus silence to respect by default.
    default_inter_frame_delay=0.0,
)

MODBUS_RTU = DriverKind(
    name="modbus-rtu",
    parse_bus=_parse_rtu_bus,
    parse_meter=_parse_meter,
    parse_point=_parse_point,
    meter_address=_meter_address,
    open=_open_rtu,
    exclusive=True,
    endpoint=_endpoint,
)
