"""End-to-end ingest throughput: ``python bench/ingest_e2e.py [--points 1000] [--minutes 1000]``.

The real parts, all on this machine: the edge agent replays a backlog of
``points`` x ``minutes`` readings (default 1,000,000) from its SQLite buffer,
signed, through a private Mosquitto configured from the gateway registry, to
``ingest`` processes (``python -m ems ingest run``, shared subscription) that
verify every signature, validate, COPY + insert-with-conflict-skip into the
tenant's partitioned ``readings``, commit, and only then PUBACK and send the
signed application ack. The agent deletes nothing until that ack.

Printed:
1. readings/s from the first publication to the last acknowledgement, and the
   rows actually in PostgreSQL at the end (they must equal the backlog);
2. latency of fresh readings, from the agent's buffer to the tenant's real-time
   value (``latest_values``), polled every 10 ms, measured after the drain.

It creates its own database (``ems_bench_<random>``) with the real migrations
and drops it at the end.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.edge_drain import fill  # noqa: E402
from ems_edge.agent import Agent  # noqa: E402
from ems_edge.config import AgentConfig, parse_config  # noqa: E402
from tests.ingest.e2e import INGEST_PASSWORD, Broker  # noqa: E402

ADMIN = os.environ.get("EMS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def setup(db_name: str, points: int) -> tuple[str, str, bytes, str, str]:
    """A migrated database, a tenant, a gateway and its points; returns what the run needs."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db_name}"
    os.environ.update(
        EMS_DATABASE_URL=url,
        EMS_SECRET_KEY="bench-" + uuid.uuid4().hex,
        EMS_MIGRATIONS_DIR=str(REPO / "migrations"),
    )
    from ems.config import load_settings
    from ems.db import Database
    from ems.migrate import upgrade_control
    from ems.telemetry.models import Point
    from ems_tenants import gateways, services

    settings = load_settings()
    database = Database(url, pool_size=2)
    upgrade_control(database.engine, settings.migrations_dir)
    with database.transaction() as session:
        tenant = services.create_tenant(
            session,
            services.TenantDraft(
                slug="bench-works",
                name="基准工厂 Bench works",
                credit_code="91530100123456789" + _check("91530100123456789"),
                region_code="530100",
                industry_code="C3110",
                plan="enterprise",
            ),
        )
        services.provision(session, database.engine, settings.migrations_dir, tenant)
        issued = gateways.register(session, tenant, {"name": "gw1"})
        dc = gateways.data_centre(session, settings.dc_name, settings.secret_key)
        schema, gateway, dc_public = tenant.schema_name, issued.gateway.id, dc.public_key
    assert issued.signing_key is not None
    assert schema is not None
    with database.transaction(schema) as session:
        session.add_all(
            Point(
                gateway_id=gateway,
                code=f"P{n:04d}",
                name=f"P{n:04d}",
                energy_type="electricity",
                kind="cumulative",
                unit="kWh",
                interval_s=60,
            )
            for n in range(points)
        )
    database.dispose()
    return schema, gateway, base64.b64decode(issued.signing_key), dc_public, issued.password


def _check(prefix: str) -> str:
    from ems_tenants.validation import uscc_check_character

    return uscc_check_character(prefix)


def agent_config(
    state: Path, gateway: str, key: bytes, password: str, dc_public: str, port: int, points: int
) -> AgentConfig:
    """The gateway, with ``points`` manual points (nothing is polled: the backlog is the load)."""
    lines = [
        "gateway:",
        f"  id: {gateway}",
        f"  signing_key: {base64.b64encode(key).decode()}",
        f"  state_dir: {state}",
        "  replay_rate: 10000000",
        "  status_port: 0",
        "data_centres:",
        f"  - {{name: dc1, host: 127.0.0.1, port: {port}, username: {gateway},"
        f" password: {password}, key: {dc_public}}}",
        "buses:",
        "  - name: backlog",
        "    kind: manual",
        "    meters:",
        "      - id: M",
        "        points:",
    ]
    lines += [
        f"          - {{id: P{n:04d}, energy_type: electricity, kind: cumulative,"
        " unit: kWh, interval: 60s}"
        for n in range(points)
    ]
    return parse_config("\n".join(lines) + "\n", "bench config", state)


def rows(dsn: str, schema: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".readings').fetchone()  # noqa: S608
        return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=1000, help="backlog depth per point")
    parser.add_argument("--ingests", type=int, default=2, help="ingest processes")
    parser.add_argument("--max-messages", type=int, default=400, help="messages per flush")
    args = parser.parse_args()
    db_name = f"ems_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    processes: list[subprocess.Popen[bytes]] = []
    broker: Broker | None = None
    try:
        schema, gateway, key, dc_public, password = setup(db_name, args.points)
        dsn = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
        with tempfile.TemporaryDirectory(prefix="ems-ingest-bench-") as tmp:
            from ems.db import Database

            database = Database(os.environ["EMS_DATABASE_URL"], pool_size=1)
            broker = Broker(Path(tmp) / "broker")
            broker.directory.mkdir()
            broker.write_files(database, "dc1")
            database.dispose()
            broker.start()
            env = dict(os.environ)
            env["EMS_MQTT_URL"] = f"mqtt://ingest-dc1:{INGEST_PASSWORD}@127.0.0.1:{broker.port}"
            for n in range(args.ingests):
                command = [sys.executable, "-m", "ems", "ingest", "run"]
                command += ["--client-id", f"bench-ingest-{n}"]
                command += ["--max-messages", str(args.max_messages)]
                processes.append(
                    subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                        command,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            state = Path(tmp) / "agent"
            state.mkdir()
            config = agent_config(
                state, gateway, key, password, dc_public, broker.port, args.points
            )
            started = time.perf_counter()
            total = fill(state / "buffer.db", args.points, args.minutes / 1440)
            print(
                f"backlog: {total:,} readings ({args.points} points x {args.minutes} minutes) "
                f"in {time.perf_counter() - started:.1f} s; {args.ingests} ingest processes"
            )
            time.sleep(2)  # the ingests subscribe
            agent = Agent(config)
            agent.start()
            began = time.perf_counter()
            try:
                while agent.buffer.pending("dc1") > 0:
                    agent.housekeeping()
                    time.sleep(0.2)
                elapsed = time.perf_counter() - began
                stored = rows(dsn, schema)
                print(
                    f"end to end: {total:,} readings committed and acknowledged in "
                    f"{elapsed:.1f} s = {total / elapsed:,.0f} readings/s "
                    f"(signatures, validation, ack after commit all on)"
                )
                print(f"rows in PostgreSQL: {stored:,} (backlog {total:,})")
                latencies = []
                with psycopg.connect(dsn, autocommit=True) as conn:
                    for _ in range(20):
                        stamp = int(time.time() * 1000)
                        agent.buffer.append([("P0000", stamp, float(stamp))])
                        appended = time.perf_counter()
                        query = (
                            f'SELECT 1 FROM "{schema}".latest_values l '  # noqa: S608
                            f'JOIN "{schema}".points p ON p.id = l.point '
                            "WHERE p.code = 'P0000' AND l.value = %s"
                        )
                        while conn.execute(query, (float(stamp),)).fetchone() is None:
                            time.sleep(0.01)
                        latencies.append(time.perf_counter() - appended)
                        time.sleep(0.2)
                latencies.sort()
                print(
                    f"real-time latency (buffer append -> latest_values), 20 readings: "
                    f"median {latencies[10] * 1000:.0f} ms, worst {latencies[-1] * 1000:.0f} ms"
                )
            finally:
                agent.stop()
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
        if broker is not None:
            broker.stop()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (db_name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')


if __name__ == "__main__":
    main()
