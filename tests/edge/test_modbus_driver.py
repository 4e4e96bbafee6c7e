"""The Modbus driver against the Modbus simulator over real TCP, configured from YAML.

Every test polls through a real socket on 127.0.0.1 (port 0): Modbus TCP (MBAP framing)
and Modbus RTU frames carried over TCP to the same simulator (the serial client opens
``socket://host:port``, as a serial server would be reached).
"""

from __future__ import annotations

import base64
import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ems_edge.codecs.modbus_values import RegisterFormat
from ems_edge.config import parse_config
from ems_edge.drivers import driver_kind
from ems_edge.drivers.modbus import (
    MODBUS_RTU,
    MODBUS_TCP,
    Function,
    ModbusDriver,
    ModbusMeterOptions,
    RegisterPoint,
    RtuBusOptions,
    TcpBusOptions,
    plan_reads,
)
from ems_edge.errors import ConfigError
from ems_edge.model import BusSpec, FaultKind, PointResult
from ems_edge.simulators.modbus import (
    POWER_METER_REGISTERS,
    ModbusSimServer,
    modbus_meter,
    parse_register_key,
    serve_modbus,
)
from ems_edge.simulators.model import FaultMode, SimMeter, SimQuantity

from .harness import ANY_DC_KEY

SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()

#: One meter with every data type, both orders, scale and offset; constant values.
#: key -> (value, point settings)
TYPED: dict[str, tuple[float, dict[str, Any]]] = {
    "holding:0:int16": (-1234.0, {"type": "int16"}),
    "holding:1:uint16:scale=0.1": (230.5, {"type": "uint16", "scale": 0.1}),
    "holding:2:int32:word=little": (-123456.0, {"type": "int32", "word_order": "little"}),
    "holding:4:uint32:scale=0.01": (1234.56, {"type": "uint32", "scale": 0.01}),
    "holding:6:float32:byte=little": (3.5, {"type": "float32", "byte_order": "little"}),
    "holding:8:float64:word=little:byte=little": (
        12345.678,
        {"type": "float64", "word_order": "little", "byte_order": "little"},
    ),
    "input:0:float32": (42.25, {"type": "float32"}),
    "input:2:int16:scale=0.1:offset=-40": (21.5, {"type": "int16", "scale": 0.1, "offset": -40}),
    "coil:3:bool": (1.0, {}),
    "coil:4:bool": (0.0, {}),
    "discrete:17:bool": (1.0, {"scale": 5}),
}


def typed_meter(unit_id: int) -> SimMeter:
    """A meter holding the constant values of :data:`TYPED`."""
    quantities = {key: SimQuantity(False, value, noise=0.0) for key, (value, _) in TYPED.items()}
    return SimMeter(str(unit_id), quantities)


def register_of(key: str, **settings: Any) -> dict[str, Any]:
    """The point's ``register`` mapping for a simulator key (settings given explicitly)."""
    function, address = key.split(":")[:2]
    return {"function": function, "address": int(address), **settings}


def point(point_id: str, register: dict[str, Any], kind: str = "instantaneous") -> dict[str, Any]:
    """A point mapping with the generic keys filled in."""
    return {
        "id": point_id,
        "energy_type": "electricity",
        "kind": kind,
        "unit": "kWh",
        "interval": "15min",
        "register": register,
    }


def typed_points(prefix: str) -> list[dict[str, Any]]:
    """Points reading every quantity of :func:`typed_meter`."""
    return [
        point(f"{prefix}.{i}", register_of(key, **settings))
        for i, (key, (_, settings)) in enumerate(TYPED.items())
    ]


def power_points(prefix: str) -> list[dict[str, Any]]:
    """Points reading the register map of :func:`modbus_meter`."""
    points = []
    for i, (key, _, _, cumulative) in enumerate(POWER_METER_REGISTERS):
        source = parse_register_key(key)
        register = register_of(key, type=source.format.data_type, scale=source.format.scale)
        points.append(
            point(f"{prefix}.{i}", register, "cumulative" if cumulative else "instantaneous")
        )
    return points


def bus_doc(port: int, meters: list[dict[str, Any]], **settings: Any) -> dict[str, Any]:
    """A modbus-tcp bus on the simulator's port (short timeout, no inter-frame delay)."""
    return {
        "name": "plant",
        "kind": "modbus-tcp",
        "host": "127.0.0.1",
        "port": port,
        "timeout": "200ms",
        "retries": 1,
        "inter_frame_delay": 0,
        **settings,
        "meters": meters,
    }


def config_text(*buses: dict[str, Any]) -> str:
    """A whole agent configuration around ``buses``."""
    document = {
        "gateway": {"id": "gw-test-01", "signing_key": SIGNING_KEY},
        "data_centres": [
            {
                "name": "dc1",
                "host": "127.0.0.1",
                "key": ANY_DC_KEY,
            }
        ],
        "buses": list(buses),
    }
    return yaml.safe_dump(document, sort_keys=False)


def load_bus(*buses: dict[str, Any]) -> BusSpec:
    """The first bus of the configuration."""
    return parse_config(config_text(*buses)).buses[0]


@contextlib.contextmanager
def opened(bus: BusSpec) -> Iterator[ModbusDriver]:
    """The driver of ``bus`` (found by its kind, as the agent does), closed at the end."""
    driver = driver_kind(bus.kind).open(bus)
    assert isinstance(driver, ModbusDriver)
    try:
        yield driver
    finally:
        driver.close()


def poll_first(bus: BusSpec) -> list[PointResult]:
    """Open ``bus``, poll its first meter once, close it."""
    with opened(bus) as driver:
        return driver.poll(bus.meters[0], bus.meters[0].points)


@pytest.fixture
def sim() -> Iterator[ModbusSimServer]:
    """Two power meters (units 1, 2) and a typed meter (unit 7) on one port."""
    server = serve_modbus([modbus_meter(1), modbus_meter(2, seed=5), typed_meter(7)])
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sim_bus(sim: ModbusSimServer) -> BusSpec:
    """The bus reading all three meters of :func:`sim`."""
    meters = [
        {"id": "pm1", "unit_id": 1, "points": power_points("pm1")},
        {"id": "pm2", "unit_id": 2, "points": power_points("pm2")},
        {"id": "typed", "unit_id": 7, "points": typed_points("typed")},
    ]
    return load_bus(bus_doc(sim.port, meters))


@pytest.fixture
def driver(sim_bus: BusSpec) -> Iterator[ModbusDriver]:
    """The opened driver of :func:`sim_bus`, closed at the end."""
    with opened(sim_bus) as bus_driver:
        yield bus_driver


def poll(driver: ModbusDriver, meter_index: int) -> list[PointResult]:
    """Poll one meter of the driver's bus."""
    meter = driver.bus.meters[meter_index]
    return driver.poll(meter, meter.points)


def values(results: list[PointResult]) -> list[float | None]:
    """The values of ``results`` (failing loudly on a fault)."""
    faults = [r.fault for r in results if r.fault is not None]
    assert not faults
    return [r.value for r in results]


# --- values --------------------------------------------------------------------------------


def test_every_type_order_scale_and_offset_reads_back(driver: ModbusDriver) -> None:
    expected = [
        value * settings.get("scale", 1) if key.startswith("discrete") else value
        for key, (value, settings) in TYPED.items()
    ]
    assert values(poll(driver, 2)) == pytest.approx(expected, rel=1e-6)


def test_several_unit_ids_on_one_port(driver: ModbusDriver, sim: ModbusSimServer) -> None:
    first, second = values(poll(driver, 0)), values(poll(driver, 1))
    for reading in (first, second):
        energy, reactive, *volts = reading[:5]
        assert energy is not None and reactive is not None and energy > 900
        assert all(v is not None and 200 < v < 260 for v in volts)
        assert reading[9] == pytest.approx(0.95, abs=0.03)
        assert reading[10] == pytest.approx(50.0, abs=0.5)
    assert first[0] != second[0]  # counters start differently per meter
    pm1 = sim.meters[0]
    assert set(pm1.served.values()) == {1}  # one read of every quantity, none twice
    assert len(pm1.served) == len(POWER_METER_REGISTERS)


def test_counters_grow_between_polls(driver: ModbusDriver, sim: ModbusSimServer) -> None:
    key = POWER_METER_REGISTERS[1][0]
    sim.meters[0].set_counter(key, 5000.0)
    before = values(poll(driver, 0))[1]
    time.sleep(0.05)
    after = values(poll(driver, 0))[1]
    assert before is not None and after is not None
    assert 5000.0 <= before <= after < 5001.0


def test_float_nan_is_a_meter_fault(sim: ModbusSimServer) -> None:
    sim.meters[2].quantities["input:0:float32"] = SimQuantity(False, math.nan, noise=0.0)
    results = poll_first(
        load_bus(bus_doc(sim.port, [{"id": "t", "unit_id": 7, "points": typed_points("t")}]))
    )
    fault = results[6].fault
    assert fault is not None and fault.kind is FaultKind.METER
    assert fault.reason.startswith("input 0 (float32): impossible value")
    assert [r.fault for i, r in enumerate(results) if i != 6] == [None] * (len(results) - 1)


# --- grouping ------------------------------------------------------------------------------


def source(function: str, address: int, data_type: str) -> RegisterPoint:
    """A register point for planning tests."""
    return RegisterPoint(Function(function), address, RegisterFormat(data_type))


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        # contiguous registers of one function: one request
        (
            [("holding", 0, "float32"), ("holding", 2, "uint16"), ("holding", 3, "float64")],
            [("holding", 0, 7)],
        ),
        # a gap splits (unmapped registers are never read), order of points does not matter
        (
            [("holding", 10, "uint16"), ("holding", 0, "float32"), ("holding", 2, "uint16")],
            [("holding", 0, 3), ("holding", 10, 1)],
        ),
        # overlapping points share registers
        ([("holding", 0, "float32"), ("holding", 1, "uint16")], [("holding", 0, 2)]),
        # functions are separate address spaces
        (
            [
                ("holding", 0, "uint16"),
                ("input", 1, "uint16"),
                ("coil", 0, "bool"),
                ("coil", 1, "bool"),
                ("discrete", 5, "bool"),
            ],
            [("coil", 0, 2), ("discrete", 5, 1), ("holding", 0, 1), ("input", 1, 1)],
        ),
        # at most 125 registers per request: 63 float32 take 126
        (
            [("holding", 2 * i, "float32") for i in range(63)],
            [("holding", 0, 124), ("holding", 124, 2)],
        ),
        # exactly 125 fit; the next register starts a new request
        (
            [("holding", 4 * i, "float64") for i in range(31)]
            + [("holding", 124, "uint16"), ("holding", 125, "float32")],
            [("holding", 0, 125), ("holding", 125, 2)],
        ),
    ],
)
def test_reads_are_grouped_into_few_requests(
    sources: list[tuple[str, int, str]], expected: list[tuple[str, int, int]]
) -> None:
    points = [source(*s) for s in sources]
    blocks = plan_reads(points)
    assert [(b.function.value, b.start, b.count) for b in blocks] == expected
    assert sorted(i for b in blocks for i in b.members) == list(range(len(points)))
    for block in blocks:
        for index in block.members:
            assert block.start <= points[index].address
            assert points[index].end <= block.start + block.count


def test_grouped_reads_decode_each_point_from_its_registers() -> None:
    # 80 float32 on 160 contiguous registers: two requests, every value in its place.
    quantities = {
        f"holding:{2 * i}:float32": SimQuantity(False, 100.0 + i, noise=0.0) for i in range(80)
    }
    points = [point(f"g.{i}", register_of(key, type="float32")) for i, key in enumerate(quantities)]
    with serve_modbus([SimMeter("9", quantities)]) as server:
        bus = load_bus(bus_doc(server.port, [{"id": "g", "unit_id": 9, "points": points}]))
        assert len(plan_reads([p.source for p in bus.meters[0].points])) == 2
        results = poll_first(bus)
    assert values(results) == [100.0 + i for i in range(80)]


def test_a_refused_group_is_read_point_by_point(sim: ModbusSimServer) -> None:
    # holding 14 is unmapped: the merged request 0-14 gets exception 2, then each point alone.
    points = [
        point("x.energy", register_of("holding:0", type="float32")),
        point("x.voltage", register_of("holding:4", type="uint16", scale=0.1)),
        point("x.gap", register_of("holding:14", type="uint16")),
    ]
    bus = load_bus(
        bus_doc(
            sim.port,
            [
                {
                    "id": "x",
                    "unit_id": 1,
                    "points": [
                        *[
                            point(f"x.{i}", register_of(f"holding:{a}", type="uint16"))
                            for i, a in enumerate(range(1, 14))
                        ],
                        *points,
                    ],
                }
            ],
        )
    )
    results = poll_first(bus)
    assert all(r.fault is None for r in results[:-1])
    gap = results[-1].fault
    assert gap is not None and gap.kind is FaultKind.METER
    assert gap.reason == "Modbus exception 2 (illegal data address) from unit 1 reading holding 14"


# --- faults --------------------------------------------------------------------------------


def test_silence_is_a_communication_fault_after_retries(
    driver: ModbusDriver, sim: ModbusSimServer
) -> None:
    sim.meters[2].fault = FaultMode.SILENCE
    started = time.monotonic()
    results = poll(driver, 2)
    elapsed = time.monotonic() - started
    reasons = {
        r.fault.reason for r in results if r.fault and r.fault.kind is FaultKind.COMMUNICATION
    }
    assert reasons == {"no valid answer from unit 7 within 0.2 s"}
    assert all(r.value is None for r in results)
    # 2 attempts of the first request only: the meter's other 3 requests are skipped
    assert 0.38 < elapsed < 0.8
    assert not sim.meters[2].served
    # the connection still serves the other meters, and the meter once it answers again
    assert len(values(poll(driver, 0))) == len(POWER_METER_REGISTERS)
    sim.meters[2].fault = FaultMode.NONE
    assert len(values(poll(driver, 2))) == len(TYPED)


def test_short_answer_on_tcp_is_a_communication_fault(
    driver: ModbusDriver, sim: ModbusSimServer
) -> None:
    sim.meters[0].fault = FaultMode.BAD_CHECKSUM
    results = poll(driver, 0)
    assert {r.fault.kind for r in results if r.fault} == {FaultKind.COMMUNICATION}
    assert len([r for r in results if r.fault]) == len(results)
    sim.meters[0].fault = FaultMode.NONE
    assert len(values(poll(driver, 0))) == len(POWER_METER_REGISTERS)


@pytest.mark.parametrize(
    ("code", "words"),
    [(4, "server device failure"), (6, "server device busy"), (2, "illegal data address")],
)
def test_error_reply_is_a_meter_fault_naming_the_exception(
    driver: ModbusDriver, sim: ModbusSimServer, code: int, words: str
) -> None:
    sim.error_code = code
    sim.meters[1].fault = FaultMode.ERROR_REPLY
    results = poll(driver, 1)
    for result in results:
        assert result.fault is not None and result.fault.kind is FaultKind.METER
        assert result.fault.reason.startswith(f"Modbus exception {code} ({words}) from unit 2")
    assert values(poll(driver, 0))  # its neighbour answers normally


def test_gateway_exceptions_blame_the_line(driver: ModbusDriver, sim: ModbusSimServer) -> None:
    sim.error_code = 0x0B
    sim.meters[0].fault = FaultMode.ERROR_REPLY
    fault = poll(driver, 0)[0].fault
    assert fault is not None and fault.kind is FaultKind.COMMUNICATION
    assert "(gateway target device failed to respond)" in fault.reason


def test_unknown_unit_id_gets_no_answer(sim: ModbusSimServer) -> None:
    bus = load_bus(
        bus_doc(sim.port, [{"id": "ghost", "unit_id": 99, "points": power_points("g")}], retries=0)
    )
    results = poll_first(bus)
    assert {r.fault.reason for r in results if r.fault} == {
        "no valid answer from unit 99 within 0.2 s"
    }


def free_port() -> int:
    """A TCP port nothing listens on (the OS picks it, then it is released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_server_down_is_a_communication_fault() -> None:
    port = free_port()
    bus = load_bus(bus_doc(port, [{"id": "m", "unit_id": 1, "points": power_points("m")}]))
    results = poll_first(bus)
    assert {r.fault.reason for r in results if r.fault} == {
        f"cannot connect to tcp:127.0.0.1:{port}"
    }
    assert all(r.fault and r.fault.kind is FaultKind.COMMUNICATION for r in results)


def test_server_going_away_and_coming_back() -> None:
    meter = modbus_meter(3)
    server = serve_modbus([meter])
    port = server.port
    bus = load_bus(bus_doc(port, [{"id": "m", "unit_id": 3, "points": power_points("m")}]))
    with opened(bus) as driver:
        assert values(driver.poll(bus.meters[0], bus.meters[0].points))
        server.close()
        results = driver.poll(bus.meters[0], bus.meters[0].points)
        assert all(r.fault and r.fault.kind is FaultKind.COMMUNICATION for r in results)
        with serve_modbus([meter], port=port):
            assert values(driver.poll(bus.meters[0], bus.meters[0].points))


def test_inter_frame_delay_is_kept_between_requests(sim: ModbusSimServer) -> None:
    bus = load_bus(
        bus_doc(
            sim.port,
            [{"id": "t", "unit_id": 7, "points": typed_points("t")}],
            inter_frame_delay="100ms",
        )
    )
    started = time.monotonic()
    values(poll_first(bus))  # four requests: holding, input, coil, discrete
    assert time.monotonic() - started >= 0.3


# --- Modbus RTU (RTU frames over TCP, as through a serial server) ----------------------------


@pytest.fixture
def rtu_sim() -> Iterator[ModbusSimServer]:
    """The typed meter behind a server speaking RTU framing."""
    with serve_modbus([typed_meter(7), modbus_meter(1)], framer="rtu") as server:
        yield server


def rtu_bus(port: int, **settings: Any) -> BusSpec:
    """A modbus-rtu bus reaching ``port`` through pyserial's socket:// URL."""
    meters = [
        {"id": "t", "unit_id": 7, "points": typed_points("t")},
        {"id": "p", "unit_id": 1, "points": power_points("p")},
    ]
    return load_bus(
        {
            "name": "line1",
            "kind": "modbus-rtu",
            "device": f"socket://127.0.0.1:{port}",
            "baudrate": 115200,
            "timeout": "300ms",
            "retries": 0,
            "inter_frame_delay": 0,
            **settings,
            "meters": meters,
        }
    )


def test_rtu_reads_every_type_and_rejects_a_bad_crc(rtu_sim: ModbusSimServer) -> None:
    bus = rtu_bus(rtu_sim.port)
    with opened(bus) as driver:
        typed = driver.poll(bus.meters[0], bus.meters[0].points)
        assert values(typed)[:8] == pytest.approx([v for v, _ in list(TYPED.values())[:8]])
        rtu_sim.meters[0].fault = FaultMode.BAD_CHECKSUM
        damaged = driver.poll(bus.meters[0], bus.meters[0].points)
        assert {r.fault.kind for r in damaged if r.fault} == {FaultKind.COMMUNICATION}
        assert len(values(driver.poll(bus.meters[1], bus.meters[1].points))) == 11


def test_rtu_port_that_cannot_open_is_a_communication_fault(tmp_path: Any) -> None:
    device = str(tmp_path / "ttyUSB9")
    bus = load_bus(
        {
            "name": "line1",
            "kind": "modbus-rtu",
            "device": device,
            "retries": 0,
            "meters": [{"id": "m", "unit_id": 1, "points": power_points("m")}],
        }
    )
    results = poll_first(bus)
    assert {r.fault.reason for r in results if r.fault} == {f"cannot connect to serial:{device}"}


# --- the simulator -------------------------------------------------------------------------


def test_simulator_survives_garbage_and_many_clients(
    sim: ModbusSimServer, sim_bus: BusSpec
) -> None:
    for garbage in (
        b"\x00" * 7,
        bytes(range(256)),
        b"\x00\x01\x00\x00\x00\x02\x07\x99",
        b"\xff" * 300,
    ):
        with socket.create_connection(("127.0.0.1", sim.port), timeout=1) as raw:
            raw.sendall(garbage)
    failures: list[str] = []

    def poll_all() -> None:
        with opened(sim_bus) as driver:
            for _ in range(5):
                for index in range(3):
                    failures.extend(r.fault.reason for r in poll(driver, index) if r.fault)

    threads = [threading.Thread(target=poll_all) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sim.meters[0].served[POWER_METER_REGISTERS[0][0]] == 12 * 5


def test_simulator_refuses_writes_and_bad_keys(sim: ModbusSimServer) -> None:
    from pymodbus.client import ModbusTcpClient

    client = ModbusTcpClient("127.0.0.1", port=sim.port, timeout=1, retries=0)
    try:
        reply = client.write_register(0, 1, device_id=1)
        assert reply.isError() and reply.exception_code == 2  # read-only registers
    finally:
        client.close()
    for bad in (
        "holding:0",
        "holding:x:float32",
        "holding:0:float16",
        "coil:0:float32",
        "holding:65535:float32",
        "holding:0:float32:word=middle",
        "input:0:int16:gain=2",
    ):
        with pytest.raises(ValueError, match="Modbus quantity key"):
            parse_register_key(bad)
    with pytest.raises(ValueError, match="overlap"):
        serve_modbus(
            [
                SimMeter(
                    "1",
                    {
                        "holding:0:float32": SimQuantity(False, 1.0),
                        "holding:1:uint16": SimQuantity(False, 1.0),
                    },
                )
            ]
        )
    with pytest.raises(ValueError, match="not 1-247"):
        serve_modbus([SimMeter("0", {"holding:0:uint16": SimQuantity(False, 1.0)})])


# --- configuration -------------------------------------------------------------------------


def test_bus_meter_and_point_options_are_parsed() -> None:
    tcp = load_bus(
        {
            "name": "b",
            "kind": "modbus-tcp",
            "host": "10.0.0.7",
            "meters": [{"id": "m", "unit_id": 0, "points": power_points("m")[:1]}],
        }
    )
    assert tcp.options == TcpBusOptions("10.0.0.7", 502)
    assert tcp.meters[0].options == ModbusMeterOptions(0)
    assert tcp.meters[0].points[0].source == RegisterPoint(
        Function.HOLDING, 0, RegisterFormat("float32")
    )
    assert MODBUS_TCP.endpoint is not None and MODBUS_RTU.endpoint is not None
    assert MODBUS_TCP.endpoint(tcp.options) == "tcp:10.0.0.7:502"
    assert MODBUS_TCP.meter_address(tcp.meters[0].options) == "0"
    rtu = load_bus(
        {
            "name": "b",
            "kind": "modbus-rtu",
            "device": "/dev/ttyS1",
            "meters": [{"id": "m", "unit_id": 247, "points": typed_points("m")}],
        }
    )
    assert rtu.options == RtuBusOptions("/dev/ttyS1", 9600, "N", 8, 1)
    assert MODBUS_RTU.endpoint(rtu.options) == "serial:/dev/ttyS1"
    assert rtu.meters[0].points[2].source.format == RegisterFormat("int32", word_order="little")
    assert rtu.meters[0].points[8].source.format == RegisterFormat("bool")


def edit(document: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with ``...`` delete) the value at a dotted path such as ``meters.0.unit_id``."""
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value


REG = "meters.0.points.0.register"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("port", 70000, r"buses\[0\]\.port: 70000 is above the maximum 65535"),
        ("host", ..., r"buses\[0\]: 'host' is required"),
        ("meters.0.unit_id", 248, r"meters\[0\]\.unit_id: 248 is above the maximum 247"),
        ("meters.0.unit_id", "five", r"unit_id: must be an integer"),
        (f"{REG}.function", "holdings", r"register\.function: 'holdings' is not one of"),
        (f"{REG}.address", 65535, r"register\.address: a float32 at 65535 runs past 65535"),
        (f"{REG}.address", -1, r"register\.address: -1 is below the minimum 0"),
        (f"{REG}.type", "bool", r"register\.type: bool does not fit a holding point \(use int16"),
        (f"{REG}.type", "float16", r"register\.type: 'float16' is not one of"),
        (f"{REG}.type", ..., r"register: 'type' is required"),
        (f"{REG}.word_order", "middle", r"register\.word_order: 'middle' is not one of big"),
        (f"{REG}.byte_order", 1, r"register\.byte_order: 1 is not one of big"),
        (f"{REG}.scale", 0, r"register\.scale: 0 would make every reading equal to the offset"),
        (f"{REG}.offset", "ten", r"register\.offset: must be a number"),
        (f"{REG}.scael", 2, r"register\.scael: unknown key"),
        ("meters.0.points.0.register", ..., r"points\[0\]: 'register' is required"),
        ("meters.0.points.0.registers", {}, r"points\[0\]\.registers: unknown key"),
    ],
)
def test_bad_tcp_configuration_is_refused_naming_the_field(
    path: str, value: Any, message: str
) -> None:
    bus = bus_doc(502, [{"id": "m", "unit_id": 1, "points": power_points("m")[:1]}])
    edit(bus, path, value)
    with pytest.raises(ConfigError, match=message):
        load_bus(bus)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("baudrate", 9601, r"baudrate: 9601 is not a standard rate"),
        ("parity", "X", r"parity: 'X' is not one of N, E, O"),
        ("bytesize", 9, r"bytesize: 9 is above the maximum 8"),
        ("stopbits", 3, r"stopbits: 3 is above the maximum 2"),
        ("device", ..., r"'device' is required"),
        ("meters.0.unit_id", 0, r"unit_id: 0 is the broadcast address on a serial line"),
        (f"{REG}.type", "float32", r"register\.type: float32 does not fit a coil point \(use bool"),
        (f"{REG}.word_order", "big", r"register\.word_order: applies to registers, not to a coil"),
    ],
)
def test_bad_rtu_configuration_is_refused_naming_the_field(
    path: str, value: Any, message: str
) -> None:
    coil = point("m.c", {"function": "coil", "address": 3})
    bus = {
        "name": "line",
        "kind": "modbus-rtu",
        "device": "/dev/ttyS0",
        "meters": [{"id": "m", "unit_id": 1, "points": [coil]}],
    }
    edit(bus, path, value)
    with pytest.raises(ConfigError, match=message):
        load_bus(bus)


def test_duplicate_unit_ids_and_shared_lines_are_refused() -> None:
    meters = [
        {"id": "a", "unit_id": 5, "points": power_points("a")[:1]},
        {"id": "b", "unit_id": 5, "points": power_points("b")[:1]},
    ]
    with pytest.raises(ConfigError, match="duplicate meter address on bus 'plant' '5'"):
        load_bus(bus_doc(502, meters))
    first = bus_doc(502, meters[:1])
    second = {**bus_doc(502, meters[1:]), "name": "other"}
    with pytest.raises(ConfigError, match=r"duplicate bus line .* 'tcp:127\.0\.0\.1:502'"):
        load_bus(first, second)
