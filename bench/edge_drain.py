"""Edge agent throughput: ``python bench/edge_drain.py [--days 15] [--points 640]``.

Three figures, on a private Mosquitto broker and the simulated data centre:

1. Polling: readings/s the pollers store, against the simulators over TCP
   (64 meters: 16 Modbus TCP, 32 DL/T 645 on two serial servers, 16 CJ/T 188).
2. Drain: a buffer holding ``days`` x ``points`` x 1 reading/min (15 x 640 =
   13,824,000) is replayed to a data centre that acknowledges after "commit";
   readings/s from start to the last acknowledgement (target >= 200,000/s),
   while a fresh poll of every point is appended every 5 s and the worst
   delay until the data centre acknowledged it is reported (target < 60 s).
3. The replay cap: the same backlog with ``replay_rate`` set, and the rate
   observed over ten seconds, to show one gateway cannot flood the cloud.
"""

from __future__ import annotations

import argparse
import base64
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' private-broker helper

from ems_edge.agent import Agent  # noqa: E402
from ems_edge.buffer import Buffer  # noqa: E402
from ems_edge.config import AgentConfig, parse_config  # noqa: E402
from ems_edge.poller import BusPoller  # noqa: E402
from ems_edge.simulators.datacentre import SimDataCentre  # noqa: E402
from ems_edge.simulators.plant import start_plant  # noqa: E402
from tests.edge.brokers import Mosquitto  # noqa: E402

GATEWAY = "gw-bench-01"
GATEWAY_KEY = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
DC_KEY = Ed25519PrivateKey.from_private_bytes(b"\x08" * 32)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def backlog_config(state: Path, points: int, port: int, replay_rate: int) -> AgentConfig:
    """A gateway with ``points`` manual points at one reading a minute (nothing is polled)."""
    lines = [
        "gateway:",
        f"  id: {GATEWAY}",
        f"  signing_key: {_b64(GATEWAY_KEY.private_bytes_raw())}",
        f"  state_dir: {state}",
        f"  replay_rate: {replay_rate}",
        "  status_port: 0",
        "data_centres:",
        f"  - {{name: dc1, host: 127.0.0.1, port: {port},"
        f" key: {_b64(DC_KEY.public_key().public_bytes_raw())}}}",
        "buses:",
        "  - name: backlog",
        "    kind: manual",
        "    meters:",
        "      - id: M",
        "        points:",
    ]
    for n in range(points):
        lines.append(
            f"          - {{id: P{n:04d}, energy_type: electricity, kind: cumulative,"
            " unit: kWh, interval: 60s}"
        )
    return parse_config("\n".join(lines) + "\n", "bench config", state)


def fill(path: Path, points: int, days: float) -> int:
    """Write ``days`` of one-a-minute readings for ``points`` points straight into the buffer."""
    Buffer(path, 1, ["dc1"]).close()  # the schema
    total = int(days * 1440) * points
    start_ms = int((time.time() - days * 86400) * 1000)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # bulk set-up only; the agent writes with FULL
    conn.executemany(
        "INSERT INTO points (no, id) VALUES (?, ?)", [(n + 1, f"P{n:04d}") for n in range(points)]
    )
    chunk = 1_000_000
    for base in range(0, total, chunk):
        rows = (
            (s + 1, s % points + 1, start_ms + (s // points) * 60_000, float(s // points))
            for s in range(base, min(total, base + chunk))
        )
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(total),))
    conn.close()
    return total


def drain(
    broker: Mosquitto, points: int, days: float, replay_rate: int, seconds: float | None
) -> None:
    """Replay a full backlog; print the drain rate and the fresh readings' worst delay."""
    with tempfile.TemporaryDirectory(prefix="ems-drain-") as tmp:
        state = Path(tmp)
        config = backlog_config(state, points, broker.port, replay_rate)
        started = time.perf_counter()
        total = fill(state / "buffer.db", points, days)
        print(
            f"backlog: {total:,} readings ({days:g} days x {points} points x 1/min) "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        ingest = SimDataCentre(
            "dc1",
            "127.0.0.1",
            broker.port,
            {GATEWAY: GATEWAY_KEY.public_key()},
            DC_KEY,
            keep_values=False,
        )
        ingest.start()
        agent = Agent(config)
        delays: list[float] = []
        stop = threading.Event()

        def fresh() -> None:
            while not stop.wait(5.0):
                stamp = int(time.time() * 1000)
                last = agent.buffer.append([(f"P{n:04d}", stamp, 1.0) for n in range(points)])
                appended = time.perf_counter()
                while (
                    not stop.is_set()
                    and not ingest.committed[GATEWAY].seqs.floor(last - points + 1) >= last
                ):
                    time.sleep(0.02)
                delays.append(time.perf_counter() - appended)

        agent.start()
        began = time.perf_counter()
        threading.Thread(target=fresh, daemon=True).start()
        try:
            while agent.buffer.pending("dc1") > 0:
                agent.housekeeping()
                if seconds is not None and time.perf_counter() - began >= seconds:
                    break
                time.sleep(0.5)
            elapsed = time.perf_counter() - began
        finally:
            stop.set()
            done = ingest.count(GATEWAY)
            agent.stop()
            ingest.stop()
        label = f"replay_rate {replay_rate:,}/s" if seconds else "uncapped"
        print(
            f"drain ({label}): {done:,} readings acknowledged in {elapsed:.1f} s = "
            f"{done / elapsed:,.0f} readings/s"
        )
        if delays:
            print(
                f"  fresh readings (all {points} points every 5 s): {len(delays)} polls, "
                f"worst {max(delays):.2f} s, median {sorted(delays)[len(delays) // 2]:.2f} s "
                "from append to the data centre's acknowledgement"
            )


def polling(seconds: float) -> None:
    """Poll 64 simulated meters as fast as the buses allow; print readings/s."""
    plant = start_plant(modbus=16, dlt645=32, cjt188=16, dlt645_buses=2)
    with tempfile.TemporaryDirectory(prefix="ems-poll-") as tmp:
        text = plant.config(
            "gw-bench-02",
            GATEWAY_KEY.private_bytes_raw(),
            [
                {
                    "name": "dc1",
                    "host": "127.0.0.1",
                    "key": _b64(DC_KEY.public_key().public_bytes_raw()),
                }
            ],
            Path(tmp),
        )
        config = parse_config(text, "bench plant", Path(tmp))
        buffer = Buffer(Path(tmp) / "buffer.db", 10**9, ["dc1"])
        pollers = [BusPoller(bus, buffer, lambda *_: None, time.time) for bus in config.buses]
        counts = dict.fromkeys((p.bus.name for p in pollers), 0)
        deadline = time.perf_counter() + seconds

        def run(poller: BusPoller) -> None:
            while time.perf_counter() < deadline:
                for meter in poller.bus.meters:
                    counts[poller.bus.name] += poller.poll_meter(meter, meter.points, time.time())

        threads = [threading.Thread(target=run, args=(p,)) for p in pollers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for poller in pollers:
            poller.driver.close()
        buffer.close()
    plant.close()
    total = sum(counts.values())
    per_bus = ", ".join(f"{name} {n / seconds:,.0f}/s" for name, n in counts.items())
    print(f"polling: 64 meters, {total / seconds:,.0f} readings/s stored ({per_bus})")


def main() -> None:
    """Run the three measurements and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=15)
    parser.add_argument("--points", type=int, default=640)
    parser.add_argument("--cap", type=int, default=50_000, help="replay_rate for the cap run")
    args = parser.parse_args()
    polling(10)
    with tempfile.TemporaryDirectory(prefix="ems-broker-") as tmp:
        broker = Mosquitto(Path(tmp))
        broker.start()
        try:
            drain(broker, args.points, args.days, 10_000_000, None)
            drain(broker, args.points, min(args.days, 1), args.cap, 10.0)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
