"""Broker credentials, ACLs and config from ``ems_tenants.broker``, against a real Mosquitto 2.

Every broker here is a private ``mosquitto`` on a free port, configured only with what
``render_broker_config`` and ``write_broker_files`` produce, and every client is a real
paho-mqtt 2 MQTT v5 connection. Facts about Mosquitto 2.0.11 that the tests pin down:

- a QoS 1 publish the ACL refuses gets PUBACK reason code 0x87 (Not authorized);
- a SUBSCRIBE the ACL does not allow is still granted in the SUBACK (2.0.11's acl_file does
  not check subscriptions) but nothing the read rules refuse is ever delivered;
- ``$share/<group>/`` subscriptions are checked against the real topic, without the prefix;
- ``$SYS`` needs an explicit read rule once an ACL file is in use;
- SIGHUP re-reads the password and ACL files.
"""

from __future__ import annotations

import base64
import os
import queue
import random
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ems_tenants.broker import (
    AccountKind,
    BrokerAccount,
    BrokerSettings,
    TlsListener,
    gateway_acl,
    hash_password,
    ingest_acl,
    new_password,
    reload_broker,
    render_acl_file,
    render_broker_config,
    render_password_file,
    verify_password,
    write_broker_files,
)
from tests.edge.brokers import MOSQUITTO, MOSQUITTO_PASSWD, free_port, make_tls

# Two gateways of two different tenants, and the ingest of data centre dc1.
GW_A = "acme-gw-001"
GW_B = "zenith-gw-007"
INGEST = "ingest-dc1"
DC = "dc1"
NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86
NO_SUBSCRIBERS = 0x10
TIMEOUT = 10.0


def readings(gateway: str) -> str:
    return f"ems/v1/gw/{gateway}/readings"


def commands(gateway: str) -> str:
    return f"ems/v1/gw/{gateway}/commands"


def ack(gateway: str, dc: str) -> str:
    return f"ems/v1/gw/{gateway}/ack/{dc}"


@dataclass
class Credentials:
    """Plain passwords by username, and the accounts made from them."""

    passwords: dict[str, str] = field(default_factory=dict)
    accounts: list[BrokerAccount] = field(default_factory=list)

    def add(self, username: str, kind: AccountKind, dc: str | None = None) -> None:
        password = new_password()
        self.passwords[username] = password
        self.accounts.append(BrokerAccount(username, hash_password(password), kind, dc))

    def without(self, username: str) -> list[BrokerAccount]:
        return [a for a in self.accounts if a.username != username]


def standard_credentials() -> Credentials:
    creds = Credentials()
    creds.add(GW_A, AccountKind.GATEWAY)
    creds.add(GW_B, AccountKind.GATEWAY)
    creds.add(INGEST, AccountKind.INGEST, DC)
    return creds


@dataclass
class Broker:
    """A running private Mosquitto configured from the rendered files."""

    directory: Path
    settings: BrokerSettings
    process: subprocess.Popen[bytes]
    creds: Credentials

    @property
    def port(self) -> int:
        return self.settings.port

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "mosquitto.log"):
            path = self.directory / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def _wait_listening(broker: Broker, port: int) -> None:
    import socket

    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            raise RuntimeError(f"mosquitto exited ({broker.process.returncode}):\n{broker.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not open port {port}:\n{broker.log()}")


StartBroker = Callable[..., Broker]


@pytest.fixture(scope="module")
def start_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartBroker]:
    """Start private brokers; every one is stopped at the end of the module, pass or fail."""
    started: list[subprocess.Popen[bytes]] = []

    def start(creds: Credentials, **overrides: Any) -> Broker:
        directory = tmp_path_factory.mktemp("mosquitto")
        passwd, acl = write_broker_files(directory, creds.accounts)
        settings = BrokerSettings(
            port=free_port(),
            data_dir=directory,
            password_file=passwd,
            acl_file=acl,
            # Fresh $SYS counters every second keep the tests short.
            sys_interval=1,
            # Started as root, mosquitto would drop to "mosquitto", which cannot read tmp_path.
            user="root" if os.geteuid() == 0 else None,
            log_file=directory / "mosquitto.log",
            **overrides,
        )
        config = directory / "mosquitto.conf"
        config.write_text(render_broker_config(settings))
        with (directory / "stderr.log").open("wb") as stderr:
            process = subprocess.Popen(
                [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        started.append(process)
        broker = Broker(directory, settings, process, creds)
        _wait_listening(broker, settings.port)
        if settings.tls is not None:
            _wait_listening(broker, settings.tls.port)
        return broker

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def broker(start_broker: StartBroker) -> Broker:
    """The module's shared broker: two gateways of two tenants and the dc1 ingest."""
    return start_broker(standard_credentials())


class Peer:
    """One MQTT v5 client with synchronous connect, subscribe and publish."""

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None,
        *,
        manual_ack: bool = False,
        tls_ca: Path | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca))
        self.port = port
        self.manual_ack = manual_ack
        #: With manual_ack: keep messages unacknowledged while true.
        self.hold = True
        self.held: list[mqtt.MQTTMessage] = []
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connack: ReasonCode | None = None
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.pubacks: dict[int, ReasonCode] = {}
        self.disconnects: list[ReasonCode] = []
        self.changed = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self.changed:
            self.connack = rc
            self.changed.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self.changed:
            self.disconnects.append(rc)
            self.changed.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        with self.changed:
            self.subacks[mid] = rcs
            self.changed.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self.changed:
            self.pubacks[mid] = rc
            self.changed.notify_all()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        if self.manual_ack:
            with self.changed:
                if self.hold:
                    self.held.append(message)
                else:
                    self.client.ack(message.mid, message.qos)
        self.messages.put(message)

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        with self.changed:
            if not self.changed.wait_for(ready, TIMEOUT):
                raise AssertionError(f"timed out waiting for {what}")

    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK reason code (stops retrying on a refusal)."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        self._wait(lambda: self.connack is not None, "CONNACK")
        assert self.connack is not None
        if self.connack.is_failure:
            self.close()
        return self.connack

    def connected(self) -> Peer:
        rc = self.connect()
        assert rc == 0, f"connect refused: {rc}"
        return self

    def subscribe(self, topic: str) -> ReasonCode:
        """Subscribe with QoS 1 and return the SUBACK reason code."""
        _result, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        self._wait(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid][0]

    def publish(self, topic: str, payload: bytes, *, wait: bool = True) -> int:
        """Publish with QoS 1; return the mid (waiting for the PUBACK unless told not to)."""
        info = self.client.publish(topic, payload, qos=1)
        if wait:
            self._wait(lambda: info.mid in self.pubacks, f"PUBACK for {topic}")
        return info.mid

    def puback(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish with QoS 1 and return the PUBACK reason code."""
        return self.pubacks[self.publish(topic, payload)]

    def release(self) -> None:
        """Acknowledge everything held and acknowledge from now on."""
        with self.changed:
            self.hold = False
            for message in self.held:
                self.client.ack(message.mid, message.qos)
            self.held.clear()

    def wait_for(self, predicate: Callable[[mqtt.MQTTMessage], bool]) -> list[mqtt.MQTTMessage]:
        """Every message up to and including the first one matching ``predicate``."""
        seen: list[mqtt.MQTTMessage] = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message; got {[m.topic for m in seen]}")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            seen.append(message)
            if predicate(message):
                return seen

    def drain(self, quiet: float = 0.5) -> list[mqtt.MQTTMessage]:
        """Messages that arrive until none has for ``quiet`` seconds."""
        got: list[mqtt.MQTTMessage] = []
        while True:
            try:
                got.append(self.messages.get(timeout=quiet))
            except queue.Empty:
                return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def peers(broker: Broker) -> Iterator[Callable[..., Peer]]:
    """Connected clients of the shared broker, closed after the test."""
    made: list[Peer] = []

    def make(username: str, *, manual_ack: bool = False) -> Peer:
        peer = Peer(broker.port, username, broker.creds.passwords[username], manual_ack=manual_ack)
        made.append(peer)
        return peer.connected()

    yield make
    for peer in made:
        peer.close()


def marker_after(publisher: Peer, subscriber: Peer, topic: str) -> list[mqtt.MQTTMessage]:
    """Publish a permitted marker and return what ``subscriber`` got up to it.

    Mosquitto keeps one publisher's order towards one subscriber, so anything refused
    before the marker would have arrived before it.
    """
    token = uuid.uuid4().bytes
    assert publisher.puback(topic, token) == 0
    return subscriber.wait_for(lambda m: m.payload == token)


# --- password hashes -------------------------------------------------------------------


def test_hash_format_is_mosquitto_passwd_format(tmp_path: Path) -> None:
    """mosquitto_passwd's own hashes verify, and ours are byte-identical given its salt."""
    passwd = tmp_path / "passwd"
    subprocess.run(
        [MOSQUITTO_PASSWD, "-c", "-b", str(passwd), "someone", "s3cret pass"],
        check=True,
        capture_output=True,
    )
    username, written = passwd.read_text().strip().split(":", 1)
    assert username == "someone"
    prefix, iterations, salt, _key = written.split("$")[1:]
    assert (prefix, iterations) == ("7", "101")
    assert verify_password("s3cret pass", written)
    assert not verify_password("s3cret pasS", written)
    assert hash_password("s3cret pass", salt=base64.b64decode(salt)) == written
    ours = hash_password("s3cret pass")
    assert ours.startswith("$7$101$") and ours != hash_password("s3cret pass")
    assert verify_password("s3cret pass", ours)
    assert not verify_password("", ours)
    assert not verify_password("s3cret pass", "$6$bm90$aGFzaA==")
    assert len(new_password()) == 32 and new_password() != new_password()


def test_our_hash_logs_in_and_wrong_password_is_refused(broker: Broker) -> None:
    """Every account in the broker was hashed by hash_password; a wrong password is refused."""
    good = Peer(broker.port, GW_A, broker.creds.passwords[GW_A])
    assert good.connect() == 0
    good.close()
    # Mosquitto 2.0.11 answers 0x87 (Not authorized) rather than 0x86 to all three.
    refused = (BAD_CREDENTIALS, NOT_AUTHORIZED)
    wrong = Peer(broker.port, GW_A, broker.creds.passwords[GW_A] + "x")
    assert wrong.connect() in refused
    unknown = Peer(broker.port, "nobody-here", "whatever")
    assert unknown.connect() in refused
    anonymous = Peer(broker.port, None, None)
    assert anonymous.connect() in refused


def test_mosquitto_passwd_hash_works_as_an_account(start_broker: StartBroker) -> None:
    """A hash made by mosquitto_passwd can be carried over into a BrokerAccount."""
    creds = Credentials()
    creds.add(GW_A, AccountKind.GATEWAY)
    broker = start_broker(creds)
    extra = broker.directory / "extra"
    subprocess.run(
        [MOSQUITTO_PASSWD, "-c", "-b", str(extra), GW_B, "from-passwd"],
        check=True,
        capture_output=True,
    )
    hashed = extra.read_text().strip().split(":", 1)[1]
    creds.accounts.append(BrokerAccount(GW_B, hashed, AccountKind.GATEWAY))
    write_broker_files(broker.directory, creds.accounts)
    reload_broker(broker.process.pid)
    peer = Peer(broker.port, GW_B, "from-passwd")
    deadline = time.monotonic() + TIMEOUT
    while (rc := peer.connect()) != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        peer = Peer(broker.port, GW_B, "from-passwd")
    assert rc == 0
    peer.close()


# --- ACLs ------------------------------------------------------------------------------


def test_gateway_readings_reach_the_ingest_shared_subscription(
    peers: Callable[..., Peer],
) -> None:
    """Own readings pass; the $share filter needs no ACL rule of its own."""
    first, second = peers(INGEST), peers(INGEST)
    group = f"$share/ingest-{DC}/ems/v1/gw/+/readings"
    assert first.subscribe(group) == 1
    assert second.subscribe(group) == 1
    gateway = peers(GW_A)
    payloads = {f"batch-{i}".encode() for i in range(20)}
    for payload in sorted(payloads):
        assert gateway.puback(readings(GW_A), payload) == 0
    got = first.drain() + second.drain()
    # Each message goes to exactly one member of the group.
    assert sorted(m.payload for m in got) == sorted(payloads)
    assert {m.topic for m in got} == {readings(GW_A)}


def test_gateway_cannot_publish_for_another_gateway(peers: Callable[..., Peer]) -> None:
    """Another tenant's topics: PUBACK 0x87 and the message reaches nobody."""
    ingest = peers(INGEST)
    assert ingest.subscribe(f"$share/ingest-{DC}/ems/v1/gw/+/readings") == 1
    assert ingest.subscribe("ems/v1/gw/+/status") == 1
    gateway = peers(GW_A)
    forged = b"forged by A"
    assert gateway.puback(readings(GW_B), forged) == NOT_AUTHORIZED
    assert gateway.puback(f"ems/v1/gw/{GW_B}/status", forged) == NOT_AUTHORIZED
    assert gateway.puback("ems/v1/other", forged) == NOT_AUTHORIZED
    got = marker_after(gateway, ingest, readings(GW_A))
    assert forged not in [m.payload for m in got]


def test_gateway_cannot_read_another_gateways_commands(peers: Callable[..., Peer]) -> None:
    """Subscribing to B's commands may be granted (2.0.11) but delivers nothing of B's."""
    a, b, ingest = peers(GW_A), peers(GW_B), peers(INGEST)
    # 2.0.11's acl_file does not check SUBSCRIBE (granted QoS 1); a broker that does would
    # answer 0x87. Either way the read rule below is what must hold.
    for snoop in (commands(GW_B), "ems/v1/gw/+/commands", "#", f"$share/x/{commands(GW_B)}"):
        assert a.subscribe(snoop) in (1, NOT_AUTHORIZED)
    assert a.subscribe(f"$share/mine/{commands(GW_A)}") == 1
    assert b.subscribe(commands(GW_B)) == 1
    assert ingest.puback(commands(GW_B), b"for B") == 0
    assert b.wait_for(lambda m: m.payload == b"for B")[-1].topic == commands(GW_B)
    # A's own command arrives (also through its $share subscription), B's never did.
    got = marker_after(ingest, a, commands(GW_A))
    assert got[-1].topic == commands(GW_A)
    assert b"for B" not in [m.payload for m in got + a.drain()]


def test_gateway_cannot_publish_acks_or_commands(peers: Callable[..., Peer]) -> None:
    a, b = peers(GW_A), peers(GW_B)
    assert b.subscribe(commands(GW_B)) == 1
    assert b.subscribe(f"ems/v1/gw/{GW_B}/ack/+") == 1
    for topic in (commands(GW_A), commands(GW_B), ack(GW_A, DC), ack(GW_B, DC), ack(GW_B, "dc2")):
        assert a.puback(topic, b"forged") == NOT_AUTHORIZED, topic
    ingest = peers(INGEST)
    got = marker_after(ingest, b, commands(GW_B))
    assert b"forged" not in [m.payload for m in got]


def test_ingest_writes_its_own_acks_and_commands_only(peers: Callable[..., Peer]) -> None:
    a, ingest = peers(GW_A), peers(INGEST)
    assert a.subscribe(f"ems/v1/gw/{GW_A}/ack/+") == 1
    assert a.subscribe(commands(GW_A)) == 1
    assert ingest.puback(ack(GW_A, "dc2"), b"other dc") == NOT_AUTHORIZED
    assert ingest.puback(readings(GW_A), b"fake reading") == NOT_AUTHORIZED
    assert ingest.puback(commands(GW_A), b"command") == 0
    assert ingest.puback(ack(GW_A, DC), b"ack") == 0
    got = a.wait_for(lambda m: m.payload == b"ack")
    assert [(m.topic, m.payload) for m in got] == [
        (commands(GW_A), b"command"),
        (ack(GW_A, DC), b"ack"),
    ]


def test_sys_needs_and_has_an_explicit_rule(peers: Callable[..., Peer]) -> None:
    """The ingest reads the dropped-message counter; a gateway gets no $SYS at all."""
    ingest, gateway = peers(INGEST), peers(GW_A)
    assert gateway.subscribe("$SYS/#") in (1, NOT_AUTHORIZED)
    assert ingest.subscribe("$SYS/broker/publish/messages/dropped") == 1
    got = ingest.wait_for(lambda m: m.topic == "$SYS/broker/publish/messages/dropped")
    assert int(got[-1].payload) >= 0
    # Two more sys_interval periods: the gateway would have had several updates by now.
    time.sleep(2.5)
    assert gateway.drain(0.2) == []


def test_mosquitto_default_queue_drops_and_ours_does_not(start_broker: StartBroker) -> None:
    """A consumer that holds messages unacknowledged: the default queue loses, ours keeps.

    With max_queued_messages at Mosquitto's default the broker drops what overflows the
    queue (and only $SYS says so); with the rendered settings every message arrives.
    """
    count = 2500
    for max_queued, expect_loss in ((100, True), (1_000_000, False)):
        broker = start_broker(standard_credentials(), max_queued_messages=max_queued)
        ingest = Peer(broker.port, INGEST, broker.creds.passwords[INGEST], manual_ack=True)
        ingest.connected()
        assert ingest.subscribe(f"$share/ingest-{DC}/ems/v1/gw/+/readings") == 1
        gateway = Peer(broker.port, GW_A, broker.creds.passwords[GW_A]).connected()
        mids = [gateway.publish(readings(GW_A), str(i).encode(), wait=False) for i in range(count)]
        acked = gateway.pubacks
        gateway._wait(lambda: all(mid in acked for mid in mids), "all PUBACKs")  # noqa: B023
        assert all(gateway.pubacks[mid] == 0 for mid in mids)
        # Unacknowledged, the consumer holds exactly max_inflight_messages (no Receive
        # Maximum announced, so the broker's value applies to this v5 client).
        held = ingest.drain()
        assert len(held) == broker.settings.max_inflight_messages
        ingest.release()
        got = held + ingest.drain()
        received = {int(m.payload) for m in got}
        assert len(received) == len(got)
        watcher = Peer(broker.port, INGEST, broker.creds.passwords[INGEST]).connected()
        watcher.subscribe("$SYS/broker/publish/messages/dropped")
        time.sleep(2.2)  # a fresh value after the last drop
        dropped = int(watcher.drain()[-1].payload)
        for peer in (ingest, gateway, watcher):
            peer.close()
        if expect_loss:
            assert len(received) < count
            assert dropped == count - len(received)
        else:
            assert received == set(range(count))
            assert dropped == 0


# --- reload ----------------------------------------------------------------------------


def test_reload_without_a_gateway_locks_it_out(start_broker: StartBroker) -> None:
    creds = standard_credentials()
    broker = start_broker(creds)
    before = Peer(broker.port, GW_A, creds.passwords[GW_A]).connected()
    passwd, acl = write_broker_files(broker.directory, creds.without(GW_A))
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o600
    assert stat.S_IMODE(acl.stat().st_mode) == 0o640
    assert GW_A not in passwd.read_text() and GW_A not in acl.read_text()
    reload_broker(broker.process.pid)
    deadline = time.monotonic() + TIMEOUT
    while True:
        rc = Peer(broker.port, GW_A, creds.passwords[GW_A]).connect()
        if rc.is_failure or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert rc in (BAD_CREDENTIALS, NOT_AUTHORIZED), f"gateway A could still connect: {rc}"
    # The rest still work, and A's already-open session may no longer publish.
    Peer(broker.port, GW_B, creds.passwords[GW_B]).connected().close()
    # Mosquitto re-checks open connections on reload: A's existing session is cut off too.
    before._wait(lambda: bool(before.disconnects), "the removed gateway's disconnection")
    before.close()
    assert broker.process.poll() is None


def test_tls_listener_for_gateways(start_broker: StartBroker, tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    listener = TlsListener(
        port=free_port(), cafile=tls.ca, certfile=tls.cert, keyfile=tls.key, bind="127.0.0.1"
    )
    broker = start_broker(standard_credentials(), tls=listener)
    peer = Peer(listener.port, GW_A, broker.creds.passwords[GW_A], tls_ca=tls.ca).connected()
    # No subscriber: v5 success code 0x10 "No matching subscribers", not a refusal.
    assert peer.puback(readings(GW_A), b"over tls") == NO_SUBSCRIBERS
    peer.close()


# --- rendering and bad input -----------------------------------------------------------


def settings(tmp_path: Path, **overrides: Any) -> BrokerSettings:
    values: dict[str, Any] = {
        "port": 18830,
        "data_dir": tmp_path / "data",
        "password_file": tmp_path / "passwd",
        "acl_file": tmp_path / "acl",
    }
    values.update(overrides)
    return BrokerSettings(**values)


def test_rendered_config(tmp_path: Path) -> None:
    text = render_broker_config(settings(tmp_path))
    directives = {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert directives["allow_anonymous"] == "false"
    assert "allow_anonymous true" not in text
    assert directives["password_file"] == str(tmp_path / "passwd")
    assert directives["acl_file"] == str(tmp_path / "acl")
    assert directives["max_queued_messages"] == "1000000"
    assert directives["max_queued_bytes"] == str(1 << 30)
    assert directives["max_inflight_messages"] == "1000"
    assert directives["persistence"] == "true"
    assert directives["persistence_location"] == f"{tmp_path / 'data'}/"
    assert directives["persistent_client_expiration"] == "30d"
    assert directives["sys_interval"] == "10"
    assert directives["listener"] == "18830 127.0.0.1"
    assert "user" not in directives
    # Every directive comes after a comment explaining its block.
    for block in text.split("\n\n"):
        assert block.lstrip().startswith("#"), block
    assert text == render_broker_config(settings(tmp_path))


def test_rendered_files_are_deterministic_and_exact() -> None:
    creds = standard_credentials()
    shuffled = creds.accounts[:]
    random.Random(7).shuffle(shuffled)  # noqa: S311 - a fixed order, not a secret
    assert render_password_file(shuffled) == render_password_file(creds.accounts)
    assert render_acl_file(shuffled) == render_acl_file(creds.accounts)
    users = [line.split(":")[0] for line in render_password_file(shuffled).splitlines()]
    assert users == sorted([GW_A, GW_B, INGEST])
    assert gateway_acl(GW_A) == [
        f"topic write ems/v1/gw/{GW_A}/readings",
        f"topic write ems/v1/gw/{GW_A}/events",
        f"topic write ems/v1/gw/{GW_A}/completeness",
        f"topic write ems/v1/gw/{GW_A}/replies",
        f"topic write ems/v1/gw/{GW_A}/status",
        f"topic read ems/v1/gw/{GW_A}/commands",
        f"topic read ems/v1/gw/{GW_A}/ack/+",
    ]
    assert ingest_acl(DC)[-3:] == [
        "topic read $SYS/broker/#",
        f"topic write ems/v1/gw/+/ack/{DC}",
        "topic write ems/v1/gw/+/commands",
    ]
    acl = render_acl_file(creds.accounts)
    # Nothing for anonymous clients: every topic line sits under a user line.
    first_user = acl.index("\nuser ")
    assert not [line for line in acl[:first_user].splitlines() if line.startswith("topic")]
    assert render_password_file([]) == ""


GOOD_HASH = hash_password("x")


@pytest.mark.parametrize(
    ("make", "field_name"),
    [
        (lambda: gateway_acl("GW-A"), "gateway_id"),
        (lambda: gateway_acl("ab"), "gateway_id"),
        (lambda: gateway_acl("-abc"), "gateway_id"),
        (lambda: gateway_acl("a" * 65), "gateway_id"),
        (lambda: gateway_acl("gw_a"), "gateway_id"),
        (lambda: gateway_acl("gw-a\n"), "gateway_id"),
        (lambda: gateway_acl("gw-+"), "gateway_id"),
        (lambda: BrokerAccount("Bad Gateway", GOOD_HASH, AccountKind.GATEWAY), "username"),
        (lambda: BrokerAccount("gw-a", GOOD_HASH, AccountKind.GATEWAY, "dc1"), "dc"),
        (lambda: BrokerAccount("ingest:dc1", GOOD_HASH, AccountKind.INGEST, "dc1"), "username"),
        (lambda: BrokerAccount("ingest dc1", GOOD_HASH, AccountKind.INGEST, "dc1"), "username"),
        (lambda: BrokerAccount("ingest\tdc1", GOOD_HASH, AccountKind.INGEST, "dc1"), "username"),
        (lambda: BrokerAccount("#ingest", GOOD_HASH, AccountKind.INGEST, "dc1"), "username"),
        (lambda: BrokerAccount("", GOOD_HASH, AccountKind.INGEST, "dc1"), "username"),
        (lambda: BrokerAccount("ingest-dc1", GOOD_HASH, AccountKind.INGEST), "dc"),
        (lambda: BrokerAccount("ingest-dc1", GOOD_HASH, AccountKind.INGEST, "dc/+"), "dc"),
        (lambda: BrokerAccount("gw-a", "plaintext", AccountKind.GATEWAY), "password_hash"),
        (lambda: BrokerAccount("gw-a", "$7$101$AAAA$AAAA", AccountKind.GATEWAY), "password_hash"),
        (lambda: BrokerAccount("gw-a", GOOD_HASH, "gateway"), "kind"),  # type: ignore[arg-type]
        (lambda: hash_password(""), "password"),
        (lambda: hash_password("x", salt=b"short"), "salt"),
        (lambda: hash_password("x", iterations=0), "iterations"),
        (
            lambda: render_password_file(
                [
                    BrokerAccount("gw-a", GOOD_HASH, AccountKind.GATEWAY),
                    BrokerAccount("gw-a", hash_password("y"), AccountKind.GATEWAY),
                ]
            ),
            "username",
        ),
        (
            lambda: render_acl_file(
                [
                    BrokerAccount("ingest-dc1", GOOD_HASH, AccountKind.INGEST, "dc1"),
                    BrokerAccount("ingest-dc1", GOOD_HASH, AccountKind.INGEST, "dc2"),
                ]
            ),
            "username",
        ),
        (lambda: reload_broker(0), "pid"),
        (lambda: reload_broker(-1), "pid"),
    ],
)
def test_bad_input_names_the_field(make: Callable[[], object], field_name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field_name}:"):
        make()


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"bind": "127.0.0.1 9999"}, "bind"),
        ({"data_dir": Path("relative")}, "data_dir"),
        ({"password_file": Path("/tmp/pass\nallow_anonymous true")}, "password_file"),  # noqa: S108
        ({"acl_file": "/tmp/acl"}, "acl_file"),  # noqa: S108
        ({"max_queued_messages": 0}, "max_queued_messages"),
        ({"max_queued_bytes": 0}, "max_queued_bytes"),
        ({"max_inflight_messages": 70000}, "max_inflight_messages"),
        ({"persistent_client_expiration": "30 days"}, "persistent_client_expiration"),
        ({"sys_interval": 0}, "sys_interval"),
        ({"user": "root\nallow_anonymous true"}, "user"),
    ],
)
def test_bad_settings_name_the_field(
    tmp_path: Path, overrides: dict[str, Any], field_name: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{field_name}:"):
        settings(tmp_path, **overrides)


def test_bad_tls_settings(tmp_path: Path) -> None:
    tls = TlsListener(
        port=18830, cafile=tmp_path / "ca", certfile=tmp_path / "c", keyfile=tmp_path / "k"
    )
    with pytest.raises(ValueError, match=r"^tls\.port:"):
        settings(tmp_path, tls=tls)
    with pytest.raises(ValueError, match=r"^tls\.keyfile:"):
        settings(tmp_path, tls=replace(tls, port=8883, keyfile=Path("k")))


def test_bad_input_leaves_files_alone(tmp_path: Path) -> None:
    creds = standard_credentials()
    passwd, acl = write_broker_files(tmp_path, creds.accounts)
    before = (passwd.read_text(), acl.read_text())
    with pytest.raises(ValueError, match=r"^username:"):
        write_broker_files(tmp_path, [*creds.accounts, creds.accounts[0]])
    assert (passwd.read_text(), acl.read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acl", "passwd"]
