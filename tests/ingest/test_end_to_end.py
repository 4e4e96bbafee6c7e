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
