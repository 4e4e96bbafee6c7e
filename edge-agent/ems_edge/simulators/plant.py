"""A simulated plant: meters of all three protocols, and the agent configuration to poll them.

``ems-edge simulate`` starts Modbus TCP, DL/T 645 and CJ/T 188 simulators
(each bus one TCP port, as a serial server would present it), writes a
matching agent configuration, and serves until stopped. Tests and the
benchmark use :func:`start_plant` directly. With ``--data-centre`` it also
runs a simulated data centre that acknowledges what it receives, for the
one-machine demo before the cloud ingest is running.
"""

from __future__ import annotations

import argparse
import base64
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from ems_edge.simulators.cjt188 import cjt188_meter, serve_cjt188
from ems_edge.simulators.control import PlantControl
from ems_edge.simulators.dlt645 import dlt645_meter, serve_dlt645
from ems_edge.simulators.modbus import modbus_meter, serve_modbus
from ems_edge.simulators.model import SimMeter

#: What the agent reads from each simulated meter: (point suffix, point settings).
DLT645_POINTS = (
    ("ep", {"energy_type": "electricity", "kind": "cumulative", "unit": "kWh", "di": "00010000"}),
    ("ua", {"energy_type": "electricity", "kind": "instantaneous", "unit": "V", "di": "02010100"}),
    (
        "p",
        {
            "energy_type": "electricity",
            "kind": "instantaneous",
            "unit": "kW",
            "di": "02030000",
            "multiplier": 20,
        },
    ),
)
MODBUS_POINTS = (
    (
        "ep",
        {
            "energy_type": "electricity",
            "kind": "cumulative",
            "unit": "kWh",
            "register": {"function": "holding", "address": 0, "type": "float32"},
        },
    ),
    (
        "eq",
        {
            "energy_type": "electricity",
            "kind": "cumulative",
            "unit": "kvarh",
            "register": {"function": "holding", "address": 2, "type": "uint32", "scale": 0.01},
        },
    ),
    (
        "ua",
        {
            "energy_type": "electricity",
            "kind": "instantaneous",
            "unit": "V",
            "register": {"function": "holding", "address": 4, "type": "uint16", "scale": 0.1},
        },
    ),
    (
        "p",
        {
            "energy_type": "electricity",
            "kind": "instantaneous",
            "unit": "kW",
            "register": {"function": "holding", "address": 10, "type": "float32"},
        },
    ),
)
WATER_POINTS = (
    ("v", {"energy_type": "water", "kind": "cumulative", "unit": "m3", "field": "current_volume"}),
)
HEAT_POINTS = (
    ("q", {"energy_type": "heat", "kind": "cumulative", "unit": "kWh", "field": "current_heat"}),
    (
        "ts",
        {
            "energy_type": "heat",
            "kind": "instantaneous",
            "unit": "°C",
            "field": "supply_temperature",
        },
    ),
)


class Server(Protocol):
    """What every protocol simulator offers."""

    port: int

    def close(self) -> None:
        """Stop serving."""


@dataclass
class SimBus:
    """One simulated bus: its server, meters, and the agent's view of it."""

    name: str
    kind: str
    server: Server
    meters: list[SimMeter]
    meter_configs: list[dict[str, Any]]


@dataclass
class Plant:
    """Running simulators and the configuration that polls them."""

    buses: list[SimBus] = field(default_factory=list)

    def meters(self) -> list[SimMeter]:
        """Every simulated meter."""
        return [m for bus in self.buses for m in bus.meters]

    def config(
        self,
        gateway_id: str,
        signing_key: bytes,
        data_centres: list[dict[str, Any]],
        state_dir: Path,
        interval: str = "60s",
        **gateway: Any,
    ) -> str:
        """The agent configuration (YAML) for this plant."""
        buses = []
        for bus in self.buses:
            meters = [
                {**m, "points": [{**p, "interval": interval} for p in m["points"]]}
                for m in bus.meter_configs
            ]
            entry = {
                "name": bus.name,
                "kind": bus.kind,
                "host": "127.0.0.1",
                "port": bus.server.port,
                "timeout": "1s",
                "inter_frame_delay": "0ms",
                "meters": meters,
            }
            buses.append(entry)
        document = {
            "gateway": {
                "id": gateway_id,
                "signing_key": base64.b64encode(signing_key).decode(),
                "state_dir": str(state_dir),
                **gateway,
            },
            "data_centres": data_centres,
            "buses": buses,
        }
        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)

    def close(self) -> None:
        """Stop every simulator."""
        for bus in self.buses:
            bus.server.close()


def _points(prefix: str, points: tuple[tuple[str, dict[str, Any]], ...]) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}.{suffix}", **settings} for suffix, settings in points]


def start_plant(
    modbus: int = 16, dlt645: int = 32, cjt188: int = 16, *, dlt645_buses: int = 2, seed: int = 1
) -> Plant:
    """Start simulators with the given meter counts (DL/T 645 meters split over buses)."""
    plant = Plant()
    if modbus:
        meters = [modbus_meter(unit, seed + unit) for unit in range(1, modbus + 1)]
        configs = [
            {
                "id": f"MB{unit:03d}",
                "unit_id": unit,
                "points": _points(f"MB{unit:03d}", MODBUS_POINTS),
            }
            for unit in range(1, modbus + 1)
        ]
        plant.buses.append(SimBus("modbus1", "modbus-tcp", serve_modbus(meters), meters, configs))
    per_bus = -(-dlt645 // max(1, dlt645_buses)) if dlt645 else 0
    for bus_no in range(dlt645_buses if dlt645 else 0):
        numbers = range(bus_no * per_bus + 1, min(dlt645, (bus_no + 1) * per_bus) + 1)
        meters = [dlt645_meter(f"{n:012d}", seed + n) for n in numbers]
        configs = [
            {
                "id": f"EM{n:03d}",
                "address": f"{n:012d}",
                "points": _points(f"EM{n:03d}", DLT645_POINTS),
            }
            for n in numbers
        ]
        plant.buses.append(
            SimBus(f"rs485-{bus_no + 1}", "dlt645-tcp", serve_dlt645(meters), meters, configs)
        )
    if cjt188:
        meters, configs, types = [], [], {}
        for n in range(1, cjt188 + 1):
            address = f"{n:014d}"
            meter_type = 0x20 if n % 4 == 0 else 0x10
            types[address] = meter_type
            meters.append(cjt188_meter(address, meter_type, seed + n))
            points = HEAT_POINTS if meter_type == 0x20 else WATER_POINTS
            configs.append(
                {
                    "id": f"WM{n:03d}",
                    "address": address,
                    "meter_type": "heat" if meter_type == 0x20 else "cold_water",
                    "points": _points(f"WM{n:03d}", points),
                }
            )
        plant.buses.append(
            SimBus("mbus1", "cjt188-tcp", serve_cjt188(meters, types=types), meters, configs)
        )
    return plant


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ems-edge simulate``."""
    parser.add_argument("--modbus", type=int, default=16, help="Modbus TCP meters")
    parser.add_argument("--dlt645", type=int, default=32, help="DL/T 645 meters")
    parser.add_argument("--dlt645-buses", type=int, default=2)
    parser.add_argument("--cjt188", type=int, default=16, help="CJ/T 188 meters")
    parser.add_argument("--write-config", type=Path, help="write a matching agent config here")
    parser.add_argument("--gateway-id", default="gw-demo-01")
    parser.add_argument(
        "--mqtt",
        action="append",
        default=[],
        help="data centre broker as name=host:port (repeatable)",
    )
    parser.add_argument("--interval", default="60s", help="polling interval of every point")
    parser.add_argument("--state-dir", type=Path, default=Path("var/edge"))
    parser.add_argument(
        "--control-port",
        type=int,
        default=8766,
        help="loopback port for faults on demand (0: none)",
    )
    parser.add_argument(
        "--data-centre",
        action="store_true",
        help="also run a simulated data centre on each --mqtt broker",
    )


def run_simulation(args: argparse.Namespace) -> int:
    """Serve a simulated plant until SIGTERM/SIGINT."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
    )

    from ems_edge.simulators.datacentre import SimDataCentre

    plant = start_plant(args.modbus, args.dlt645, args.cjt188, dlt645_buses=args.dlt645_buses)
    key = Ed25519PrivateKey.generate()
    centres, dc_keys = [], {}
    for spec in args.mqtt or ["dc1=127.0.0.1:1883"]:
        name, _, address = spec.partition("=")
        host, _, port = address.rpartition(":")
        # The simulated data centre's own key; a real one's public key comes from the cloud.
        dc_keys[name] = Ed25519PrivateKey.generate()
        public = base64.b64encode(dc_keys[name].public_key().public_bytes_raw()).decode()
        centres.append({"name": name, "host": host, "port": int(port), "key": public})
    if args.write_config:
        args.write_config.parent.mkdir(parents=True, exist_ok=True)
        args.write_config.write_text(
            plant.config(
                args.gateway_id,
                key.private_bytes_raw(),
                centres,
                args.state_dir.resolve(),
                args.interval,
            ),
            encoding="utf-8",
        )
    running = []
    if args.data_centre:
        for centre in centres:
            dc = SimDataCentre(
                centre["name"],
                centre["host"],
                centre["port"],
                {args.gateway_id: key.public_key()},
                dc_keys[centre["name"]],
            )
            dc.start()
            running.append(dc)
    control = PlantControl(plant.meters(), port=args.control_port) if args.control_port else None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    ports = ", ".join(f"{b.name} ({b.kind}) :{b.server.port}" for b in plant.buses)
    print(f"simulated plant: {len(plant.meters())} meters on {ports}", flush=True)
    stop.wait()
    if control is not None:
        control.close()
    for dc in running:
        dc.stop()
    plant.close()
    return 0
