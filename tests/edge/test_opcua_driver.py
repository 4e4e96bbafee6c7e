"""The OPC UA driver against a real asyncua server on 127.0.0.1, configured from YAML."""

from __future__ import annotations

import base64
import socket
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from asyncua.sync import Server, ThreadLoop

from ems_edge.config import parse_config
from ems_edge.drivers.opcua import OPCUA
from ems_edge.errors import ConfigError
from ems_edge.model import BusSpec, Fault, FaultKind, PointResult

SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()
NAMESPACE = "urn:ems:test:scada"


def agent_yaml(bus: str) -> str:
    """A whole agent configuration around one bus (given as YAML at column 0)."""
    head = f"""\
        gateway:
          id: gw-opcua-test
          signing_key: {SIGNING_KEY}
        data_centres:
          - name: dc1
            host: 127.0.0.1
            key: gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=
        buses:
        """
    return textwrap.dedent(head) + textwrap.indent(textwrap.dedent(bus), "  ")


def opcua_bus(endpoint: str, nodes: list[str], extra: str = "") -> str:
    """An OPC UA bus with one meter reading ``nodes`` (points M1.p0, M1.p1...)."""
    points = "".join(
        f"""
              - id: M1.p{i}
                energy_type: electricity
                kind: instantaneous
                unit: kW
                node: "{node}\""""
        for i, node in enumerate(nodes)
    )
    return (
        f"""\
        - name: scada
          kind: opcua
          endpoint: {endpoint}
          timeout: 500ms
          retries: 0
          inter_frame_delay: 0{extra}
          meters:
            - id: M1
              points:{points}
        """.rstrip()
        + "\n"
    )


def load_bus(text: str) -> BusSpec:
    """The first bus of a configuration."""
    return parse_config(agent_yaml(text)).buses[0]


def poll(bus: BusSpec) -> list[PointResult]:
    """Open the bus, poll its first meter once, close it."""
    driver = OPCUA.open(bus)
    try:
        meter = bus.meters[0]
        return driver.poll(meter, meter.points)
    finally:
        driver.close()


def values(results: list[PointResult]) -> list[float | Fault | None]:
    """Each result's value, or its fault."""
    return [r.value if r.fault is None else r.fault for r in results]


def free_port() -> int:
    """A TCP port nothing listens on (the OS picks it, then it is released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Readers(UserManager):
    """Anonymous users and 'reader' with the right password may read; anyone else is refused."""

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        del iserver, certificate
        if username is None or (username, password) == ("reader", "s3cret"):
            return User(role=UserRole.User)
        return None


class ScadaServer:
    """An asyncua server with a meter's variables, on its own loop thread."""

    def __init__(self, port: int) -> None:
        self.loop = ThreadLoop(timeout=30)
        self.loop.start()
        self.server = Server(tloop=self.loop)
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/scada"
        self.server.set_endpoint(self.endpoint)
        self.server.disable_clock()  # its 1 s ticker would make every stop wait a second
        self.server.aio_obj.iserver.set_user_manager(Readers())
        index = self.server.register_namespace(NAMESPACE)
        assert index == 2  # the node strings in the tests say ns=2
        meter = self.server.nodes.objects.add_object(index, "Meter1")
        meter.add_variable(ua.NodeId("Meter1.Energy", index), "Energy", 1234.5)
        meter.add_variable(ua.NodeId(7, index), "Count", ua.Variant(42, ua.VariantType.Int32))
        meter.add_variable(ua.NodeId("Meter1.Text", index), "Text", "abc")
        meter.add_variable(ua.NodeId("Meter1.Flag", index), "Flag", True)
        bad = meter.add_variable(ua.NodeId("Meter1.Bad", index), "Bad", 0.0)
        sensor_failure = ua.StatusCode(ua.StatusCodes.BadSensorFailure)
        bad.write_value(ua.DataValue(ua.Variant(0.0, ua.VariantType.Double), sensor_failure))
        self.server.start()

    def stop_listening(self) -> None:
        """Close the listening socket and every connection, as a stopped server would."""
        bserver = self.server.aio_obj.bserver
        assert bserver is not None
        self.loop.post(bserver.stop())

    def listen_again(self) -> None:
        """Accept connections again on the same port (the address space is kept)."""
        bserver = self.server.aio_obj.bserver
        assert bserver is not None
        self.loop.post(bserver.start())

    def stop(self) -> None:
        """Stop the server and its loop thread, resolver threads included."""
        try:
            self.server.stop()
        finally:
            assert self.loop.loop is not None
            self.loop.post(self.loop.loop.shutdown_default_executor())
            self.loop.stop()


@pytest.fixture(scope="module")
def scada() -> Iterator[ScadaServer]:
    """One server for the reading tests (starting one takes about a second)."""
    server = ScadaServer(free_port())
    yield server
    server.stop()


def test_reads_double_and_int_with_multiplier(scada: ScadaServer) -> None:
    text = opcua_bus(scada.endpoint, ["ns=2;s=Meter1.Energy", "ns=2;i=7"]).replace(
        'node: "ns=2;i=7"', 'node: "ns=2;i=7"\n                multiplier: 0.5'
    )
    assert values(poll(load_bus(text))) == [1234.5, 21.0]


def test_bad_status_and_non_numbers_are_meter_faults(scada: ScadaServer) -> None:
    nodes = ["ns=2;s=Meter1.Bad", "ns=2;s=Meter1.Text", "ns=2;s=Meter1.Flag", "ns=2;s=Nope"]
    nodes.append("ns=2;s=Meter1.Energy")
    assert values(poll(load_bus(opcua_bus(scada.endpoint, nodes)))) == [
        Fault(FaultKind.METER, "OPC UA status BadSensorFailure for node ns=2;s=Meter1.Bad"),
        Fault(FaultKind.METER, "node ns=2;s=Meter1.Text holds String, not a number"),
        Fault(FaultKind.METER, "node ns=2;s=Meter1.Flag holds Boolean, not a number"),
        Fault(FaultKind.METER, "OPC UA status BadNodeIdUnknown for node ns=2;s=Nope"),
        1234.5,
    ]


def login(password: str) -> str:
    """The bus-level keys of user 'reader' with ``password``."""
    return f"\n          username: reader\n          password: {password}"


def test_username_and_password_log_in(scada: ScadaServer) -> None:
    bus = load_bus(opcua_bus(scada.endpoint, ["ns=2;s=Meter1.Energy"], login("s3cret")))
    assert values(poll(bus)) == [1234.5]


def test_wrong_password_is_a_communication_fault(scada: ScadaServer) -> None:
    bus = load_bus(opcua_bus(scada.endpoint, ["ns=2;s=Meter1.Energy"], login("wrong")))
    reason = f"{scada.endpoint}: server refused: BadUserAccessDenied"
    assert values(poll(bus)) == [Fault(FaultKind.COMMUNICATION, reason)]


def test_stopped_server_is_a_communication_fault_then_the_driver_reconnects(
    scada: ScadaServer,
) -> None:
    bus = load_bus(opcua_bus(scada.endpoint, ["ns=2;s=Meter1.Energy", "ns=2;i=7"]))
    driver = OPCUA.open(bus)
    meter = bus.meters[0]
    try:
        assert values(driver.poll(meter, meter.points)) == [1234.5, 42.0]
        # Starting a second server takes a second or two; stopping the network side of
        # this one looks the same to a client and keeps the file fast.
        scada.stop_listening()
        try:
            lost = f"{scada.endpoint}: connection lost (client is disconnected)"
            refused = f"{scada.endpoint}: connection refused"
            for reason in (lost, refused):
                faults = [r.fault for r in driver.poll(meter, meter.points)]
                assert faults == [Fault(FaultKind.COMMUNICATION, reason)] * 2
        finally:
            scada.listen_again()
        assert values(driver.poll(meter, meter.points)) == [1234.5, 42.0]
    finally:
        driver.close()


def test_nothing_listening_is_refused_quickly() -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/"
    bus = load_bus(opcua_bus(endpoint, ["ns=2;i=7"]).replace("retries: 0", "retries: 2"))
    assert values(poll(bus)) == [Fault(FaultKind.COMMUNICATION, f"{endpoint}: connection refused")]


def test_silent_server_times_out_within_the_bus_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = f"opc.tcp://127.0.0.1:{silent.getsockname()[1]}/"
        started = time.monotonic()
        results = poll(load_bus(opcua_bus(endpoint, ["ns=2;i=7"])))
        elapsed = time.monotonic() - started
    assert values(results) == [Fault(FaultKind.COMMUNICATION, f"{endpoint}: no answer in 0.5 s")]
    assert 0.4 < elapsed < 2


def test_endpoint_is_normalised_and_identifies_the_bus() -> None:
    bus = load_bus(opcua_bus("opc.tcp://scada.local", ["ns=2;i=7"]))
    assert OPCUA.endpoint is not None
    assert OPCUA.endpoint(bus.options) == "opcua:opc.tcp://scada.local:4840/"
    twice = opcua_bus("opc.tcp://scada.local:4840/", ["ns=2;i=7"])
    second = twice.replace("name: scada", "name: scada2").replace("M1", "N1")
    with pytest.raises(ConfigError, match=r"duplicate bus line .*'opcua:opc\.tcp://scada\.local"):
        parse_config(agent_yaml(opcua_bus("opc.tcp://scada.local", ["ns=2;i=7"]) + second))


def test_meters_group_points_and_a_node_is_read_once_per_bus() -> None:
    text = opcua_bus("opc.tcp://127.0.0.1:4840/", ["ns=2;i=7"]) + textwrap.indent(
        textwrap.dedent("""\
            - id: M2
              points:
                - {id: M2.p0, energy_type: water, kind: cumulative, unit: m3, node: ns=2;i=8}
        """),
        " " * 12,
    )
    assert [m.id for m in load_bus(text).meters] == ["M1", "M2"]
    with pytest.raises(
        ConfigError, match=r"meters\[1\]\.points\[0\]\.node: node 'ns=2;i=7' is alr"
    ):
        load_bus(text.replace("node: ns=2;i=8", "node: ns=2;i=7"))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('node: "ns=2;i=7"', 'node: "ns=x;i=7"', r"points\[0\]\.node: 'ns=x;i=7' is not a NodeId"),
        ('node: "ns=2;i=7"', 'node: "Meter1"', r"points\[0\]\.node: 'Meter1' is not a NodeId"),
        ('node: "ns=2;i=7"', 'node: "ns=2;s="', r"points\[0\]\.node: 'ns=2;s=' has an empty"),
        ('node: "ns=2;i=7"', "multiplier: 2", r"meters\[0\]\.points\[0\]: 'node' is required"),
        ("endpoint: opc.tcp://", "endpoint: http://", r"line 11: buses\[0\]\.endpoint: 'http"),
        ("endpoint: opc.tcp://", "endpoint: opc.tcp://u:p@", r"endpoint: put the user in"),
        ("4840/", "48x/", r"buses\[0\]\.endpoint: 'opc\.tcp://127\.0\.0\.1:48x/' has an invalid"),
        ("timeout: 500ms", "security: Basic256Sha256", r"security: 'Basic256Sha256' is not sup"),
        ("timeout: 500ms", "username: reader", r"buses\[0\]\.username: needs a password too"),
        ("timeout: 500ms", "password: s3cret", r"buses\[0\]\.password: needs a username too"),
        ("timeout: 500ms", "nodes: x", r"buses\[0\]\.nodes: unknown key"),
    ],
)
def test_config_refusals_name_the_field(old: str, new: str, message: str) -> None:
    text = opcua_bus("opc.tcp://127.0.0.1:4840/", ["ns=2;i=7"])
    assert old in text
    with pytest.raises(ConfigError, match=message):
        load_bus(text.replace(old, new, 1))
