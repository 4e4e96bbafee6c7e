"""The simulated plant as a process, with faults on demand through its control port."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ems_edge.config import load_config
from ems_edge.simulators.control import PlantControl
from ems_edge.simulators.model import FaultMode
from ems_edge.simulators.plant import Plant, start_plant

from .brokers import free_port
from .harness import wait_for


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One HTTP request to the control port; (status, decoded JSON)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def plant() -> Iterator[Plant]:
    """One meter of each protocol."""
    simulated = start_plant(modbus=1, dlt645=1, cjt188=1, dlt645_buses=1)
    yield simulated
    simulated.close()


@pytest.fixture
def control(plant: Plant) -> Iterator[PlantControl]:
    """The control server of the plant."""
    server = PlantControl(plant.meters())
    yield server
    server.close()


def test_faults_replacement_and_rollover_on_demand(plant: Plant, control: PlantControl) -> None:
    meter = next(m for m in plant.meters() if m.address == "000000000001")
    status, answer = call(
        control.port, "POST", "/meters/000000000001/fault", json.dumps({"mode": "silence"}).encode()
    )
    assert status == 200 and answer["fault"] == "silence"
    assert meter.fault is FaultMode.SILENCE
    modulus = meter.quantities["00010000"].modulus
    body = json.dumps({"key": "00010000", "value": modulus - 0.0001}).encode()
    call(control.port, "POST", "/meters/000000000001/counter", body)
    # The counter grows with the load and wraps at the register's limit, as on site.
    wait_for(lambda: meter.read("00010000") < 10, 10, "the counter to roll over")
    status, answer = call(control.port, "POST", "/meters/000000000001/replace")
    assert status == 200 and answer["replacements"] == 1
    status, listing = call(control.port, "GET", "/meters")
    assert status == 200 and {m["address"] for m in listing} == {m.address for m in plant.meters()}


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/meters/999999999999/fault", b'{"mode": "silence"}', 404, "no meter"),
        ("/meters/000000000001/fault", b'{"mode": "explode"}', 400, "mode"),
        ("/meters/000000000001/fault", b"[1, 2]", 400, "mode"),
        ("/meters/000000000001/fault", b"{not json", 400, "not JSON"),
        ("/meters/000000000001/fault", b"\xff\xfe", 400, "not JSON"),
        ("/meters/000000000001/counter", b'{"key": "02010100", "value": 1}', 400, "counter"),
        ("/meters/000000000001/counter", b'{"key": "00010000", "value": -5}', 400, "value"),
        ("/meters/000000000001/counter", b'{"key": "00010000", "value": true}', 400, "value"),
        ("/meters/000000000001/counter", b'{"key": 7, "value": 1}', 400, "key"),
        ("/meters/000000000001/melt", b"{}", 404, "no action"),
        ("/meters/000000000001", b"{}", 404, "no such resource"),
    ],
)
def test_bad_control_requests_are_refused_by_name(
    control: PlantControl, path: str, body: bytes, status: int, words: str
) -> None:
    code, answer = call(control.port, "POST", path, body)
    assert code == status and words in answer["error"]
    assert all(m.fault is FaultMode.NONE for m in control.meters.values())


def test_bad_content_length_is_refused(control: PlantControl) -> None:
    code, answer = call(
        control.port, "POST", "/meters/000000000001/fault", b"{}", {"Content-Length": "lots"}
    )
    assert code == 400 and "body" in answer["error"]


def test_simulate_runs_as_a_process_and_writes_a_valid_config(tmp_path: Path) -> None:
    config, port = tmp_path / "agent.yaml", free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ems_edge.cli",
            "simulate",
            "--modbus",
            "2",
            "--dlt645",
            "2",
            "--cjt188",
            "2",
            "--write-config",
            str(config),
            "--control-port",
            str(port),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(config.exists, 30, "the configuration")
        wait_for(lambda: _answers(port), 30, "the control port")
        loaded = load_config(config)
        assert sum(len(bus.meters) for bus in loaded.buses) == 6
        status, listing = call(port, "GET", "/meters")
        assert status == 200 and len(listing) == 6
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert b"simulated plant: 6 meters" in output


def _answers(port: int) -> bool:
    try:
        return call(port, "GET", "/meters")[0] == 200
    except OSError:
        return False
