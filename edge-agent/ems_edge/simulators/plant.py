"""A simulated plant: meters of all three protocols, and the agent configuration to poll them.

``ems-edge simulate`` starts Modbus TCP, DL/T 645 and CJ/T 188 simulators
(each bus one TCP port, as a serial server would present it), writes a
matching agent configuration, and serves until stopped. Tests and the
benchmark use :func:`start_plant` directly.

The written configuration's gateway is either made up on the spot (its own
key, and with ``--data-centre`` a simulated data centre on each ``--mqtt``
broker that acknowledges what it receives), or, with ``--identity FILE``, a
gateway registered in the cloud (``ems gateways register`` prints that file):
its id, signing key and data centres, so the real ingest accepts what the
agent sends. The one-machine run uses the latter.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ems_edge.config import GATEWAY_ID_PATTERN, ID_PATTERN, parse_config
from ems_edge.configfile import Section, read_document
from ems_edge.errors import ConfigError
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


# -- a registered identity -------------------------------------------------------------------

DEFAULT_GATEWAY_ID = "gw-demo-01"


@dataclass(frozen=True)
class Identity:
    """A gateway registered in the cloud: the ``gateway`` and ``data_centres`` it was given."""

    gateway_id: str
    signing_key: bytes  # the raw 32-byte Ed25519 seed
    data_centres: list[dict[str, Any]]


def _key(section: Section, key: str, private: bool) -> str:
    """The base64 text of an Ed25519 key, checked the way the agent's loader reads it."""
    text: str = section.string(key)
    try:
        raw = base64.b64decode(text, validate=True)
        if private:
            Ed25519PrivateKey.from_private_bytes(raw)
        else:
            Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        kind = "private" if private else "public"
        raise section.where(key).error(
            f"must be the base64 of a 32-byte Ed25519 {kind} key"
        ) from exc
    return text


def load_identity(path: Path) -> Identity:
    """Read ``ems gateways register``'s output; a ConfigError names the file, line and field."""
    root = read_document(path)
    gateway = root.section("gateway")
    if gateway is None:  # section() raises for a missing key; this narrows the type
        raise root.place.error("'gateway' is required")
    gateway_id: str = gateway.string("id", pattern=GATEWAY_ID_PATTERN)
    if "signing_key" not in gateway:
        # A gateway registered with its own public key keeps the private half to itself.
        raise gateway.place.error(
            "'signing_key' is required: the simulated gateway signs with the registered key "
            "(register the gateway without --public-key)"
        )
    seed = base64.b64decode(_key(gateway, "signing_key", private=True))
    gateway.done()
    centres = []
    for section in root.sections("data_centres"):
        centres.append(
            {
                "name": section.string("name", pattern=ID_PATTERN),
                "host": section.string("host"),
                "port": section.integer("port", low=1, high=65535),
                "username": section.string("username"),
                "password": section.string("password"),
                "key": _key(section, "key", private=False),
            }
        )
        section.done()
    if not centres:
        raise root.where("data_centres").error("at least one data centre is required")
    root.done()
    return Identity(gateway_id, seed, centres)


def _address(spec: str) -> tuple[str, str, int]:
    """``name=host:port`` of a ``--mqtt`` option."""
    name, _, address = spec.partition("=")
    host, _, port = address.rpartition(":")
    if not (name and host and port.isdigit() and 1 <= int(port) <= 65535):
        raise ConfigError(f"--mqtt {spec!r}: expected NAME=HOST:PORT, e.g. dc1=127.0.0.1:1883")
    return name, host, int(port)


def _registered(path: Path, specs: list[str]) -> Identity:
    """The identity in ``path``, each ``--mqtt NAME=HOST:PORT`` moving one of its data centres."""
    identity = load_identity(path)
    centres = [dict(centre) for centre in identity.data_centres]
    by_name = {centre["name"]: centre for centre in centres}
    for spec in specs:
        name, host, port = _address(spec)
        if name not in by_name:
            raise ConfigError(
                f"--mqtt {spec!r}: {path} has no data centre {name!r} "
                f"(it has {', '.join(sorted(by_name))})"
            )
        by_name[name].update(host=host, port=port)
    return Identity(identity.gateway_id, identity.signing_key, centres)


def _check_options(args: argparse.Namespace) -> None:
    if args.identity is None:
        return
    if args.data_centre:
        raise ConfigError(
            "--identity and --data-centre do not go together: a registered gateway "
            "publishes to the real ingest, which acknowledges by itself"
        )
    if args.gateway_id is not None:
        raise ConfigError("--identity and --gateway-id do not go together: the identity names it")


def _write_config(path: Path, text: str) -> None:
    """Validate with the agent's own loader, then replace ``path`` whole (it holds secrets)."""
    parse_config(text, str(path), path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    os.replace(temp, path)


# -- ems-edge simulate --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ems-edge simulate``."""
    parser.add_argument("--modbus", type=int, default=16, help="Modbus TCP meters")
    parser.add_argument("--dlt645", type=int, default=32, help="DL/T 645 meters")
    parser.add_argument("--dlt645-buses", type=int, default=2)
    parser.add_argument("--cjt188", type=int, default=16, help="CJ/T 188 meters")
    parser.add_argument("--write-config", type=Path, help="write a matching agent config here")
    parser.add_argument(
        "--identity",
        type=Path,
        help="a registered gateway (what `ems gateways register` prints): the written "
        "config uses its id, signing key and data centres",
    )
    parser.add_argument(
        "--gateway-id", default=None, help=f"without --identity (default {DEFAULT_GATEWAY_ID})"
    )
    parser.add_argument(
        "--mqtt",
        action="append",
        default=[],
        help="data centre broker as name=host:port (repeatable); with --identity, "
        "moves that data centre of the identity to host:port",
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
        help="also run a simulated data centre on each --mqtt broker (not with --identity)",
    )


def _made_up(args: argparse.Namespace) -> tuple[Identity, dict[str, Ed25519PrivateKey]]:
    """A gateway of our own, and a key for each data centre it may simulate."""
    key = Ed25519PrivateKey.generate()
    centres, dc_keys = [], {}
    for spec in args.mqtt or ["dc1=127.0.0.1:1883"]:
        name, host, port = _address(spec)
        # The simulated data centre's own key; a real one's public key comes from the cloud.
        dc_keys[name] = Ed25519PrivateKey.generate()
        public = base64.b64encode(dc_keys[name].public_key().public_bytes_raw()).decode()
        centres.append({"name": name, "host": host, "port": port, "key": public})
    gateway_id = args.gateway_id or DEFAULT_GATEWAY_ID
    return Identity(gateway_id, key.private_bytes_raw(), centres), dc_keys


def run_simulation(args: argparse.Namespace) -> int:
    """Serve a simulated plant until SIGTERM/SIGINT."""
    from ems_edge.simulators.datacentre import SimDataCentre

    _check_options(args)
    dc_keys: dict[str, Ed25519PrivateKey] = {}
    if args.identity is not None:
        identity = _registered(args.identity, args.mqtt)
    else:
        identity, dc_keys = _made_up(args)
    plant = start_plant(args.modbus, args.dlt645, args.cjt188, dlt645_buses=args.dlt645_buses)
    try:
        if args.write_config:
            text = plant.config(
                identity.gateway_id,
                identity.signing_key,
                identity.data_centres,
                args.state_dir.resolve(),
                args.interval,
            )
            _write_config(args.write_config, text)
    except BaseException:
        plant.close()
        raise
    running = []
    if args.data_centre:
        public = Ed25519PrivateKey.from_private_bytes(identity.signing_key).public_key()
        for centre in identity.data_centres:
            dc = SimDataCentre(
                centre["name"],
                centre["host"],
                centre["port"],
                {identity.gateway_id: public},
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
    if args.write_config:
        print(f"agent config for gateway {identity.gateway_id}: {args.write_config}", flush=True)
    stop.wait()
    if control is not None:
        control.close()
    for dc in running:
        dc.stop()
    plant.close()
    return 0
