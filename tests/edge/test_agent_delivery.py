"""End to end: simulated meters over TCP -> agent -> real Mosquitto -> simulated data centre.

"Nothing lost" is counted, not assumed: what the meters gave out, what the
agent stored, and what the data centre committed must agree, through broker
outages and a data centre that is down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from ems_edge import wire
from ems_edge.agent import Agent
from ems_edge.simulators.datacentre import SimDataCentre
from ems_edge.simulators.model import FaultMode
from ems_edge.simulators.plant import Plant, start_plant

from .brokers import Mosquitto
from .harness import GATEWAY, Centre, agent_config, running, wait_for


@pytest.fixture
def plant() -> Iterator[Plant]:
    """64 meters: 16 Modbus TCP, 32 DL/T 645 on two serial servers, 16 CJ/T 188."""
    simulated = start_plant(modbus=16, dlt645=32, cjt188=16, dlt645_buses=2)
    yield simulated
    simulated.close()


@pytest.fixture
def small_plant() -> Iterator[Plant]:
    """A few meters of each protocol, for the fault-injection tests."""
    simulated = start_plant(modbus=2, dlt645=4, cjt188=4, dlt645_buses=1)
    yield simulated
    simulated.close()


def _broker(tmp_path: Path, name: str) -> Mosquitto:
    directory = tmp_path / name
    directory.mkdir()
    return Mosquitto(directory)


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[Centre]:
    """One data centre with its broker and ingest running."""
    dc = Centre("dc1", _broker(tmp_path, "dc1"))
    dc.broker.start()
    dc.start_ingest()
    yield dc
    assert dc.ingest is not None
    dc.ingest.stop()
    dc.broker.stop()


def _stop_polling(agent: Agent) -> None:
    for poller in agent.pollers:
        poller.stop()


def _drained(agent: Agent, *names: str) -> bool:
    return all(agent.buffer.pending(name) == 0 for name in names)


def _assert_exactly_once(ingest: SimDataCentre, last_seq: int) -> None:
    """Every sequence 1..last_seq committed, each (point, time) once, and in order per point."""
    committed = ingest.committed[GATEWAY]
    assert list(committed.seqs) == [(1, last_seq)]
    assert len(committed.values) == last_seq == len(committed.order)
    by_point: dict[str, list[int]] = defaultdict(list)
    for _, point, ts in committed.order:
        by_point[point].append(ts)
    for point, stamps in by_point.items():
        assert stamps == sorted(stamps), f"{point} arrived out of order"


def test_64_meters_over_three_protocols_every_reading_delivered(
    plant: Plant, centre: Centre, tmp_path: Path
) -> None:
    config = agent_config(plant, [centre.entry()], tmp_path / "state")
    assert len(plant.meters()) == 64
    points = config.points()
    with running(config) as agent:
        wait_for(lambda: agent.buffer.last_seq >= 3 * len(points), 60, "three polling rounds")
        _stop_polling(agent)
        wait_for(lambda: _drained(agent, "dc1"), 30, "the data centre to acknowledge all")
        last_seq = agent.buffer.last_seq
        faults = {p.bus.name: p.state.faulty_points for p in agent.pollers}
    ingest = centre.ingest
    assert ingest is not None
    assert not any(faults.values()), faults
    _assert_exactly_once(ingest, last_seq)
    committed = ingest.committed[GATEWAY].values
    per_point: dict[str, int] = defaultdict(int)
    for point, _ in committed:
        per_point[point] += 1
    assert set(per_point) == {p.id for p in points}
    # Each DL/T 645 point is one data identifier read: the meters' own tally must match.
    for bus in plant.buses:
        if bus.kind != "dlt645-tcp":
            continue
        for meter, meter_config in zip(bus.meters, bus.meter_configs, strict=True):
            assert meter.served["00010000"] == per_point[f"{meter_config['id']}.ep"]
    assert ingest.rejected == []


def test_completeness_ledger_matches_what_the_data_centre_stored(
    small_plant: Plant, centre: Centre, tmp_path: Path
) -> None:
    config = agent_config(small_plant, [centre.entry()], tmp_path / "state")
    ingest = centre.ingest
    assert ingest is not None
    with running(config) as agent:
        wait_for(lambda: agent.buffer.last_seq >= 2 * len(config.points()), 30, "two rounds")
        _stop_polling(agent)
        wait_for(lambda: _drained(agent, "dc1"), 30, "acknowledgement")
        agent.publish_ledger()
        wait_for(lambda: bool(ingest.ledgers), 10, "the ledger")
    stored: dict[str, wire.DigestAccumulator] = defaultdict(wire.DigestAccumulator)
    for (point, ts), value in ingest.committed[GATEWAY].values.items():
        stored[point].add(ts, value)
    ledgers = {
        (ledger.day, point): entry
        for ledger in ingest.ledgers
        for point, entry in ledger.points.items()
    }
    assert {point for _, point in ledgers} == set(stored)
    for point, accumulator in stored.items():
        entries = [entry for (_, p), entry in ledgers.items() if p == point]
        assert sum(e.count for e in entries) == accumulator.count
        if len(entries) == 1:  # a test run across UTC midnight splits a point over two days
            assert entries[0].digest == accumulator.hexdigest()
        assert all(e.gaps == 0 for e in entries)


def test_broker_outage_loses_nothing_and_repeats_nothing(
    small_plant: Plant, centre: Centre, tmp_path: Path
) -> None:
    config = agent_config(small_plant, [centre.entry()], tmp_path / "state")
    ingest = centre.ingest
    assert ingest is not None
    with running(config, ack_timeout=2.0) as agent:
        wait_for(lambda: ingest.count(GATEWAY) > 0, 30, "first delivery")
        centre.broker.stop()
        before = agent.buffer.last_seq
        wait_for(
            lambda: agent.buffer.last_seq >= before + 3 * len(config.points()),
            30,
            "polling to go on while the broker is down",
        )
        assert agent.buffer.pending("dc1") > 0
        centre.broker.start()
        wait_for(lambda: agent.buffer.last_seq >= before + 5 * len(config.points()), 30, "more")
        _stop_polling(agent)
        wait_for(lambda: _drained(agent, "dc1"), 60, "the backlog to drain")
        last_seq = agent.buffer.last_seq
    _assert_exactly_once(ingest, last_seq)


def test_two_data_centres_one_down(small_plant: Plant, tmp_path: Path) -> None:
    up, down = Centre("dc1", _broker(tmp_path, "dc1")), Centre("dc2", _broker(tmp_path, "dc2"))
    up.broker.start()
    ingest_up = up.start_ingest()
    config = agent_config(small_plant, [up.entry(), down.entry()], tmp_path / "state")
    try:
        with running(config, ack_timeout=2.0) as agent:
            wait_for(lambda: agent.buffer.last_seq >= 3 * len(config.points()), 30, "polling")
            wait_for(lambda: agent.buffer.pending("dc1") == 0, 30, "dc1 to keep receiving")
            held = agent.buffer.pending("dc2")
            assert held == agent.buffer.last_seq  # nothing deleted: dc2 has not acknowledged
            assert agent.buffer.depth() == agent.buffer.last_seq
            down.broker.start()
            ingest_down = down.start_ingest()
            _stop_polling(agent)
            wait_for(lambda: _drained(agent, "dc1", "dc2"), 60, "dc2 to catch up")
            last_seq = agent.buffer.last_seq
            wait_for(lambda: agent.buffer.depth() == 0, 10, "the buffer to be pruned")
        _assert_exactly_once(ingest_up, last_seq)
        _assert_exactly_once(ingest_down, last_seq)
    finally:
        for dc in (up, down):
            if dc.ingest is not None:
                dc.ingest.stop()
            dc.broker.stop()


def test_faults_are_told_apart_and_reported(
    small_plant: Plant, centre: Centre, tmp_path: Path
) -> None:
    config = agent_config(small_plant, [centre.entry()], tmp_path / "state")
    ingest = centre.ingest
    assert ingest is not None
    dlt645 = next(bus for bus in small_plant.buses if bus.kind == "dlt645-tcp")
    silent, wrong = dlt645.meters[0], dlt645.meters[1]
    silent_id, wrong_id = dlt645.meter_configs[0]["id"], dlt645.meter_configs[1]["id"]
    with running(config) as agent:
        wait_for(lambda: ingest.count(GATEWAY) > 0, 30, "first delivery")
        silent.fault, wrong.fault = FaultMode.SILENCE, FaultMode.ERROR_REPLY

        def reported(kind: wire.EventKind, meter: str) -> bool:
            return any(e.kind is kind and e.meter == meter for e in ingest.events)

        wait_for(lambda: reported(wire.EventKind.COMMUNICATION_FAULT, silent_id), 30, "comm")
        wait_for(lambda: reported(wire.EventKind.METER_FAULT, wrong_id), 30, "meter fault")
        silent.fault = wrong.fault = FaultMode.NONE
        wait_for(lambda: reported(wire.EventKind.RECOVERED, silent_id), 30, "recovery")
        status = agent.status()
    assert status["buses"][dlt645.name]["last_ok_at"] is not None
    fault = next(e for e in ingest.events if e.meter == wrong_id and e.kind == "meter_fault")
    assert "error reply" in fault.reason
    assert fault.point is not None and fault.point.startswith(wrong_id)
