"""The DL/T 645 driver against the simulated bus over real TCP, and its configuration."""

from __future__ import annotations

import base64
import copy
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ems_edge.codecs import CHINA_STANDARD_TIME
from ems_edge.codecs.dlt645 import (
    decode,
    encode,
    parse_address_reply,
    parse_read_reply,
    read_address,
    read_data,
    reply_read,
)
from ems_edge.config import parse_config
from ems_edge.drivers import Driver, driver_kind
from ems_edge.errors import ConfigError
from ems_edge.model import BusSpec, FaultKind, PointResult
from ems_edge.simulators.dlt645 import Dlt645Server, dlt645_meter, serve_dlt645
from ems_edge.simulators.model import FaultMode, SimMeter, SimQuantity

from .harness import ANY_DC_KEY

SIGNING_KEY = base64.b64encode(b"\x01" * 32).decode()
METER_1 = "000000000001"
METER_2 = "000000000002"
OLD_METER = "000000001997"
EXACT = "000000000003"  # instantaneous values without noise, to check scaling exactly


def document(buses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "gateway": {"id": "gw-test-01", "signing_key": SIGNING_KEY},
        "data_centres": [
            {
                "name": "dc1",
                "host": "127.0.0.1",
                "key": ANY_DC_KEY,
            }
        ],
        "buses": buses,
    }


def tcp_bus(port: int, meters: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    bus = {"name": "bus1", "kind": "dlt645-tcp", "host": "127.0.0.1", "port": port}
    return bus | {"timeout": "0.2s", "retries": 1, "inter_frame_delay": 0, "meters": meters} | extra


def meter(address: str, *points: dict[str, Any], **extra: Any) -> dict[str, Any]:
    named = [p | {"id": f"{address}-{p['id']}"} for p in points]  # point ids are global
    return {"id": f"m-{address}", "address": address, **extra, "points": named}


def point(di: str, kind: str = "instantaneous", unit: str = "V", **extra: Any) -> dict[str, Any]:
    return {"id": di, "energy_type": "electricity", "kind": kind, "unit": unit, "di": di} | extra


def energy(di: str = "00010000", **extra: Any) -> dict[str, Any]:
    return point(di, "cumulative", "kWh") | extra


@pytest.fixture
def server() -> Iterator[Dlt645Server]:
    exact = SimMeter(
        EXACT,
        {
            "02020100": SimQuantity(cumulative=False, rate=12.345, noise=0.0),
            "02020200": SimQuantity(cumulative=False, rate=-1.5, noise=0.0),
            "02010100": SimQuantity(cumulative=False, rate=1234.5, noise=0.0),
        },
    )
    meters = [
        dlt645_meter(METER_1, seed=1),
        dlt645_meter(METER_2, seed=2),
        dlt645_meter(OLD_METER, seed=3, version=1997),
        exact,
    ]
    sim = serve_dlt645(meters, versions={OLD_METER: 1997})
    yield sim
    sim.close()


Opener = Callable[[dict[str, Any]], tuple[Driver, BusSpec]]


@pytest.fixture
def open_bus() -> Iterator[Opener]:
    drivers: list[Driver] = []

    def opener(bus: dict[str, Any]) -> tuple[Driver, BusSpec]:
        config = parse_config(yaml.safe_dump(document([bus]), sort_keys=False))
        spec = config.buses[0]
        driver = driver_kind(spec.kind).open(spec)
        drivers.append(driver)
        return driver, spec

    yield opener
    for driver in drivers:
        driver.close()


def poll(driver: Driver, bus: BusSpec, index: int = 0) -> list[PointResult]:
    return driver.poll(bus.meters[index], bus.meters[index].points)


def sim_meter(server: Dlt645Server, address: str) -> SimMeter:
    return next(m for m in server.meters if m.address == address)


def test_several_meters_on_one_port(server: Dlt645Server, open_bus: Opener) -> None:
    phases = [point(f"0201{p}00") for p in ("01", "02", "03")]
    driver, bus = open_bus(
        tcp_bus(
            server.port,
            [
                meter(METER_1, energy(), *phases, point("02800002", unit="Hz")),
                meter(METER_2, energy(), point("02020100", unit="A")),
            ],
        )
    )
    first, second = poll(driver, bus, 0), poll(driver, bus, 1)
    assert all(r.fault is None for r in first + second)
    for results, address in ((first, METER_1), (second, METER_2)):
        counter = sim_meter(server, address).quantities["00010000"].value
        assert results[0].value == pytest.approx(counter, abs=0.006)
        assert sim_meter(server, address).served["00010000"] == 1
    assert [r.value is not None and 190 < r.value < 250 for r in first[1:4]] == [True] * 3
    assert first[4].value is not None and 49.5 < first[4].value < 50.5
    assert second[1].value is not None and 0 < second[1].value < 100
    assert first[0].value != second[0].value  # each address answered for itself


def test_signed_values_multiplier_and_register_wrap(server: Dlt645Server, open_bus: Opener) -> None:
    driver, bus = open_bus(
        tcp_bus(
            server.port,
            [
                meter(
                    EXACT,
                    point("02020100", unit="A") | {"multiplier": 20},
                    point("02020200", unit="A"),
                    point("02010100"),
                )
            ],
        )
    )
    assert [r.value for r in poll(driver, bus)] == [pytest.approx(246.9), -1.5, 234.5]


def test_a_1997_meter(server: Dlt645Server, open_bus: Opener) -> None:
    driver, bus = open_bus(
        tcp_bus(
            server.port,
            [
                meter(
                    OLD_METER, energy("9010"), point("B611"), point("B650", unit="1"), version=1997
                )
            ],
        )
    )
    results = poll(driver, bus)
    counter = sim_meter(server, OLD_METER).quantities["9010"].value
    assert results[0].value == pytest.approx(counter, abs=0.006)
    assert results[1].value is not None and 190 <= results[1].value <= 250
    assert results[1].value == int(results[1].value)  # 1997 voltages are whole volts
    assert results[2].value is not None and 0.8 < results[2].value < 1


def test_silent_meter_is_a_communication_fault(server: Dlt645Server, open_bus: Opener) -> None:
    sim_meter(server, METER_1).fault = FaultMode.SILENCE
    driver, bus = open_bus(
        tcp_bus(
            server.port, [meter(METER_1, energy(), point("02010100")), meter(METER_2, energy())]
        )
    )
    started = time.monotonic()
    results = poll(driver, bus)
    assert time.monotonic() - started < 1.0  # 2 tries of 0.2 s, then the rest is not asked
    for result in results:
        assert result.fault is not None and result.fault.kind is FaultKind.COMMUNICATION
        assert result.fault.reason.startswith(f"DL/T 645 meter {METER_1} did not answer: ")
        assert "no complete answer in 0.2 s" in result.fault.reason
    assert sum(sim_meter(server, METER_1).served.values()) == 0
    assert poll(driver, bus, 1)[0].fault is None  # the other meter on the bus still answers


def test_unknown_address_is_silence(server: Dlt645Server, open_bus: Opener) -> None:
    driver, bus = open_bus(tcp_bus(server.port, [meter("000000000777", energy())], retries=0))
    [result] = poll(driver, bus)
    assert result.fault is not None and result.fault.kind is FaultKind.COMMUNICATION
    assert "000000000777 did not answer" in result.fault.reason


def test_bad_checksum_is_a_communication_fault_retried(
    server: Dlt645Server, open_bus: Opener
) -> None:
    sim_meter(server, METER_2).fault = FaultMode.BAD_CHECKSUM
    driver, bus = open_bus(tcp_bus(server.port, [meter(METER_2, energy())], retries=2))
    [result] = poll(driver, bus)
    assert result.fault is not None and result.fault.kind is FaultKind.COMMUNICATION
    assert result.fault.reason.startswith(f"DL/T 645 meter {METER_2}: garbled answer: bad checksum")
    assert sim_meter(server, METER_2).served["00010000"] == 3  # asked once and retried twice


def test_error_reply_is_a_meter_fault(server: Dlt645Server, open_bus: Opener) -> None:
    sim_meter(server, METER_1).fault = FaultMode.ERROR_REPLY
    driver, bus = open_bus(tcp_bus(server.port, [meter(METER_1, energy(), point("02010100"))]))
    results = poll(driver, bus)
    assert [r.fault.kind if r.fault else None for r in results] == [FaultKind.METER] * 2
    assert results[0].fault is not None
    assert results[0].fault.reason == "DL/T 645 error reply: other error (DI 00010000)"


def test_missing_quantity_is_no_such_data(server: Dlt645Server, open_bus: Opener) -> None:
    driver, bus = open_bus(tcp_bus(server.port, [meter(EXACT, point("02010100"), energy())]))
    results = poll(driver, bus)
    assert results[0].value == 234.5
    assert results[1].fault is not None and results[1].fault.kind is FaultKind.METER
    assert results[1].fault.reason == "DL/T 645 error reply: no such data (DI 00010000)"


def test_broadcast_time_reaches_the_bus(server: Dlt645Server, open_bus: Opener) -> None:
    driver, _ = open_bus(tcp_bus(server.port, [meter(METER_1, energy())]))
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert driver.broadcast_time(when) is True
    deadline = time.monotonic() + 2
    while server.last_time_sync is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.last_time_sync == when
    assert server.last_time_sync.tzinfo is CHINA_STANDARD_TIME
    assert (server.last_time_sync.hour, server.last_time_sync.minute) == (15, 8)
    with pytest.raises(ValueError, match="time zone aware"):
        driver.broadcast_time(datetime(2024, 5, 6))  # noqa: DTZ001 - the refusal under test


def test_closed_serial_server(open_bus: Opener) -> None:
    with serve_dlt645([]) as gone:
        port = gone.port
    driver, bus = open_bus(tcp_bus(port, [meter(METER_1, energy())]))
    assert driver.broadcast_time(datetime.now(UTC)) is False
    [result] = poll(driver, bus)
    assert result.fault is not None and result.fault.kind is FaultKind.COMMUNICATION
    assert f"{METER_1} did not answer: cannot connect to 127.0.0.1:{port}" in result.fault.reason


def test_missing_serial_port(open_bus: Opener, tmp_path: Path) -> None:
    device = str(tmp_path / "ttyS-none")
    bus = {"name": "rs485", "kind": "dlt645-serial", "device": device, "retries": 0}
    driver, spec = open_bus(bus | {"meters": [meter(METER_1, energy())]})
    assert spec.options.baudrate == 2400 and spec.options.parity == "E"
    assert (spec.options.bytesize, spec.options.stopbits) == (8, 1)
    endpoint = driver_kind("dlt645-serial").endpoint
    assert endpoint is not None and endpoint(spec.options) == f"serial:{device}"
    [result] = poll(driver, spec)
    assert result.fault is not None and result.fault.kind is FaultKind.COMMUNICATION
    assert f"did not answer: cannot open {device}" in result.fault.reason


def test_inter_frame_delay_is_kept(server: Dlt645Server, open_bus: Opener) -> None:
    points = [point(f"0201{p}00") for p in ("01", "02", "03")]
    driver, bus = open_bus(tcp_bus(server.port, [meter(METER_1, *points)], inter_frame_delay=0.1))
    started = time.monotonic()
    assert all(r.fault is None for r in poll(driver, bus))
    assert time.monotonic() - started >= 0.2


class EchoingConverter:
    """A serial converter that echoes the request and passes another meter's late answer."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            while request := conn.recv(4096):
                _, frame = decode(request)
                assert frame is not None
                di = frame.data[::-1].hex()
                late = encode(reply_read("000000000099", di, 111.1))
                conn.sendall(request + late + encode(reply_read(frame.address, di, 230.2)))

    def close(self) -> None:
        self.listener.close()
        self.thread.join()


def test_echo_and_other_meters_answers_are_passed_over(open_bus: Opener) -> None:
    converter = EchoingConverter()
    try:
        driver, bus = open_bus(tcp_bus(converter.port, [meter(METER_1, point("02010100"))]))
        assert [r.value for r in poll(driver, bus)] == [230.2]
        driver.close()
    finally:
        converter.close()


def ask(port: int, request: bytes, wait: float = 1.0) -> bytes:
    """Send ``request`` on a fresh connection; the answer, or b"" after ``wait`` of silence."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.settimeout(wait)
        buffer = b""
        try:
            while (chunk := sock.recv(4096)) and decode(buffer + chunk)[1] is None:
                buffer += chunk
            return buffer + chunk
        except TimeoutError:
            return buffer


def test_wildcard_read_address_only_for_a_lone_meter(server: Dlt645Server) -> None:
    assert ask(server.port, encode(read_address()), wait=0.2) == b""
    with serve_dlt645([dlt645_meter(METER_2)]) as alone:
        _, frame = decode(ask(alone.port, encode(read_address())))
    assert frame is not None and parse_address_reply(frame) == METER_2


def test_simulator_survives_garbage_and_many_clients(server: Dlt645Server) -> None:
    garbage = bytes(range(256)) + b"\x68" * 20 + encode(read_data(METER_1, "00010000"))[:-2]
    assert ask(server.port, garbage + b"\x00\x00", wait=0.2) == b""
    request = encode(read_data(METER_2, "02800002"))

    def client(_: int) -> float:
        _, frame = decode(ask(server.port, request))
        assert frame is not None
        return parse_read_reply(frame, "02800002")

    with ThreadPoolExecutor(max_workers=16) as pool:
        values = list(pool.map(client, range(48)))
    assert all(49.5 < value < 50.5 for value in values)
    assert sim_meter(server, METER_2).served["02800002"] == 48


def test_simulator_refuses_a_bad_meter_list() -> None:
    with pytest.raises(ValueError, match="share an address"):
        serve_dlt645([dlt645_meter(METER_1), dlt645_meter(METER_1)])
    with pytest.raises(ValueError, match="versions"):
        serve_dlt645([dlt645_meter(METER_1)], versions={METER_1: 2010})


def config_base() -> dict[str, Any]:
    return document([tcp_bus(4001, [meter(METER_1, energy(), point("02010100"))])])


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc["buses"][0]
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value

    return change


BAD_CONFIG = [
    ("meters.0.address", "12345678901", "meters[0].address: '12345678901' is not 12 decimal"),
    ("meters.0.address", "12345678901A", "meters[0].address: '12345678901A' is not 12"),
    ("meters.0.address", 12, "meters[0].address: 12 is not 12 decimal digits (write it in quotes"),
    ("meters.0.address", "999999999999", "meters[0].address: 999999999999 is the broadcast"),
    ("meters.0.version", 2010, "meters[0].version: 2010 is not 2007 or 1997"),
    ("meters.0.version", "2007", "meters[0].version: must be an integer"),
    ("meters.0.preamble", 5, "meters[0].preamble: 5 is above the maximum 4"),
    ("meters.0.baud", 2400, "meters[0].baud: unknown key"),
    ("meters.0.points.0.di", "02800099", "points[0].di: DI 02800099 is not in the DL/T 645-2007"),
    ("meters.0.points.0.di", "9010", "points[0].di: '9010' is not 8 hex digits"),
    ("meters.0.points.0.di", 4096, "points[0].di: 4096 is not 8 hex digits (write it in quotes"),
    ("meters.0.points.0.multiplier", 0, "points[0].multiplier: 0 must be above 0"),
    ("meters.0.points.0.multiplier", "x", "points[0].multiplier: must be a number"),
    ("meters.0.points.0.scale", 2, "points[0].scale: unknown key"),
    ("port", 0, "buses[0].port: 0 is below the minimum 1"),
    ("baudrate", 2400, "buses[0].baudrate: unknown key"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_CONFIG)
def test_bad_config_is_refused_naming_the_field(path: str, value: Any, message: str) -> None:
    doc = config_base()
    _set(path, value)(doc)
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(doc, sort_keys=False))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("bus", "message"),
    [
        ({"baudrate": 1234}, "buses[0].baudrate: 1234 is not one of 300, 600, 1200"),
        ({"parity": "X"}, "buses[0].parity: 'X' is not one of E, N, O"),
        ({"stopbits": 3}, "buses[0].stopbits: 3 is above the maximum 2"),
        ({"device": ""}, "buses[0].device: must be a non-empty string"),
    ],
)
def test_bad_serial_config_is_refused(bus: dict[str, Any], message: str) -> None:
    serial = {"name": "rs485", "kind": "dlt645-serial", "device": "/dev/ttyS1"} | bus
    doc = document([serial | {"meters": [meter(METER_1, energy())]}])
    with pytest.raises(ConfigError, match="line") as caught:
        parse_config(yaml.safe_dump(doc, sort_keys=False))
    assert message in str(caught.value)


def test_yaml_octal_address_gets_a_hint_and_unquoted_digits_are_accepted() -> None:
    text = yaml.safe_dump(config_base(), sort_keys=False)
    with pytest.raises(ConfigError, match=r"8 is not 12 decimal digits \(write it in quotes"):
        parse_config(text.replace("'000000000001'", "000000000010"))  # YAML 1.1 octal
    config = parse_config(text.replace("'000000000001'", "123456789012"))
    assert driver_kind("dlt645-tcp").meter_address(config.buses[0].meters[0].options) == (
        "123456789012"
    )


def test_config_options_and_line_uniqueness() -> None:
    doc = config_base()
    config = parse_config(yaml.safe_dump(doc, sort_keys=False))
    [bus] = config.buses
    kind = driver_kind("dlt645-tcp")
    assert kind.endpoint is not None and kind.endpoint(bus.options) == "tcp:127.0.0.1:4001"
    options = bus.meters[0].options
    assert (options.address, options.version, options.preamble) == (METER_1, 2007, 4)
    source = bus.meters[0].points[0].source
    assert (source.item.di, source.item.unit, source.multiplier) == ("00010000", "kWh", 1.0)
    twice = copy.deepcopy(doc["buses"][0]["meters"][0]) | {"id": "again"}
    doc["buses"][0]["meters"].append(twice)
    with pytest.raises(ConfigError, match="duplicate meter address on bus 'bus1' '000000000001'"):
        parse_config(yaml.safe_dump(doc, sort_keys=False))
    other = tcp_bus(4001, [meter(METER_2, point("02010100"))], name="bus2")
    with pytest.raises(ConfigError, match="duplicate bus line"):
        parse_config(yaml.safe_dump(document([config_base()["buses"][0], other])))
