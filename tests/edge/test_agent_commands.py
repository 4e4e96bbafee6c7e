"""Commands from the cloud over a real broker, and a TLS + password connection.

Commands are signed by the data centre; the agent answers on the replies
topic. Forged, expired or repeated commands get no answer at all.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from ems_edge import wire
from ems_edge.agent import Agent
from ems_edge.config import load_config
from ems_edge.ranges import RangeSet
from ems_edge.simulators.datacentre import SimDataCentre
from ems_edge.simulators.plant import Plant, start_plant

from .brokers import Mosquitto, make_tls
from .harness import GATEWAY, GATEWAY_KEY, Centre, agent_config, running, wait_for


@pytest.fixture
def plant() -> Iterator[Plant]:
    """Two DL/T 645 meters (they take time broadcasts) and one Modbus meter."""
    simulated = start_plant(modbus=1, dlt645=2, cjt188=0, dlt645_buses=1)
    yield simulated
    simulated.close()


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[Centre]:
    """A data centre with its broker and ingest."""
    directory = tmp_path / "dc1"
    directory.mkdir()
    dc = Centre("dc1", Mosquitto(directory))
    dc.broker.start()
    dc.start_ingest()
    yield dc
    assert dc.ingest is not None
    dc.ingest.stop()
    dc.broker.stop()


@pytest.fixture
def agent(plant: Plant, centre: Centre, tmp_path: Path) -> Iterator[Agent]:
    """The agent, started from a configuration file (push_config rewrites it)."""
    config = agent_config(plant, [centre.entry()], tmp_path / "state", interval="2s")
    path = tmp_path / "agent.yaml"
    path.write_text(config.text, encoding="utf-8")
    with running(load_config(path), path) as started:
        ingest = centre.ingest
        assert ingest is not None
        wait_for(lambda: any(s.state == "online" for s in ingest.statuses), 20, "online status")
        yield started


def command(
    name: str, key: Ed25519PrivateKey, *, ttl_ms: int = 60_000, age_ms: int = 0, **args: Any
) -> tuple[str, bytes]:
    """A signed command issued ``age_ms`` ago, and its id."""
    now = int(time.time() * 1000) - age_ms
    cid = str(uuid.uuid4())
    signed = wire.encode_command(wire.Command(GATEWAY, cid, name, args, now, now + ttl_ms), key)
    return cid, signed


def ask(centre: Centre, name: str, **args: Any) -> wire.Reply:
    """Send a command signed by the data centre and wait for its reply."""
    ingest = centre.ingest
    assert ingest is not None
    cid, payload = command(name, centre.key, **args)
    ingest.send_command(GATEWAY, payload)
    wait_for(lambda: any(r.id == cid for r in ingest.replies), 20, f"reply to {name}")
    return next(r for r in ingest.replies if r.id == cid)


def test_report_status_answers_with_buffer_and_buses(agent: Agent, centre: Centre) -> None:
    reply = ask(centre, "report_status")
    assert reply.ok and reply.result is not None
    assert reply.result["gateway"] == GATEWAY
    assert set(reply.result["buses"]) == {bus.name for bus in agent.config.buses}
    assert "dc1" in reply.result["data_centres"]


def test_collect_now_reads_every_point_at_once(agent: Agent, centre: Centre) -> None:
    before = agent.buffer.last_seq
    reply = ask(centre, "collect_now")
    assert reply.ok and reply.result is not None
    assert reply.result["readings"] == len(agent.config.points())
    assert agent.buffer.last_seq >= before + len(agent.config.points())
    refused = ask(centre, "collect_now", buses=["no-such-bus"])
    assert not refused.ok and "no-such-bus" in (refused.error or "")


def test_time_sync_sets_the_clock_and_the_meters(
    agent: Agent, centre: Centre, plant: Plant
) -> None:
    bad = ask(centre, "time_sync", now_ms="soon")
    assert not bad.ok and "now_ms" in (bad.error or "")
    ahead_ms = int(time.time() * 1000) + 3_600_000
    reply = ask(centre, "time_sync", now_ms=ahead_ms)
    assert reply.ok and reply.result is not None
    assert 3590 < reply.result["offset_s"] < 3610
    assert reply.result["buses_synced"] == 1
    server: Any = next(bus.server for bus in plant.buses if bus.kind == "dlt645-tcp")
    assert server.last_time_sync is not None
    assert abs(server.last_time_sync.timestamp() - ahead_ms / 1000) < 10
    assert abs(agent.clock() - ahead_ms / 1000) < 10


def test_push_config_keeps_versions_and_refuses_bad_ones(
    agent: Agent, centre: Centre, tmp_path: Path
) -> None:
    path = tmp_path / "agent.yaml"
    original = path.read_text(encoding="utf-8")
    document = yaml.safe_load(original)
    document["buses"][0]["meters"][0]["points"][0]["energy_type"] = "plasma"
    refused = ask(centre, "push_config", text=yaml.safe_dump(document))
    assert not refused.ok
    assert "energy_type" in (refused.error or "") and "line" in (refused.error or "")
    assert path.read_text(encoding="utf-8") == original
    assert not agent.reload_requested.is_set()

    document["buses"][0]["meters"][0]["points"][0]["energy_type"] = "electricity"
    document["buses"][0]["meters"][0]["points"][0]["interval"] = "5s"
    accepted = ask(centre, "push_config", text=yaml.safe_dump(document))
    assert accepted.ok and accepted.result is not None
    assert accepted.result["previous"] == agent.config.version
    assert load_config(path).version == accepted.result["version"]
    versions = {p.stem for p in (agent.config.gateway.state_dir / "configs").iterdir()}
    assert versions == {agent.config.version, accepted.result["version"]}
    assert agent.reload_requested.is_set()


def test_forged_expired_and_repeated_commands_get_no_answer(agent: Agent, centre: Centre) -> None:
    ingest = centre.ingest
    assert ingest is not None
    forged_id, forged = command("report_status", GATEWAY_KEY)  # the gateway's key, not the DC's
    expired_id, expired = command("report_status", centre.key, ttl_ms=1000, age_ms=2000)
    ingest.send_command(GATEWAY, forged)
    ingest.send_command(GATEWAY, expired)
    repeated_id, repeated = command("report_status", centre.key)
    ingest.send_command(GATEWAY, repeated)
    ingest.send_command(GATEWAY, repeated)
    # A newer cloud may know commands this agent does not: it answers, saying so.
    now = int(time.time() * 1000)
    unknown_id = str(uuid.uuid4())
    body = {
        "v": 1,
        "type": "command",
        "gateway": GATEWAY,
        "id": unknown_id,
        "name": "self_destruct",
        "args": {},
        "issued_at_ms": now,
        "expires_at_ms": now + 60_000,
    }
    ingest.send_command(GATEWAY, wire.seal(body, centre.key))
    wait_for(lambda: any(r.id == unknown_id for r in ingest.replies), 20, "unknown's reply")
    unknown = next(r for r in ingest.replies if r.id == unknown_id)
    assert not unknown.ok and "self_destruct" in (unknown.error or "")
    ids = [r.id for r in ingest.replies]
    assert forged_id not in ids and expired_id not in ids
    assert ids.count(repeated_id) == 1


def test_tls_and_per_gateway_password(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    directory.mkdir()
    tls = make_tls(directory)
    broker = Mosquitto(directory, tls=tls, users={GATEWAY: "gw-secret", "ingest": "in-secret"})
    broker.start()
    plant = start_plant(modbus=1, dlt645=0, cjt188=0)
    centre = Centre("dc1", broker)
    ingest = SimDataCentre(
        "dc1",
        "127.0.0.1",
        broker.port,
        {GATEWAY: GATEWAY_KEY.public_key()},
        centre.key,
        username="ingest",
        password="in-secret",
    )
    ingest.start()
    entry = centre.entry(
        port=broker.tls_port, username=GATEWAY, password="gw-secret", tls={"ca_file": str(tls.ca)}
    )
    wrong = centre.entry(
        port=broker.tls_port, username=GATEWAY, password="wrong", tls={"ca_file": str(tls.ca)}
    )
    try:
        config = agent_config(plant, [entry], tmp_path / "state")
        with running(config) as agent:
            wait_for(lambda: ingest.count(GATEWAY) > 0, 30, "readings over TLS")
            assert agent.links[0].status.connected
        refused = agent_config(plant, [wrong], tmp_path / "state2")
        with running(refused) as agent:
            wait_for(lambda: agent.links[0].status.last_connect_error is not None, 20, "refusal")
            assert not agent.links[0].status.connected
            assert "authori" in (agent.links[0].status.last_connect_error or "").lower()
    finally:
        ingest.stop()
        plant.close()
        broker.stop()


def test_forged_foreign_and_malformed_acks_delete_nothing(agent: Agent, centre: Centre) -> None:
    ingest = centre.ingest
    assert ingest is not None
    ingest.paused.set()  # nothing genuine is acknowledged from now on
    wait_for(lambda: agent.buffer.pending("dc1") >= 10, 30, "unacknowledged readings")
    before = list(agent.buffer.acked("dc1"))
    last, now = agent.buffer.last_seq, int(time.time() * 1000)
    everything = ((1, last),)
    bad = [
        b"not an ack",
        wire.encode_ack(wire.Ack(GATEWAY, "dc1", everything, now), GATEWAY_KEY),  # wrong key
        wire.encode_ack(wire.Ack(GATEWAY, "dc2", everything, now), centre.key),  # other DC's
        wire.encode_ack(wire.Ack(GATEWAY, "dc1", ((1, last + 10**6),), now), centre.key),
    ]
    genuine = wire.encode_ack(wire.Ack(GATEWAY, "dc1", ((last, last),), now), centre.key)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-acks")
    client.connect("127.0.0.1", centre.broker.port)
    client.loop_start()
    try:
        for payload in [*bad, genuine]:  # one connection: delivered in this order
            client.publish(wire.topic(GATEWAY, wire.Channel.ACK, "dc1"), payload, qos=1)
        wait_for(lambda: last in agent.buffer.acked("dc1"), 20, "the genuine ack")
    finally:
        client.disconnect()
        client.loop_stop()
    assert list(agent.buffer.acked("dc1")) == list(RangeSet([*before, (last, last)]))
    assert agent.buffer.depth() >= agent.buffer.pending("dc1") > 0
