"""The ems-provsim command: starts, answers, stops on SIGTERM."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ems_provsim.cli import main


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_cli_serves_until_terminated() -> None:
    port = _free_port()
    # The installed console script when there is one (it checks the pyproject entry), else -m.
    script = Path(sys.executable).with_name("ems-provsim")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "ems_provsim.cli"]
    command = [
        *launcher,
        "--profile",
        "yunnan",
        "--port",
        str(port),
        "--provision",
        "91330000573973053F:330100:4321",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            assert f"http://127.0.0.1:{port}" in banner and "yunnan" in banner
            reply = requests.post(
                f"http://127.0.0.1:{port}/YNEnergy/register",
                json={"enterpriseCode": "91330000573973053F", "region": "330100"},
                timeout=10,
            ).json()
            assert reply["responseCode"] == "200" and len(reply["deviceId"]) == 32
            log = requests.get(f"http://127.0.0.1:{port}/_sim/requests", timeout=10).json()
            assert [entry["outcome"] for entry in log] == ["accepted"]
        finally:
            process.terminate()
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        assert process.returncode == 0


def test_cli_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--profile", "atlantis", "--port", "0"]) == 2
    assert "no such profile" in capsys.readouterr().err
    assert main(["--port", "0", "--provision", "only-a-code"]) == 2
    assert "CODE:REGION" in capsys.readouterr().err
    assert main(["--port", "0", "--tls-cert", "x.pem"]) == 2
    assert "--tls-key" in capsys.readouterr().err
