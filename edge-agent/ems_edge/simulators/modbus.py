"""Simulated Modbus meters on one TCP port, built on pymodbus 3.16.1's simulator devices.

Each :class:`~ems_edge.simulators.model.SimMeter` becomes one pymodbus ``SimDevice``
(its unit id is ``int(meter.address)``, 1-247) on one ``ModbusTcpServer``, as the
meters of one RS-485 line sit behind one port. ``SimDevice``/``SimData`` are the device
API of 3.16.1 (the ``ModbusDeviceContext``/``ModbusSequentialDataBlock`` datastore logs
a deprecation warning). They hold fixed register values, but a device may carry an
``action`` coroutine that pymodbus awaits on every access with the device's register
list to modify in place, or an exception code to return; the action here writes each
requested quantity's current value (:meth:`SimMeter.read`, which also counts what was
served) into the registers just before pymodbus answers, so values change live without
a custom datastore.

Quantity keys say where and how a value sits::

    <function>:<address>:<type>[:word=big|little][:byte=big|little][:scale=S][:offset=O]

    holding:0:float32              float32 at holding registers 0-1, big/big ("ABCD")
    holding:2:uint32:scale=0.01    raw counts of 0.01 (the value 1234.56 is stored as 123456)
    input:10:float32:word=little   little word order ("CDAB")
    coil:0:bool                    function is holding, input, coil or discrete

Orders default to big, scale to 1 and offset to 0, as in the driver's configuration:
a point with the same settings reads back the quantity's value. Holding and input
registers, coils and discrete inputs are separate address spaces; reading an address
no quantity covers gets exception 2 (illegal data address), except for the unused bits
that share a 16-bit group with a mapped coil, which read as off. Writes are refused.

Faults, by unit id: SILENCE drops the answer (the client times out); ERROR_REPLY
answers every read with exception :attr:`ModbusSimServer.error_code` (4, server device
failure, unless changed); BAD_CHECKSUM corrupts the CRC when the server speaks RTU
framing (``framer="rtu"``, a serial server carrying RTU over TCP) and, since Modbus TCP
has no checksum, sends a short answer (the last byte missing) with MBAP framing; the
client waits for the rest and times out. Requests to unit ids no meter has go
unanswered, as on a real line. Faulty answers are not counted in ``served``.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
from collections.abc import Iterable
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ems_edge.codecs.modbus_values import (
    ModbusValueError,
    RegisterFormat,
    encode_bit,
    encode_value,
)
from ems_edge.drivers.modbus import Function, RegisterPoint, quiet_pymodbus
from ems_edge.simulators.model import FaultMode, SimMeter, SimQuantity

#: Function codes pymodbus passes to a device action -> the object type they access.
_FUNCTION_CODES = {
    1: Function.COIL,
    5: Function.COIL,
    15: Function.COIL,
    2: Function.DISCRETE,
    3: Function.HOLDING,
    6: Function.HOLDING,
    16: Function.HOLDING,
    22: Function.HOLDING,
    23: Function.HOLDING,
    4: Function.INPUT,
}
_FRAMERS = {"socket": FramerType.SOCKET, "rtu": FramerType.RTU}

#: The register map of :func:`modbus_meter`: key, quantity, unit, cumulative.
POWER_METER_REGISTERS: tuple[tuple[str, str, str, bool], ...] = (
    ("holding:0:float32", "forward active energy", "kWh", True),
    ("holding:2:uint32:scale=0.01", "forward reactive energy", "kvarh", True),
    ("holding:4:uint16:scale=0.1", "phase A voltage", "V", False),
    ("holding:5:uint16:scale=0.1", "phase B voltage", "V", False),
    ("holding:6:uint16:scale=0.1", "phase C voltage", "V", False),
    ("holding:7:uint16:scale=0.01", "phase A current", "A", False),
    ("holding:8:uint16:scale=0.01", "phase B current", "A", False),
    ("holding:9:uint16:scale=0.01", "phase C current", "A", False),
    ("holding:10:float32", "total active power", "kW", False),
    ("holding:12:int16:scale=0.001", "total power factor", "", False),
    ("holding:13:uint16:scale=0.01", "grid frequency", "Hz", False),
)


def parse_register_key(key: str) -> RegisterPoint:
    """The location and layout a quantity key names; ValueError naming the key if malformed."""
    try:
        return _parse_key(key)
    except (ValueError, ModbusValueError) as exc:
        raise ValueError(f"Modbus quantity key {key!r}: {exc}") from exc


def _parse_key(key: str) -> RegisterPoint:
    parts = key.split(":")
    if len(parts) < 3:
        raise ValueError("expected function:address:type[:option=value...]")
    options: dict[str, Any] = {"word": "big", "byte": "big", "scale": 1.0, "offset": 0.0}
    for part in parts[3:]:
        name, _, text = part.partition("=")
        if name not in options or not text:
            raise ValueError(f"unknown option {part!r} (word, byte, scale, offset)")
        options[name] = float(text) if name in ("scale", "offset") else text
    function = Function(parts[0])
    fmt = RegisterFormat(
        parts[2], options["word"], options["byte"], options["scale"], options["offset"]
    )
    address = int(parts[1])
    if function.is_bit != fmt.is_bit or not 0 <= address <= 65536 - fmt.count:
        raise ValueError(f"type or address does not fit a {function} point")
    return RegisterPoint(function, address, fmt)


def modbus_meter(unit_id: int, seed: int = 0) -> SimMeter:
    """A three-phase power meter at ``unit_id`` with the map :data:`POWER_METER_REGISTERS`."""
    nominal = {"kWh": 120.0, "kvarh": 40.0, "V": 230.0, "A": 52.0, "kW": 35.0, "": 0.95, "Hz": 50.0}
    quantities: dict[str, SimQuantity] = {}
    for index, (key, _name, unit, cumulative) in enumerate(POWER_METER_REGISTERS):
        noise = 0.001 if unit in ("Hz", "") else 0.01
        # Counters start part-way, differently per meter, as meters on site would.
        start = 1000.0 * (unit_id + seed) + 10.0 * index if cumulative else 0.0
        quantities[key] = SimQuantity(cumulative, nominal[unit], noise=noise, value=start)
    return SimMeter(str(unit_id), quantities, seed=seed)


class ModbusSimServer:
    """A pymodbus TCP server serving simulated meters from a background thread."""

    def __init__(
        self, meters: Iterable[SimMeter], host: str, port: int, framer: str, error_code: int
    ) -> None:
        self.meters = list(meters)
        self.host = host
        self.framer = framer
        #: The exception code an ERROR_REPLY meter answers with.
        self.error_code = error_code
        self._units = _units(self.meters)
        self._layouts = {unit: _layout(meter) for unit, meter in self._units.items()}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._server: ModbusTcpServer | None = None
        self.port = port
        self._thread = threading.Thread(target=self._run, name="modbus-sim", daemon=True)
        self._thread.start()
        self._ready.wait()
        self._raise_startup_failure()

    def _raise_startup_failure(self) -> None:
        if self._failure is not None:
            self._thread.join()
            self._loop.close()
            raise self._failure

    def close(self) -> None:
        """Stop serving, close every connection and join the thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> ModbusSimServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(self._start())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._stop())

    async def _start(self) -> ModbusTcpServer:
        devices = [self._device(unit) for unit in self._units]
        server = ModbusTcpServer(
            devices,
            framer=_FRAMERS[self.framer],
            address=(self.host, self.port),
            ignore_missing_devices=True,
            trace_packet=self._outgoing,
        )
        await server.serve_forever(background=True)
        # pymodbus keeps the asyncio.Server it listens with as its "transport".
        listener: Any = server.transport
        self.port = int(listener.sockets[0].getsockname()[1])
        return server

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]  # untyped in pymodbus
        await asyncio.sleep(0.01)  # let the closed transports release their sockets
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _device(self, unit: int) -> SimDevice:
        layout = self._layouts[unit]
        coils, discrete, holding, inputs = (
            _sim_data(function, layout[function])
            for function in (Function.COIL, Function.DISCRETE, Function.HOLDING, Function.INPUT)
        )
        action = functools.partial(self._action, unit)
        return SimDevice(unit, simdata=(coils, discrete, holding, inputs), action=action)

    async def _action(
        self,
        unit: int,
        function_code: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Refresh the requested registers from the meter, or refuse as the meter would."""
        meter = self._units[unit]
        function = _FUNCTION_CODES.get(function_code)
        if set_values is not None or function is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if meter.fault is FaultMode.ERROR_REPLY:
            return ExcCodes(self.error_code)
        entries = self._layouts[unit][function]
        if not entries:
            return ExcCodes.ILLEGAL_ADDRESS
        if meter.fault is not FaultMode.NONE:
            return None  # the answer is dropped or damaged on its way out
        try:
            if function.is_bit:
                _refresh_bits(meter, entries, start, address // 16, count, registers)
            else:
                _refresh_words(meter, entries, start, address, count, registers)
        except ModbusValueError:
            return ExcCodes.DEVICE_FAILURE  # the value does not fit the register
        return None

    def _outgoing(self, sending: bool, packet: bytes) -> bytes:
        """Apply SILENCE and BAD_CHECKSUM to answers; an empty packet sends nothing."""
        if not sending or not packet:
            return packet
        rtu = self.framer == "rtu"
        unit = packet[0] if rtu else packet[6] if len(packet) > 6 else -1
        meter = self._units.get(unit)
        if meter is None or meter.fault is FaultMode.SILENCE:
            return b""
        if meter.fault is FaultMode.BAD_CHECKSUM:
            return packet[:-2] + bytes([packet[-2] ^ 0xFF, packet[-1]]) if rtu else packet[:-1]
        return packet


def _units(meters: list[SimMeter]) -> dict[int, SimMeter]:
    units: dict[int, SimMeter] = {}
    for meter in meters:
        if not meter.address.isdigit() or not 1 <= int(meter.address) <= 247:
            raise ValueError(f"Modbus unit id {meter.address!r} is not 1-247")
        if int(meter.address) in units:
            raise ValueError(f"two meters with unit id {meter.address}")
        units[int(meter.address)] = meter
    return units


def _layout(meter: SimMeter) -> dict[Function, list[tuple[str, RegisterPoint]]]:
    layout: dict[Function, list[tuple[str, RegisterPoint]]] = {f: [] for f in Function}
    for key in meter.quantities:
        point = parse_register_key(key)
        layout[point.function].append((key, point))
    for function, entries in layout.items():
        entries.sort(key=lambda entry: entry[1].address)
        for (key_a, a), (key_b, b) in itertools.pairwise(entries):
            if b.address < a.end:
                raise ValueError(f"unit {meter.address}: {key_a} and {key_b} overlap ({function})")
    return layout


def _sim_data(function: Function, entries: list[tuple[str, RegisterPoint]]) -> list[SimData]:
    """One pymodbus block; none may be empty, so an unused one gets a placeholder nobody reads.

    An unused register block is one invalid register (pymodbus answers exception 2); an
    unused bit block must hold bits, and the action refuses every read of it.
    """
    if function.is_bit:
        bits = [SimData(p.address, values=[False], datatype=DataType.BITS) for _, p in entries]
        return bits or [SimData(0, values=[False], datatype=DataType.BITS)]
    registers = [
        SimData(p.address, values=[0] * p.format.count, datatype=DataType.REGISTERS, readonly=True)
        for _, p in entries
    ]
    return registers or [SimData(0, datatype=DataType.INVALID)]


def _refresh_words(
    meter: SimMeter,
    entries: list[tuple[str, RegisterPoint]],
    start: int,
    address: int,
    count: int,
    registers: list[int],
) -> None:
    for key, point in entries:
        if point.address < address + count and address < point.end:
            words = encode_value(meter.read(key), point.format)
            offset = point.address - start
            registers[offset : offset + len(words)] = words


def _refresh_bits(
    meter: SimMeter,
    entries: list[tuple[str, RegisterPoint]],
    start: int,
    first_group: int,
    groups: int,
    registers: list[int],
) -> None:
    """Coils sit 16 to a register, bit 0 first; ``start`` and the groups count registers."""
    for key, point in entries:
        group, bit = divmod(point.address, 16)
        if first_group <= group < first_group + groups:
            on = encode_bit(meter.read(key), point.format)
            mask = 1 << bit
            index = group - start
            registers[index] = registers[index] | mask if on else registers[index] & ~mask


def serve_modbus(
    meters: Iterable[SimMeter],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    framer: str = "socket",
    error_code: int = ExcCodes.DEVICE_FAILURE,
) -> ModbusSimServer:
    """Serve ``meters`` (unit id = address) on ``host:port`` until ``close()``; port 0 picks one.

    ``framer`` is ``socket`` (Modbus TCP, MBAP header) or ``rtu`` (RTU frames with CRC over
    TCP, as a serial server forwards them: reach it with the device ``socket://host:port``).
    """
    if framer not in _FRAMERS:
        raise ValueError(f"framer {framer!r} is not one of {', '.join(_FRAMERS)}")
    quiet_pymodbus()
    return ModbusSimServer(meters, host, port, framer, int(ExcCodes(error_code)))
