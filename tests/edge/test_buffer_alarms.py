"""A filling buffer is loud: ``buffer_high`` at 80 %, ``buffer_full`` when readings are refused."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ems_edge.agent import Agent
from ems_edge.buffer import Buffer
from ems_edge.config import parse_config
from ems_edge.poller import BusPoller
from ems_edge.simulators.plant import Plant, start_plant

from .brokers import free_port
from .harness import ANY_DC_KEY, GATEWAY_KEY

MANUAL_CONFIG = """\
gateway:
  id: gw-alarm-01
  signing_key: {key}
  state_dir: {state}
  status_port: 0
data_centres:
  - {{name: dc1, host: 127.0.0.1, port: {port}, key: {dc_key}}}
buses:
  - name: yard
    kind: manual
    meters:
      - id: COAL
        points:
          - {{id: COAL.in, energy_type: coal, kind: cumulative, unit: t, interval: 8h}}
"""


@pytest.fixture
def plant() -> Iterator[Plant]:
    """One DL/T 645 meter."""
    simulated = start_plant(modbus=0, dlt645=1, cjt188=0, dlt645_buses=1)
    yield simulated
    simulated.close()


def test_buffer_high_is_raised_once_at_80_percent(tmp_path: Path) -> None:
    text = MANUAL_CONFIG.format(
        key=base64.b64encode(GATEWAY_KEY.private_bytes_raw()).decode(),
        state=tmp_path,
        port=free_port(),
        dc_key=ANY_DC_KEY,
    )
    agent = Agent(parse_config(text, "alarm config", tmp_path))
    assert agent.buffer.capacity == 45  # 3 entries a day x 15 days, the configured minimum
    try:
        now_ms = int(time.time() * 1000)
        agent.buffer.append([("COAL.in", now_ms - i * 1000, float(i)) for i in range(35)])
        agent.housekeeping()
        agent.buffer.append([("COAL.in", now_ms + 1, 99.0)])
        agent.housekeeping()
        kinds = [json.loads(body)["kind"] for _, body in agent.buffer.events()]
    finally:
        agent.buffer.close()
        agent.local_api.server.server_close()  # never started, so nothing to shut down
    assert kinds.count("buffer_high") == 1


def test_full_buffer_refuses_new_readings_keeps_old_ones_and_says_so(
    plant: Plant, tmp_path: Path
) -> None:
    text = plant.config(
        "gw-alarm-02",
        GATEWAY_KEY.private_bytes_raw(),
        [{"name": "dc1", "host": "127.0.0.1", "key": ANY_DC_KEY}],
        tmp_path,
    )
    config = parse_config(text, "plant config", tmp_path)
    bus = config.buses[0]
    meter = bus.meters[0]
    buffer = Buffer(tmp_path / "buffer.db", len(meter.points) + 1, ["dc1"])
    events: list[tuple[str, str]] = []
    poller = BusPoller(bus, buffer, lambda kind, *rest: events.append((kind, rest[-1])), time.time)
    try:
        assert poller.poll_meter(meter, meter.points, time.time()) == len(meter.points)
        kept = buffer.read(1, 100)
        poller.poll_meter(meter, meter.points, time.time() + 1)
        assert buffer.read(1, 100) == kept  # the oldest kept, the newest refused
    finally:
        poller.driver.close()
        buffer.close()
    full = [reason for kind, reason in events if kind == "buffer_full"]
    assert len(full) == 1 and "refused" in full[0] and "oldest are kept" in full[0]
