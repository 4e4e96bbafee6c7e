"""``ems-edge simulate --identity``: the simulated plant speaks as a registered gateway.

The identity file is what ``ems gateways register`` prints (the ``gateway`` and
``data_centres`` sections of an agent configuration). The written configuration
must carry it and load with the agent's own loader; a bad identity file is refused
before any simulator starts, naming the file, the line and the field.
"""

from __future__ import annotations

import base64
import logging
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ems_edge.cli import main
from ems_edge.config import load_config

from .harness import wait_for

GATEWAY_ID = "demo-steel-gw1"
SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
DC_KEY = Ed25519PrivateKey.from_private_bytes(b"\x09" * 32)
SIGNING_B64 = base64.b64encode(SIGNING_KEY.private_bytes_raw()).decode()
DC_PUBLIC_B64 = base64.b64encode(DC_KEY.public_key().public_bytes_raw()).decode()
PASSWORD = "s3cret-Password_of-the-gateway"

# The layout ``ems_tenants.gateways.agent_config`` prints at registration.
IDENTITY = f"""gateway:
  id: {GATEWAY_ID}
  signing_key: {SIGNING_B64}
data_centres:
  - name: dc1
    host: 127.0.0.1
    port: 18830
    username: {GATEWAY_ID}
    password: {PASSWORD}
    key: {DC_PUBLIC_B64}
"""


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """``main`` points the root logger at this test's captured stderr; undo that after it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


SMALL_PLANT = ["--modbus", "1", "--dlt645", "1", "--dlt645-buses", "1", "--cjt188", "1"]


def _identity(tmp_path: Path, text: str = IDENTITY) -> Path:
    path = tmp_path / "identity.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _simulate(tmp_path: Path, *options: str) -> tuple[Path, bytes]:
    """Run ``ems-edge simulate`` as a process until it wrote its config; its output."""
    config = tmp_path / "agent.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ems_edge.cli",
            "simulate",
            *SMALL_PLANT,
            "--control-port",
            "0",
            "--write-config",
            str(config),
            "--state-dir",
            str(tmp_path / "state"),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(config.exists, 30, "the configuration")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return config, output


def test_written_config_carries_the_identity(tmp_path: Path) -> None:
    config, output = _simulate(tmp_path, "--identity", str(_identity(tmp_path)))
    loaded = load_config(config)  # the agent's own loader
    assert loaded.gateway.id == GATEWAY_ID
    assert loaded.gateway.signing_key.private_bytes_raw() == SIGNING_KEY.private_bytes_raw()
    (centre,) = loaded.data_centres
    assert (centre.name, centre.host, centre.port) == ("dc1", "127.0.0.1", 18830)
    assert (centre.username, centre.password) == (GATEWAY_ID, PASSWORD)
    assert centre.key.public_bytes_raw() == DC_KEY.public_key().public_bytes_raw()
    assert len(loaded.points()) == 4 + 3 + 1  # Modbus, DL/T 645, one water meter
    assert loaded.gateway.state_dir == (tmp_path / "state").resolve()
    # It holds the gateway's password and signing key.
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert f"gateway {GATEWAY_ID}".encode() in output


def test_mqtt_moves_a_data_centre_of_the_identity(tmp_path: Path) -> None:
    identity = _identity(tmp_path)
    config, _ = _simulate(tmp_path, "--identity", str(identity), "--mqtt", "dc1=localhost:18831")
    (centre,) = load_config(config).data_centres
    assert (centre.host, centre.port, centre.username) == ("localhost", 18831, GATEWAY_ID)


def test_without_identity_the_gateway_is_made_up(tmp_path: Path) -> None:
    config, _ = _simulate(tmp_path, "--mqtt", "dc1=127.0.0.1:1883")
    loaded = load_config(config)
    assert loaded.gateway.id == "gw-demo-01"
    assert loaded.gateway.signing_key.private_bytes_raw() != SIGNING_KEY.private_bytes_raw()
    assert [(c.name, c.port, c.username) for c in loaded.data_centres] == [("dc1", 1883, None)]


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


BAD_IDENTITIES = [
    pytest.param("gateway: [\n", "not valid YAML", id="not-yaml"),
    pytest.param("", "the file is empty", id="empty"),
    pytest.param("- gateway\n", "the top level must be a mapping", id="a-list"),
    pytest.param(
        IDENTITY.replace("gateway:\n", "gateways:\n", 1), "'gateway' is required", id="no-gateway"
    ),
    pytest.param(
        IDENTITY.replace(f"  id: {GATEWAY_ID}\n", ""), "gateway: 'id' is required", id="no-id"
    ),
    pytest.param(
        IDENTITY.replace(f"  id: {GATEWAY_ID}", "  id: Not_A_Gateway"),
        "gateway.id: 'Not_A_Gateway' does not match",
        id="bad-id",
    ),
    pytest.param(
        IDENTITY.replace(f"signing_key: {SIGNING_B64}", "signing_key_file: signing.key"),
        "gateway: 'signing_key' is required",
        id="key-file-only",
    ),
    pytest.param(
        IDENTITY.replace(SIGNING_B64, "bm90IGEga2V5"),
        "gateway.signing_key: must be the base64 of a 32-byte Ed25519 private key",
        id="bad-signing-key",
    ),
    pytest.param(
        IDENTITY[: IDENTITY.index("data_centres:")],
        "'data_centres' is required",
        id="no-data-centres",
    ),
    pytest.param(
        IDENTITY[: IDENTITY.index("data_centres:")] + "data_centres: []\n",
        "data_centres: at least one data centre is required",
        id="empty-data-centres",
    ),
    pytest.param(
        IDENTITY.replace(f"    password: {PASSWORD}\n", ""),
        "data_centres[0]: 'password' is required",
        id="no-password",
    ),
    pytest.param(
        IDENTITY.replace("port: 18830", "port: lots"),
        "data_centres[0].port: must be an integer",
        id="bad-port",
    ),
    pytest.param(
        IDENTITY.replace(DC_PUBLIC_B64, "AAAA"),
        "data_centres[0].key: must be the base64 of a 32-byte Ed25519 public key",
        id="bad-dc-key",
    ),
    pytest.param(
        IDENTITY.replace("    password:", "    pasword:"),
        "data_centres[0]: 'password' is required",
        id="misspelt-key",
    ),
    pytest.param(
        IDENTITY + "buses: []\n",
        "buses: unknown key",
        id="more-than-an-identity",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_IDENTITIES)
def test_bad_identity_is_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    identity = _identity(tmp_path, text)
    config = tmp_path / "agent.yaml"
    code = main(["simulate", "--identity", str(identity), "--write-config", str(config)])
    error = capsys.readouterr().err
    assert code == 2, error
    assert error.startswith(f"ems-edge: {identity}"), error
    assert message in error, error
    assert not config.exists()


def test_refusal_names_the_line_in_the_identity_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = IDENTITY.replace(DC_PUBLIC_B64, "AAAA")
    identity = _identity(tmp_path, text)
    assert main(["simulate", "--identity", str(identity)]) == 2
    assert f"{identity} line {_line(text, 'key: AAAA')}:" in capsys.readouterr().err


def test_missing_identity_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert main(["simulate", "--identity", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"ems-edge: {missing}: no such file"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(["--data-centre"], "--identity and --data-centre", id="data-centre"),
        pytest.param(["--gateway-id", "gw-x"], "--identity and --gateway-id", id="gateway-id"),
        pytest.param(
            ["--mqtt", "dc2=127.0.0.1:1883"], "has no data centre 'dc2' (it has dc1)", id="dc2"
        ),
        pytest.param(["--mqtt", "dc1=127.0.0.1"], "expected NAME=HOST:PORT", id="no-port"),
    ],
)
def test_options_that_contradict_the_identity_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    identity = _identity(tmp_path)
    config = tmp_path / "agent.yaml"
    code = main(["simulate", "--identity", str(identity), "--write-config", str(config), *options])
    error = capsys.readouterr().err
    assert code == 2 and message in error, error
    assert not config.exists()
