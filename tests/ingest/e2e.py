"""The whole data path on real parts, for the end-to-end and fault tests.

Simulated meters (Modbus TCP, DL/T 645 and CJ/T 188 over TCP) -> the real edge
agent -> a private Mosquitto configured from the gateway registry (generated
password file and ACLs) -> ``ems ingest run`` as real processes -> the test
PostgreSQL database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ems_edge.config import AgentConfig, parse_config
from ems_edge.simulators.plant import Plant as SimPlant
from tests.edge.brokers import MOSQUITTO, _wait_listening, free_port
from tests.edge.harness import wait_for
from tests.ingest.conftest import Plant

INGEST_PASSWORD = "ingest-" + uuid.uuid4().hex


@dataclass
class Broker:
    """A private Mosquitto whose credentials and ACLs come from the gateway registry."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def write_files(self, database: Any, dc: str) -> None:
        from ems_tenants import broker, gateways

        with database.transaction() as session:
            ingest = {dc: broker.hash_password(INGEST_PASSWORD)}
            accounts = gateways.broker_accounts(session, ingest)
        broker.write_broker_files(self.directory, accounts)
        settings = broker.BrokerSettings(
            port=self.port,
            data_dir=self.directory,
            password_file=self.directory / "passwd",
            acl_file=self.directory / "acl",
            user="root" if os.geteuid() == 0 else None,
            log_file=self.directory / "mosquitto.log",
            sys_interval=1,
        )
        (self.directory / "mosquitto.conf").write_text(broker.render_broker_config(settings))

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_listening(self.port)

    def reload(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)
        time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class IngestProcess:
    """``ems ingest run`` as a child process with a stable client id (its MQTT session)."""

    broker: Broker
    client_id: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def _connections(self) -> int:
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count(" connected (")

    def start(self, timeout: float = 30.0) -> None:
        """Start the ingest and return once it has subscribed.

        A message published to a shared subscription before any member has subscribed is
        not queued for anyone: a test that publishes right after starting the ingest would
        race its start-up (import, database, broker connection) and lose."""
        before = self._connections()
        env = dict(os.environ)
        env.update(
            EMS_MQTT_URL=f"mqtt://ingest-dc1:{INGEST_PASSWORD}@127.0.0.1:{self.broker.port}",
            EMS_DC_NAME="dc1",
        )
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ems", "ingest", "run", "--client-id", self.client_id],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: self._connections() > before, timeout, f"{self.client_id} subscribed")

    def kill(self) -> None:
        """SIGKILL: no chance to finish a flush or say goodbye."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def register_points(database: Any, plant: Plant, config: AgentConfig) -> None:
    """The cloud's point catalogue for the agent's configured points."""
    from ems.telemetry.models import Point

    with database.transaction(plant.schema) as session:
        for spec in config.points():
            point = Point(
                gateway_id=plant.gateway,
                code=spec.id,
                name=spec.id,
                meter_code=spec.meter_id,
                energy_type=spec.energy_type,
                kind=str(spec.kind),
                unit=spec.unit,
                interval_s=max(1, int(spec.interval)),
            )
            session.add(point)
            session.flush()
            plant.points[spec.id] = point.id


def agent_config(
    sim: SimPlant, plant: Plant, broker: Broker, dc_public: str, state_dir: Path
) -> AgentConfig:
    """The agent's configuration: the simulated meters, the registered identity."""
    from cryptography.hazmat.primitives import serialization

    raw = plant.key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    centre = {
        "name": "dc1",
        "host": "127.0.0.1",
        "port": broker.port,
        "username": plant.gateway,
        "password": plant.password,
        "key": dc_public,
    }
    text = sim.config(plant.gateway, raw, [centre], state_dir, "1s", status_port=0)
    return parse_config(text, "e2e config", state_dir)


def produced(agent: Any) -> dict[str, int]:
    """Readings the agent took, per point code, from its own completeness ledger."""
    totals: dict[str, int] = {}
    for day in _days():
        for row in agent.buffer.ledger(day):
            totals[row.point_id] = totals.get(row.point_id, 0) + row.count
    return totals


def _days() -> list[str]:
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    return [(today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)]


def stored(connect: Callable[[], psycopg.Connection], plant: Plant) -> dict[str, int]:
    """Distinct stored readings per point code (the key makes repeats impossible)."""
    with connect() as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT p.code, count(*), count(DISTINCT r.ts) FROM {0}.readings r "
                "JOIN {0}.points p ON p.id = r.point GROUP BY p.code"
            ).format(sql.Identifier(plant.schema))
        ).fetchall()
    for code, total, distinct in rows:
        assert total == distinct, f"{code}: {total} rows but {distinct} distinct times"
    return {code: total for code, total, _ in rows}
