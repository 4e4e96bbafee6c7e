"""The CJ/T 188 driver and simulator over real TCP, and the driver's configuration."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ems_edge.codecs.cjt188 import (
    decode,
    encode,
    parse_address_reply,
    parse_read_data_reply,
    read_address,
    read_data,
)
from ems_edge.config import parse_config
from ems_edge.drivers import Driver, driver_kind
from ems_edge.errors import ConfigError
from ems_edge.model import BusSpec, FaultKind, PointResult
from ems_edge.simulators.cjt188 import Cjt188Server, cjt188_meter, serve_cjt188
from ems_edge.simulators.model import FaultMode, SimMeter

from .harness import ANY_DC_KEY

SIGNING_KEY = base64.b64encode(b"\x02" * 32).decode()
WATER = "00000000000001"
GAS = "00000000000002"
HEAT = "12345678901234"
TYPES = {WATER: 0x10, GAS: 0x30, HEAT: 0x20}


def document(buses: list[dict[str, Any]]) -> str:
    return yaml.safe_dump(
        {
            "gateway": {"id": "gw-test-01", "signing_key": SIGNING_KEY},
            "data_centres": [
                {
                    "name": "dc1",
                    "host": "127.0.0.1",
                    "key": ANY_DC_KEY,
                }
            ],
            "buses": buses,
        },
        sort_keys=False,
    )


def tcp_bus(port: int, meters: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    bus = {"name": "water-bus", "kind": "cjt188-tcp", "host": "127.0.0.1", "port": port}
    return bus | {"timeout": "0.2s", "retries": 1, "inter_frame_delay": 0, "meters": meters} | extra


def meter(address: str, meter_type: str, *points: dict[str, Any], **extra: Any) -> dict[str, Any]:
    named = [p | {"id": f"{address}-{p['id']}"} for p in points]  # point ids are global
    return {"id": f"m-{address}", "address": address, "meter_type": meter_type, **extra} | {
        "points": named
    }


def point(field: str, unit: str, energy_type: str = "water", **extra: Any) -> dict[str, Any]:
    instantaneous = {"thermal_power", "flow", "supply_temperature", "return_temperature"}
    kind = "instantaneous" if field in instantaneous else "cumulative"
    return {
        "id": field,
        "energy_type": energy_type,
        "kind": kind,
        "unit": unit,
        "interval": "15min",
        "field": field,
    } | extra


def water_meter(address: str = WATER, **extra: Any) -> dict[str, Any]:
    points = (point("current_volume", "m3"), point("settlement_volume", "m3"))
    return meter(address, "cold_water", *points, **extra)


def gas_meter(**extra: Any) -> dict[str, Any]:
    current = point("current_volume", "m3", "gas", interval="30min")
    return meter(GAS, "gas", current, **extra)


def heat_meter(*points: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return meter(HEAT, "heat", *points, **extra)


def heat(field: str, unit: str, **extra: Any) -> dict[str, Any]:
    return point(field, unit, "heat", interval="1h", **extra)


@pytest.fixture
def server() -> Iterator[Cjt188Server]:
    meters = [cjt188_meter(a, t, seed=n + 1) for n, (a, t) in enumerate(TYPES.items())]
    sim = serve_cjt188(meters, types=TYPES)
    yield sim
    sim.close()


Opener = Callable[[dict[str, Any]], tuple[Driver, BusSpec]]


@pytest.fixture
def open_bus() -> Iterator[Opener]:
    drivers: list[Driver] = []

    def opener(bus: dict[str, Any]) -> tuple[Driver, BusSpec]:
        spec = parse_config(document([bus])).buses[0]
        driver = driver_kind(spec.kind).open(spec)
        drivers.append(driver)
        return driver, spec

    yield opener
    for driver in drivers:
        driver.close()


def poll(driver: Driver, bus: BusSpec, index: int = 0) -> list[PointResult]:
    return driver.poll(bus.meters[index], bus.meters[index].points)


def sim_meter(server: Cjt188Server, address: str) -> SimMeter:
    return next(m for m in server.meters if m.address == address)


def values(results: list[PointResult]) -> list[float]:
    assert all(r.fault is None for r in results), [r.fault for r in results]
    return [r.value for r in results if r.value is not None]


ALL_HEAT = [
    heat("settlement_heat", "kWh"),
    heat("current_heat", "kWh"),
    heat("thermal_power", "kW"),
    heat("flow", "m3/h"),
    heat("cumulative_volume", "m3"),
    heat("supply_temperature", "C"),
    heat("return_temperature", "°C"),
    heat("working_hours", "h"),
]


@pytest.mark.parametrize("di_order", ["standard", "swapped"])
def test_water_gas_and_heat_meters_on_one_bus(
    server: Cjt188Server, open_bus: Opener, di_order: str
) -> None:
    sim_meter(server, WATER).set_counter("current_volume", 1234.56)
    sim_meter(server, GAS).set_counter("current_volume", 98765.43)
    sim_meter(server, HEAT).set_counter("current_heat", 5000.0)
    order = {"di_order": di_order}
    driver, bus = open_bus(
        tcp_bus(
            server.port,
            [water_meter(**order), gas_meter(**order), heat_meter(*ALL_HEAT, **order)],
        )
    )
    current, settlement = values(poll(driver, bus, 0))
    assert current == pytest.approx(1234.56, abs=0.05)
    assert 100 <= settlement <= 50_000
    assert values(poll(driver, bus, 1)) == [pytest.approx(98765.43, abs=0.1)]
    readings = dict(zip((p["field"] for p in ALL_HEAT), values(poll(driver, bus, 2)), strict=True))
    assert readings["current_heat"] == pytest.approx(5000.0, abs=0.1)
    assert 27 < readings["thermal_power"] < 560  # 0.1-2 GJ/h in kW, with noise
    assert readings["supply_temperature"] == pytest.approx(60, abs=2)
    assert readings["return_temperature"] == pytest.approx(45, abs=2)
    assert readings["flow"] == pytest.approx(readings["thermal_power"] / (1.163 * 15), rel=0.1)


def test_one_read_per_meter_per_poll(server: Cjt188Server, open_bus: Opener) -> None:
    points = [heat("current_heat", "kWh"), heat("current_heat", "GJ", id="gj"), heat("flow", "L/h")]
    driver, bus = open_bus(tcp_bus(server.port, [heat_meter(*points)]))
    before = sim_meter(server, HEAT).served["current_heat"]
    kwh, gj, litres = values(poll(driver, bus))
    assert sim_meter(server, HEAT).served["current_heat"] == before + 1
    assert gj == pytest.approx(kwh * 0.0036)
    assert litres > 1000


def test_unit_conversion_by_factor(server: Cjt188Server, open_bus: Opener) -> None:
    sim_meter(server, HEAT).set_counter("current_heat", 123456.78)
    points = [
        heat("current_heat", "MWh"),
        heat("current_heat", "kWh", id="scaled", multiplier=2),
        heat("thermal_power", "MW"),
    ]
    driver, bus = open_bus(tcp_bus(server.port, [heat_meter(*points)]))
    mwh, doubled, megawatts = values(poll(driver, bus))
    assert mwh == pytest.approx(123.457, abs=0.001)
    assert doubled == pytest.approx(246913.56, abs=0.5)
    assert 0.02 < megawatts < 0.6


def test_incompatible_unit_from_the_meter_is_a_meter_fault(
    server: Cjt188Server, open_bus: Opener
) -> None:
    server.units[WATER] = {"current_volume": 0x05, "settlement_volume": 0x3F}  # kWh, unknown
    driver, bus = open_bus(tcp_bus(server.port, [water_meter()]))
    current, settlement = poll(driver, bus)
    assert current.fault is not None and settlement.fault is not None
    assert current.fault.kind is FaultKind.METER
    assert (
        current.fault.reason
        == "meter reports current_volume in kWh, which cannot be converted to m3"
    )
    assert settlement.fault.reason == "meter reports settlement_volume in unknown unit code 3F"


@pytest.mark.parametrize(
    ("fault", "kind", "reason"),
    [
        (FaultMode.SILENCE, FaultKind.COMMUNICATION, "no complete answer in 0.2 s"),
        (FaultMode.BAD_CHECKSUM, FaultKind.COMMUNICATION, "CJ/T 188 checksum mismatch"),
        (FaultMode.ERROR_REPLY, FaultKind.METER, "CJ/T 188 error reply: valve abnormal (ST 03 00)"),
    ],
)
def test_faults(
    server: Cjt188Server, open_bus: Opener, fault: FaultMode, kind: FaultKind, reason: str
) -> None:
    driver, bus = open_bus(tcp_bus(server.port, [water_meter(), gas_meter()]))
    sim_meter(server, WATER).fault = fault
    results = poll(driver, bus, 0)
    assert [r.fault.kind if r.fault else None for r in results] == [kind, kind]
    assert results[0].fault is not None and reason in results[0].fault.reason
    assert values(poll(driver, bus, 1))  # the other meter on the bus still answers
    sim_meter(server, WATER).fault = FaultMode.NONE
    assert values(poll(driver, bus, 0))


def test_a_dead_serial_server_is_a_communication_fault(open_bus: Opener) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    driver, bus = open_bus(tcp_bus(port, [water_meter()], retries=0))
    results = poll(driver, bus)
    assert results[0].fault is not None
    assert results[0].fault.kind is FaultKind.COMMUNICATION
    assert "cannot connect" in results[0].fault.reason


def test_a_missing_serial_port_is_a_communication_fault(open_bus: Opener, tmp_path: Path) -> None:
    device = str(tmp_path / "ttyNONE")
    serial = {"name": "b2", "kind": "cjt188-serial", "device": device, "retries": 0}
    driver, bus = open_bus(serial | {"meters": [water_meter()]})
    results = poll(driver, bus)
    assert results[0].fault is not None
    assert results[0].fault.kind is FaultKind.COMMUNICATION
    assert f"cannot open {device}" in results[0].fault.reason


def test_inter_frame_delay_between_exchanges(server: Cjt188Server, open_bus: Opener) -> None:
    driver, bus = open_bus(tcp_bus(server.port, [water_meter()], inter_frame_delay="150ms"))
    values(poll(driver, bus))
    started = time.monotonic()
    values(poll(driver, bus))
    assert time.monotonic() - started >= 0.14


def test_a_meter_configured_with_the_wrong_type_does_not_answer(
    server: Cjt188Server, open_bus: Opener
) -> None:
    wrong = meter(WATER, "hot_water", point("current_volume", "m3"))  # it is a cold water meter
    driver, bus = open_bus(tcp_bus(server.port, [wrong], retries=0))
    (result,) = poll(driver, bus)
    assert result.fault is not None and result.fault.kind is FaultKind.COMMUNICATION


# ----------------------------------------------------------------------------- configuration


def config_error(bus: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document([bus]), source="agent.yaml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("meters", "where", "message"),
    [
        pytest.param(
            [meter(WATER, "cold_water", point("thermal_power", "kW"))],
            "meters[0].points[0].field",
            "'thermal_power' is not a field of a cold_water meter "
            "(one of current_volume, settlement_volume)",
            id="field-not-of-type",
        ),
        pytest.param(
            [water_meter("12345")],
            "meters[0].address",
            "'12345' is not 14 decimal digits",
            id="short-address",
        ),
        pytest.param(
            [water_meter("1234567890123A")],
            "meters[0].address",
            "is not 14 decimal digits",
            id="hex-address",
        ),
        pytest.param(
            [meter(WATER, "steam", point("current_volume", "m3"))],
            "meters[0].meter_type",
            "'steam' is not one of cold_water, hot_water",
            id="meter-type",
        ),
        pytest.param(
            [meter(WATER, "10", point("current_volume", "m3"))],
            "meters[0].meter_type",
            "'10' is not one of",
            id="meter-type-code",
        ),
        pytest.param(
            [meter(WATER, "cold_water", point("current_volume", "kWh"))],
            "meters[0].points[0].unit",
            "'kWh' is not a unit of volume for current_volume (one of m3, L)",
            id="unit",
        ),
        pytest.param(
            [meter(WATER, "cold_water", point("current_volume", "m3", kind="instantaneous"))],
            "meters[0].points[0].kind",
            "current_volume is cumulative",
            id="kind",
        ),
        pytest.param(
            [water_meter(di_order="big")],
            "meters[0].di_order",
            "'big' is not one of standard, swapped",
            id="di-order",
        ),
        pytest.param(
            [water_meter(preamble=5)],
            "meters[0].preamble",
            "5 is above the maximum 4",
            id="preamble",
        ),
        pytest.param(
            [water_meter(), water_meter()],
            "meters[1]",
            "duplicate meter address on bus 'water-bus' '00000000000001'",
            id="duplicate-address",
        ),
        pytest.param(
            [meter(WATER, "cold_water", point("current_volume", "m3", register=3))],
            "meters[0].points[0].register",
            "unknown key",
            id="unknown-key",
        ),
    ],
)
def test_bad_configuration_is_refused_naming_the_field(
    meters: list[dict[str, Any]], where: str, message: str
) -> None:
    error = config_error(tcp_bus(1000, meters))
    assert error.startswith("agent.yaml line ")
    assert f"buses[0].{where}" in error
    assert message in error


def test_serial_bus_defaults_and_endpoints() -> None:
    serial = {"name": "b2", "kind": "cjt188-serial", "device": "/dev/ttyS1", "meters": []}
    serial["meters"] = [heat_meter(heat("current_heat", "GJ"))]
    tcp = tcp_bus(5020, [water_meter()]) | {"name": "b1"}
    config = parse_config(document([tcp, serial]))
    tcp_spec, serial_spec = config.buses
    options = serial_spec.options
    assert (options.baudrate, options.parity, options.bytesize, options.stopbits) == (
        2400,
        "E",
        8,
        1,
    )
    kind = driver_kind("cjt188-serial")
    assert kind.endpoint is not None and kind.endpoint(options) == "serial:/dev/ttyS1"
    assert kind.endpoint(tcp_spec.options) == "tcp:127.0.0.1:5020"
    assert kind.meter_address(serial_spec.meters[0].options) == HEAT
    meter_options = tcp_spec.meters[0].options
    assert (meter_options.meter_type, meter_options.di_order, meter_options.preamble) == (
        0x10,
        "standard",
        2,
    )


def test_serial_bus_settings_are_checked() -> None:
    serial = {"name": "b2", "kind": "cjt188-serial", "device": "/dev/ttyS1", "baudrate": 2500}
    serial["meters"] = [water_meter()]
    assert "buses[0].baudrate: 2500 is not one of 300, 600" in config_error(serial)


def test_collection_floors_apply() -> None:
    slow_gas = meter(GAS, "gas", point("current_volume", "m3", "gas", interval="1h"))
    error = config_error(tcp_bus(1000, [slow_gas]))
    assert "interval: 3600 s is slower than the floor for gas" in error


# ----------------------------------------------------------------------------- simulator


def exchange(port: int, request: bytes, timeout: float = 0.5) -> bytes:
    """Send raw bytes and gather whatever comes back within ``timeout``."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.settimeout(timeout)
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
                if decode(answer)[1] is not None:
                    break
        except TimeoutError:
            pass
        return answer


@pytest.mark.parametrize(("di_order", "di"), [("standard", "1F 90"), ("swapped", "90 1F")])
def test_simulator_answers_in_the_request_order(
    server: Cjt188Server, di_order: str, di: str
) -> None:
    answer = exchange(server.port, encode(read_data(0x10, WATER, 0x42, di_order), 2))
    assert answer.startswith(bytes.fromhex("FE FE 68 10 01 00 00 00 00 00 00 81 16" + di))
    _, frame = decode(answer)
    assert frame is not None
    assert parse_read_data_reply(frame, 0x42).di_order == di_order


def test_simulator_stays_silent_for_another_type_or_address(server: Cjt188Server) -> None:
    assert exchange(server.port, encode(read_data(0x30, WATER, 1)), 0.2) == b""
    assert exchange(server.port, encode(read_data(0x10, "99999999999999", 1)), 0.2) == b""
    assert exchange(server.port, encode(read_address(1)), 0.2) == b""  # three meters on the bus
    wildcard = exchange(server.port, encode(read_data(0xAA, GAS, 1)))
    assert decode(wildcard)[1] is not None


def test_read_address_with_one_meter_on_the_bus() -> None:
    with serve_cjt188([cjt188_meter(GAS, 0x30)], types={GAS: 0x30}) as sim:
        answer = exchange(sim.port, encode(read_address(9, "swapped"), 4))
    _, frame = decode(answer)
    assert frame is not None and parse_address_reply(frame, 9) == GAS
    assert frame.meter_type == 0x30


def test_simulator_survives_garbage_and_many_clients(server: Cjt188Server) -> None:
    garbage = bytes(range(256)) * 4 + b"\x68\x10" + bytes(20) + b"\x68" * 30
    request = encode(read_data(0x10, WATER, 7))
    answers: list[bytes] = []

    def client() -> None:
        answers.append(exchange(server.port, garbage + request, 1.0))

    threads = [threading.Thread(target=client) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 20
    for answer in answers:
        _, frame = decode(answer)
        assert frame is not None and parse_read_data_reply(frame, 7).address == WATER
