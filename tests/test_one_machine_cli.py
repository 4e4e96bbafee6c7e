"""The commands the one-machine run is built from: ``ems gateways import-points`` and
``ems broker config``, on the real database, the real agent loader and a real Mosquitto.

Every test makes its own tenant (a unique slug): the points imported here must not
show up in the shared tenants other tests count.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import credit
from tests.edge.brokers import MOSQUITTO, _wait_listening, free_port
from tests.edge.harness import wait_for

ANY_DC_KEY = "gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q="
INGEST_PASSWORD = "ingest-" + uuid.uuid4().hex


def ems(*args: str, env: dict[str, str] | None = None) -> Result:
    from ems.cli import main

    return CliRunner().invoke(main, list(args), env=env)


@dataclass
class Tenant:
    """A provisioned tenant of the test and its schema."""

    slug: str
    schema: str


@pytest.fixture
def make_tenant(database: Any, settings: Any) -> Callable[..., Tenant]:
    """``make_tenant(plan=...)``: a new provisioned tenant with a unique slug."""
    from ems_tenants import services

    def make(plan: str = "standard", provision: bool = True) -> Tenant:
        tag = uuid.uuid4().hex[:8]
        with database.transaction() as session:
            tenant = services.create_tenant(
                session,
                services.TenantDraft(
                    slug=f"om-{tag}",
                    name=f"一机 {tag}",
                    credit_code=credit(f"91530100{int(tag, 16) % 10**9:09d}"),
                    region_code="530100",
                    industry_code="C3110",
                    plan=plan,
                ),
            )
            if provision:
                services.provision(session, database.engine, settings.migrations_dir, tenant)
            return Tenant(tenant.slug, tenant.schema_name or "")

    return make


def register(slug: str, directory: Path, name: str = "gw1") -> Path:
    """``ems gateways register``, its answer kept as the identity file run.sh keeps."""
    result = ems("gateways", "register", slug, name)
    assert result.exit_code == 0, result.output
    identity = directory / f"{slug}-{name}.identity.yaml"
    identity.write_text(result.output, encoding="utf-8")
    return identity


def simulate_config(identity: Path, directory: Path, interval: str = "60s") -> Path:
    """The agent configuration ``ems-edge simulate --identity`` writes (a small plant)."""
    config = directory / "agent.yaml"
    config.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ems_edge.cli",
            "simulate",
            *("--modbus", "1", "--dlt645", "2", "--dlt645-buses", "1", "--cjt188", "4"),
            *("--control-port", "0", "--interval", interval),
            *("--identity", str(identity), "--write-config", str(config)),
            *("--state-dir", str(directory / "state")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(config.exists, 30, "the agent configuration")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return config


#: The small plant's points: Modbus 4, DL/T 645 2 x 3, water 3 x 1, heat 1 x 2.
SMALL_PLANT_POINTS = 4 + 6 + 3 + 2


def plain_config(directory: Path, gateway_id: str, interval: str = "60s") -> Path:
    """An agent configuration for ``gateway_id`` (simulated meters, made-up keys)."""
    from ems_edge.simulators.plant import start_plant

    plant = start_plant(modbus=1, dlt645=2, cjt188=4, dlt645_buses=1)
    plant.close()  # only the configuration is wanted; its ports are just numbers
    key = Ed25519PrivateKey.generate().private_bytes_raw()
    centre = {"name": "dc1", "host": "127.0.0.1", "port": 1883, "key": ANY_DC_KEY}
    config = directory / f"{gateway_id}.yaml"
    config.write_text(
        plant.config(gateway_id, key, [centre], directory / "state", interval), encoding="utf-8"
    )
    return config


def points(database: Any, schema: str) -> list[dict[str, Any]]:
    """Every point of the tenant, as rows, in id order."""
    from sqlalchemy import select

    from ems.telemetry.models import Point

    with database.transaction(schema) as session:
        return [
            {c.key: getattr(p, c.key) for c in Point.__table__.columns}
            for p in session.scalars(select(Point).order_by(Point.id))
        ]


def audit_count(database: Any) -> int:
    from sqlalchemy import func, select

    from ems.audit.models import AuditEntry

    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


# -- ems gateways import-points --------------------------------------------------------------


def test_register_simulate_import_then_again_changes_nothing(
    make_tenant: Callable[..., Tenant], database: Any, tmp_path: Path
) -> None:
    """The chain run.sh runs: register, a config with that identity, import (twice)."""
    from ems_edge.config import load_config

    tenant = make_tenant()
    config = simulate_config(register(tenant.slug, tmp_path), tmp_path)
    gateway_id = f"{tenant.slug}-gw1"
    first = ems("gateways", "import-points", tenant.slug, "--config", str(config))
    assert first.exit_code == 0, first.output
    assert first.output.strip() == (
        f"{tenant.slug} {gateway_id}: {SMALL_PLANT_POINTS} points added, 0 updated, 0 unchanged"
    )
    stored = points(database, tenant.schema)
    expected = {
        spec.id: (spec.meter_id, spec.energy_type, str(spec.kind), spec.unit)
        for spec in load_config(config).points()
    }
    assert {
        p["code"]: (p["meter_code"], p["energy_type"], p["kind"], p["unit"]) for p in stored
    } == (expected)
    assert {p["gateway_id"] for p in stored} == {gateway_id}
    assert {p["interval_s"] for p in stored} == {60}
    assert {p["name"] for p in stored} == set(expected)
    audited = audit_count(database)

    again = ems("gateways", "import-points", tenant.slug, "--config", str(config))
    assert again.exit_code == 0, again.output
    assert again.output.strip().endswith(
        f"0 points added, 0 updated, {SMALL_PLANT_POINTS} unchanged"
    )
    assert points(database, tenant.schema) == stored  # not even updated_at moved
    assert audit_count(database) == audited


def test_a_changed_config_updates_its_points_and_keeps_the_rest(
    make_tenant: Callable[..., Tenant], database: Any, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from ems.telemetry.models import Point

    tenant = make_tenant()
    register(tenant.slug, tmp_path)
    gateway_id = f"{tenant.slug}-gw1"
    config = plain_config(tmp_path, gateway_id)
    assert ems("gateways", "import-points", tenant.slug, "--config", str(config)).exit_code == 0
    with database.transaction(tenant.schema) as session:  # what an energy manager set
        session.execute(update(Point).values(name="一号表", max_value=1e9))
    faster = plain_config(tmp_path, gateway_id, interval="30s")
    result = ems("gateways", "import-points", tenant.slug, "--config", str(faster))
    assert result.exit_code == 0, result.output
    assert f"0 points added, {SMALL_PLANT_POINTS} updated, 0 unchanged" in result.output
    stored = points(database, tenant.schema)
    assert {(p["interval_s"], p["name"], p["max_value"]) for p in stored} == {(30, "一号表", 1e9)}


def test_the_audit_log_files_imported_points_under_the_tenant(
    make_tenant: Callable[..., Tenant], database: Any, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from ems.audit.models import AuditEntry
    from ems_tenants.models import Tenant as TenantRow

    tenant = make_tenant()
    register(tenant.slug, tmp_path)
    config = plain_config(tmp_path, f"{tenant.slug}-gw1")
    assert ems("gateways", "import-points", tenant.slug, "--config", str(config)).exit_code == 0
    with database.transaction() as session:
        tenant_id = session.scalar(select(TenantRow.id).where(TenantRow.slug == tenant.slug))
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.object_type == "points", AuditEntry.tenant_id == tenant_id
            )
        ).all()
    assert len(entries) == SMALL_PLANT_POINTS
    assert {(e.action, e.actor_kind) for e in entries} == {("insert", "cli")}


def test_unknown_tenant(tmp_path: Path) -> None:
    config = plain_config(tmp_path, "nobody-gw1")
    result = ems("gateways", "import-points", "no-such-works", "--config", str(config))
    assert result.exit_code == 1
    assert "no tenant 'no-such-works'" in result.output and "Traceback" not in result.output


def test_tenant_without_a_schema(make_tenant: Callable[..., Tenant], tmp_path: Path) -> None:
    tenant = make_tenant(provision=False)
    result = ems(
        "gateways", "import-points", tenant.slug, "--config", str(plain_config(tmp_path, "x-gw1"))
    )
    assert result.exit_code == 1
    assert f"tenant '{tenant.slug}' is pending: it has no schema" in result.output


def test_gateway_not_registered_or_of_another_tenant_answer_alike(
    make_tenant: Callable[..., Tenant], database: Any, tmp_path: Path
) -> None:
    ours, theirs = make_tenant(), make_tenant()
    register(theirs.slug, tmp_path)
    answers = []
    for gateway_id in (f"{ours.slug}-gw9", f"{theirs.slug}-gw1"):
        config = plain_config(tmp_path, gateway_id)
        result = ems("gateways", "import-points", ours.slug, "--config", str(config))
        assert result.exit_code == 1
        answers.append(result.output.replace(gateway_id, "GW"))
    assert answers[0] == answers[1]
    assert f"gateway 'GW' is not registered to tenant '{ours.slug}'" in answers[0]
    assert points(database, ours.schema) == [] and points(database, theirs.schema) == []


def test_revoked_gateway(make_tenant: Callable[..., Tenant], database: Any, tmp_path: Path) -> None:
    from ems_tenants import gateways
    from ems_tenants.models import Gateway

    tenant = make_tenant()
    register(tenant.slug, tmp_path)
    gateway_id = f"{tenant.slug}-gw1"
    with database.transaction() as session:
        gateways.revoke(session, session.get(Gateway, gateway_id))
    config = plain_config(tmp_path, gateway_id)
    result = ems("gateways", "import-points", tenant.slug, "--config", str(config))
    assert result.exit_code == 1
    assert f"gateway '{gateway_id}' is revoked, not active" in result.output
    assert points(database, tenant.schema) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(None, "no such file", id="missing"),
        pytest.param("gateway: {id: [\n", "not valid YAML", id="not-yaml"),
        pytest.param("- a\n- b\n", "line 1: the top level must be a mapping", id="a-list"),
        pytest.param(
            "gateway:\n  id: x-gw1\n  signing_key: AAAA\n",
            "line 3: gateway.signing_key: must be the base64",
            id="not-an-agent-config",
        ),
    ],
)
def test_config_missing_or_malformed(
    make_tenant: Callable[..., Tenant], tmp_path: Path, text: str | None, message: str
) -> None:
    tenant = make_tenant()
    config = tmp_path / "agent.yaml"
    if text is not None:
        config.write_text(text, encoding="utf-8")
    result = ems("gateways", "import-points", tenant.slug, "--config", str(config))
    assert result.exit_code == 1
    assert f"Error: {config}" in result.output and message in result.output, result.output
    assert "Traceback" not in result.output


def _fill(database: Any, schema: str, count: int) -> None:
    """``count`` points of another gateway of the tenant, already in the catalogue."""
    from sqlalchemy import insert

    from ems.telemetry.models import Point

    rows = [
        dict(gateway_id="elsewhere-gw1", code=f"P{n}", name=f"P{n}", energy_type="electricity")
        | dict(kind="instantaneous", unit="kW", interval_s=900)
        for n in range(count)
    ]
    with database.transaction(schema) as session:
        session.execute(insert(Point), rows)


def test_plan_limit(make_tenant: Callable[..., Tenant], database: Any, tmp_path: Path) -> None:
    """The trial plan's 500 points: up to the limit is fine, past it nothing is imported."""
    full, room = make_tenant(plan="trial"), make_tenant(plan="trial")
    for tenant, existing in (
        (full, 500 - SMALL_PLANT_POINTS + 1),
        (room, 500 - SMALL_PLANT_POINTS),
    ):
        register(tenant.slug, tmp_path)
        _fill(database, tenant.schema, existing)
    refused = ems(
        "gateways",
        "import-points",
        full.slug,
        "--config",
        str(plain_config(tmp_path, f"{full.slug}-gw1")),
    )
    assert refused.exit_code == 1
    assert (
        f"the plan allows 500 points; the tenant has {500 - SMALL_PLANT_POINTS + 1} and the "
        f"configuration would add {SMALL_PLANT_POINTS}"
    ) in refused.output
    assert len(points(database, full.schema)) == 500 - SMALL_PLANT_POINTS + 1
    fits = ems(
        "gateways",
        "import-points",
        room.slug,
        "--config",
        str(plain_config(tmp_path, f"{room.slug}-gw1")),
    )
    assert fits.exit_code == 0, fits.output
    assert len(points(database, room.schema)) == 500


def test_the_demo_plan_holds_the_demo_plant(database: Any) -> None:
    """run.sh's plant (64 meters) must fit the demo tenant's plan (standard)."""
    from sqlalchemy import select

    from ems_edge.simulators.plant import start_plant
    from ems_tenants.models import Plan

    plant = start_plant()  # the defaults run.sh uses
    plant.close()
    count = sum(len(meter["points"]) for bus in plant.buses for meter in bus.meter_configs)
    assert len(plant.meters()) == 64
    with database.transaction() as session:
        plan = session.scalar(select(Plan).where(Plan.code == "standard"))
        assert plan is not None
        assert count <= plan.max_points


# -- ems broker config -------------------------------------------------------------------------


@pytest.fixture
def broker_env(tmp_path: Path) -> dict[str, str]:
    directory = tmp_path / "broker"
    return {
        "EMS_BROKER_DIR": str(directory),
        "EMS_BROKER_PID_FILE": str(directory / "mosquitto.pid"),
        "EMS_MQTT_URL": f"mqtt://ingest-dc1:{INGEST_PASSWORD}@127.0.0.1:1",
    }


def test_broker_config_is_written_beside_passwd_and_acl(
    broker_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log" / "broker.log"
    result = ems("broker", "config", "--port", "18999", "--log-file", str(log), env=broker_env)
    assert result.exit_code == 0, result.output
    directory = Path(broker_env["EMS_BROKER_DIR"])
    assert result.output.strip() == str(directory / "mosquitto.conf")
    lines = (directory / "mosquitto.conf").read_text(encoding="utf-8").splitlines()
    for line in (
        "listener 18999 127.0.0.1",
        f"password_file {directory / 'passwd'}",
        f"acl_file {directory / 'acl'}",
        f"persistence_location {directory}/",
        f"log_dest file {log}",
        f"pid_file {directory / 'mosquitto.pid'}",
        "allow_anonymous false",
    ):
        assert line in lines
    assert ("user root" in lines) == (os.geteuid() == 0)
    assert log.parent.is_dir()


def test_broker_config_makes_relative_paths_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"EMS_BROKER_DIR": "var/broker", "EMS_BROKER_PID_FILE": ""}
    result = ems("broker", "config", "--port", "18999", "--log-file", "var/log/b.log", env=env)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "var" / "broker" / "mosquitto.conf").read_text(encoding="utf-8")
    assert f"password_file {tmp_path}/var/broker/passwd" in text
    assert f"log_dest file {tmp_path}/var/log/b.log" in text
    assert "pid_file" not in text


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_broker_config_refuses_a_bad_port(broker_env: dict[str, str], port: str) -> None:
    result = ems("broker", "config", "--port", port, env=broker_env)
    assert result.exit_code == 2 and "--port" in result.output
    assert not (Path(broker_env["EMS_BROKER_DIR"]) / "mosquitto.conf").exists()


@pytest.fixture
def mosquitto(
    broker_env: dict[str, str], database: Any
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A real broker on the files of ``ems broker config`` and ``ems gateways broker-files``."""
    port = free_port()
    assert ems("broker", "config", "--port", str(port), env=broker_env).exit_code == 0
    files = ems("gateways", "broker-files", env=broker_env)
    assert files.exit_code == 0, files.output
    directory = Path(broker_env["EMS_BROKER_DIR"])
    assert stat.S_IMODE((directory / "passwd").stat().st_mode) == 0o600
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(directory / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port)
        yield port, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def _connect(port: int, username: str, password: str) -> int:
    """The CONNACK reason code the broker gives these credentials."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    codes: list[int] = []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason.value)
    client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        wait_for(lambda: bool(codes), 10, "CONNACK")
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def test_the_broker_runs_from_those_files_and_knows_its_pid(
    mosquitto: tuple[int, subprocess.Popen[bytes]], broker_env: dict[str, str]
) -> None:
    port, process = mosquitto
    pid_file = Path(broker_env["EMS_BROKER_PID_FILE"])
    wait_for(pid_file.exists, 10, "the pid file")
    assert int(pid_file.read_text().strip()) == process.pid
    assert _connect(port, "ingest-dc1", INGEST_PASSWORD) == 0
    assert _connect(port, "ingest-dc1", "wrong") == 0x87  # Not authorized (Mosquitto 2.0.11)
    process.terminate()
    process.wait(timeout=10)
    assert not pid_file.exists()  # a clean stop leaves no stale pid behind
