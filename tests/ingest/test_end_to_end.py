"""Simulators -> edge agent -> Mosquitto -> ingest -> PostgreSQL, with faults on the way.

Each test ends the same way: the meters go silent, the agent's buffer drains,
and the readings stored per point equal the readings the agent took per point
(its own ledger), with no point/time stored twice.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ems_edge.simulators.plant import Plant as SimPlant
from ems_edge.simulators.plant import start_plant
from tests.edge.harness import running, wait_for
from tests.ingest.conftest import Plant
from tests.ingest.e2e import (
    Broker,
    IngestProcess,
    agent_config,
    produced,
    register_points,
    stored,
)


@dataclass
class Path_:
    """Everything one end-to-end test runs."""

    sim: SimPlant
    plant: Plant
    broker: Broker
    ingests: list[IngestProcess]
    config: Any
    connect: Any


@pytest.fixture
def path(
    tmp_path: Path, make_plant: Any, database: Any, settings: Any, connect: Any, dc_key: Any
) -> Iterator[Path_]:
    from ems_tenants.gateways import raw_public

    plant = make_plant(points=())
    broker = Broker(tmp_path / "broker")
    broker.directory.mkdir()
    broker.write_files(database, "dc1")
    ingests = [IngestProcess(broker, "ingest-e2e-a", tmp_path / "ingest-a.log")]
    sim = start_plant(modbus=2, dlt645=4, cjt188=2, dlt645_buses=2, seed=7)
    try:
        broker.start()
        dc_public = raw_public(dc_key.public_key())
        config = agent_config(sim, plant, broker, dc_public, tmp_path / "agent")
        register_points(database, plant, config)
        ingests[0].start()
        yield Path_(sim, plant, broker, ingests, config, connect)
    finally:
        for ingest in ingests:
            ingest.stop()
        broker.stop()
        sim.close()


def finish(p: Path_, agent: Any, timeout: float = 90.0) -> dict[str, int]:
    """Silence the meters, wait for the buffer to drain, compare per point."""
    p.sim.close()
    time.sleep(1.5)  # a poll in progress ends with a fault, not a reading
    wait_for(lambda: agent.buffer.pending("dc1") == 0, timeout, "every reading acknowledged")
    taken = produced(agent)
    assert sum(taken.values()) > 0
    assert stored(p.connect, p.plant) == taken
    return taken


def test_counts_match_per_point(path: Path_) -> None:
    with running(path.config, ack_timeout=5.0) as agent:
        time.sleep(6)
        taken = finish(path, agent)
    assert set(taken) == set(path.plant.points)  # every configured point delivered


def test_ingest_killed_mid_batch_and_restarted(path: Path_) -> None:
    ingest = path.ingests[0]
    with running(path.config, ack_timeout=5.0) as agent:
        for _ in range(3):
            time.sleep(2.5)
            ingest.kill()
            time.sleep(1.5)  # the agent goes on publishing; the broker queues
            ingest.start()
        finish(path, agent)


def test_broker_restarted(path: Path_) -> None:
    with running(path.config, ack_timeout=5.0) as agent:
        time.sleep(3)
        path.broker.stop()
        time.sleep(3)  # readings pile up in the agent's buffer
        path.broker.start()
        time.sleep(3)
        finish(path, agent)


def test_database_restarted(path: Path_) -> None:
    with running(path.config, ack_timeout=5.0) as agent:
        time.sleep(3)
        # The machine's PostgreSQL itself restarts: every connection is cut, and for a
        # moment none is accepted. The ingest holds its messages and retries.
        subprocess.run(
            ["pg_ctlcluster", "15", "main", "restart", "-m", "fast"], check=True, timeout=60
        )
        subprocess.run(["pg_isready", "-h", "127.0.0.1", "-t", "30"], check=True, timeout=40)
        time.sleep(3)
        finish(path, agent)


def test_two_ingests_share_the_subscription(path: Path_, tmp_path: Path) -> None:
    second = IngestProcess(path.broker, "ingest-e2e-b", tmp_path / "ingest-b.log")
    path.ingests.append(second)
    second.start()
    with running(path.config, ack_timeout=5.0) as agent:
        time.sleep(6)
        finish(path, agent)
    logs = [i.log.read_text() for i in path.ingests]
    assert all("connected" in text for text in logs), logs


def test_foreign_topic_refused_and_garbage_quarantined(
    path: Path_, make_plant: Any, database: Any
) -> None:
    """A gateway cannot speak for another tenant's gateway; garbage does not stop the ingest."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from ems_edge import wire
    from tests.ingest.conftest import count_readings, quarantine

    other = make_plant()  # another tenant, registered after the broker started
    path.broker.write_files(database, "dc1")
    path.broker.reload()
    codes: dict[int, int] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, "intruder", protocol=mqtt.MQTTv5)
    client.on_publish = lambda _c, _u, mid, reason, _p: codes.__setitem__(mid, reason.value)
    client.username_pw_set(path.plant.gateway, path.plant.password)
    client.connect("127.0.0.1", path.broker.port)
    client.loop_start()
    try:
        now = int(time.time() * 1000)
        code = next(iter(path.plant.points))
        batch = wire.encode_batch(
            path.plant.gateway, "t", [(1, code, now, 1.0)], now, path.plant.key
        )
        foreign = client.publish(wire.topic(other.gateway, wire.Channel.READINGS), batch, qos=1)
        garbage = client.publish(
            wire.topic(path.plant.gateway, wire.Channel.READINGS), b"\0junk", 1
        )
        good = client.publish(wire.topic(path.plant.gateway, wire.Channel.READINGS), batch, qos=1)
        for info in (foreign, garbage, good):
            info.wait_for_publish(10)
        wait_for(lambda: len(codes) == 3, 10, "three PUBACKs")
    finally:
        client.disconnect()
        client.loop_stop()
    assert codes[foreign.mid] == 0x87  # Not authorized: the broker's ACL refused it
    assert codes[garbage.mid] < 0x80 and codes[good.mid] < 0x80
    wait_for(
        lambda: count_readings(path.connect, path.plant.schema) == {path.plant.points[code]: 1},
        20,
        "the good batch stored after the garbage",
    )
    (entry,) = quarantine(path.connect, path.plant.schema)
    assert entry["payload"] == b"\0junk" and entry["reason"]
    assert count_readings(path.connect, other.schema) == {}
    assert quarantine(path.connect, other.schema) == []


def test_command_reaches_the_agent_and_its_reply_is_recorded(
    path: Path_, database: Any, settings: Any
) -> None:
    import dataclasses

    from ems.telemetry import commands
    from ems.telemetry.models import GatewayCommand
    from ems_tenants.models import Gateway
    from tests.ingest.e2e import INGEST_PASSWORD

    cloud = dataclasses.replace(
        settings, mqtt_url=f"mqtt://ingest-dc1:{INGEST_PASSWORD}@127.0.0.1:{path.broker.port}"
    )
    with running(path.config, ack_timeout=5.0) as agent:
        # The agent subscribes, then announces itself online: once the cloud has the
        # status, the subscription exists (a gateway's first session has nothing queued).
        wait_for(lambda: _state(path) == "online", 20, "the gateway's online status")
        with database.transaction(path.plant.schema) as session:
            gateway = session.get(Gateway, path.plant.gateway)
            row = commands.issue(session, cloud, gateway, {"name": "report_status"}, "test")
            command_id = row.id

        def replied() -> GatewayCommand | None:
            with database.transaction(path.plant.schema) as session:
                found = session.get(GatewayCommand, command_id)
                return found if found is not None and found.replied_at is not None else None

        wait_for(lambda: replied() is not None, 20, "the gateway's reply")
        answer = replied()
        assert answer is not None and answer.reply_ok is True, answer
        assert isinstance(answer.reply_result, dict) and answer.reply_result
        finish(path, agent)


def _state(p: Path_) -> str | None:
    with p.connect() as conn:
        row = conn.execute(
            f'SELECT state FROM "{p.plant.schema}".gateway_state WHERE gateway_id = %s',
            (p.plant.gateway,),
        ).fetchone()
    return row[0] if row else None
