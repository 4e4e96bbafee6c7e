"""The agent's configuration: one YAML file, validated whole at load.

Layout (see ``edge-agent/examples/agent.yaml`` for a complete file)::

    gateway:      id, signing key, state directory, buffer and publishing settings
    time_sync:    how often DL/T 645 meters get a broadcast time
    data_centres: one entry per data centre (>= 1; the code requires support for >= 2)
    buses:        kind, line settings, meters, and under each meter its points

Everything that could be wrong is refused here, with the line and the field:
unknown energy types, polling slower than the collection floor of
the construction code 4.3.6 (kept as data in ``data/collection_floors.csv``),
duplicate meter addresses on a bus, duplicate point ids, wrong data types.
A configuration pushed from the cloud goes through the same function.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.resources
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ems_edge.configfile import Place, Section, parse_document, read_document
from ems_edge.drivers import BUS_KINDS, DriverKind, driver_kind
from ems_edge.model import BusSpec, MeterSpec, PointKind, PointSpec

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
GATEWAY_ID_PATTERN = r"[a-z0-9][a-z0-9-]{2,63}"
DATA_CODE_PATTERN = r"\d{16}"
MIN_BUFFER_DAYS = 15


@dataclass(frozen=True, slots=True)
class CollectionFloor:
    """The slowest polling allowed for an energy type, with the clause it comes from."""

    energy_type: str
    min_readings_per_hour: int
    name_zh: str
    source: str

    @property
    def max_interval(self) -> float:
        """The longest interval between two readings, in seconds."""
        return 3600 / self.min_readings_per_hour


@cache
def collection_floors() -> dict[str, CollectionFloor]:
    """The collection floors per energy type, read from the packaged data file."""
    text = importlib.resources.files("ems_edge").joinpath("data/collection_floors.csv")
    rows = csv.DictReader(text.read_text(encoding="utf-8").splitlines())
    return {
        row["energy_type"]: CollectionFloor(
            row["energy_type"], int(row["min_readings_per_hour"]), row["name_zh"], row["source"]
        )
        for row in rows
    }


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS towards one data centre: the CA to trust and, optionally, a client certificate."""

    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class DataCentre:
    """One data centre's MQTT broker and the gateway's credentials there."""

    name: str
    host: str
    port: int
    username: str | None
    password: str | None
    tls: TlsSettings | None
    keepalive: int
    #: The data centre's public key: its acknowledgements and commands are signed with it.
    key: Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Who the gateway is and how it buffers and publishes."""

    id: str
    signing_key: Ed25519PrivateKey
    state_dir: Path
    buffer_days: float
    batch_size: int
    #: readings per second at most when replaying a backlog, per data centre
    replay_rate: int
    #: a backlog larger than this is replayed beside the live stream instead of before it
    live_split: int
    status_host: str
    status_port: int


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """The whole, validated configuration and a digest that versions it."""

    gateway: GatewaySettings
    data_centres: tuple[DataCentre, ...]
    buses: tuple[BusSpec, ...]
    time_sync_every: float
    version: str
    text: str

    def points(self) -> list[PointSpec]:
        """Every point of every meter of every bus."""
        return [p for bus in self.buses for meter in bus.meters for p in meter.points]

    def readings_per_day(self) -> float:
        """How many readings a day the configured points produce."""
        return sum(86400 / point.interval for point in self.points())


def load_config(path: Path) -> AgentConfig:
    """Read and validate the configuration file at ``path``."""
    return _build(read_document(path), path.read_text(encoding="utf-8"), path.parent)


def parse_config(
    text: str, source: str = "<pushed config>", base: Path | None = None
) -> AgentConfig:
    """Validate configuration ``text`` (a file's content or one pushed from the cloud)."""
    return _build(parse_document(text, source), text, base or Path.cwd())


def _build(root: Section, text: str, base: Path) -> AgentConfig:
    gateway = _gateway(_required(root, "gateway"), base)
    sync = root.section("time_sync", optional=True)
    sync_every = 86400.0
    if sync is not None:
        sync_every = sync.duration("broadcast_every", 86400.0, low=60, high=7 * 86400)
        sync.done()
    centres = tuple(_data_centre(s, base) for s in root.sections("data_centres"))
    if not centres:
        raise root.where("data_centres").error("at least one data centre is required")
    _unique(
        [
            (c.name, s.where("name"))
            for c, s in zip(centres, root.sections("data_centres"), strict=True)
        ],
        "data centre name",
    )
    buses = _buses(root)
    root.done()
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    return AgentConfig(gateway, centres, buses, sync_every, version, text)


def _required(root: Section, key: str) -> Section:
    section = root.section(key)
    if section is None:  # section() raises for a missing key; this narrows the type
        raise root.place.error(f"'{key}' is required")
    return section


def _signing_key(section: Section, base: Path) -> Ed25519PrivateKey:
    if "signing_key" in section:
        raw = section.string("signing_key")
        try:
            seed = base64.b64decode(raw, validate=True)
            return Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError as exc:
            raise section.where("signing_key").error(
                "must be the base64 of a 32-byte Ed25519 private key"
            ) from exc
    if "signing_key_file" not in section:
        raise section.place.error("'signing_key' or 'signing_key_file' is required")
    place = section.where("signing_key_file")
    path = base / section.string("signing_key_file")
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise place.error(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise place.error(f"{path} is not a PEM private key") from exc
    except TypeError as exc:  # cryptography's way of saying "encrypted, and no password"
        raise place.error(f"{path} is encrypted; the agent needs it unencrypted") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise place.error(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def _public_key(section: Section, key: str) -> Ed25519PublicKey:
    raw = section.string(key)
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(raw, validate=True))
    except ValueError as exc:
        raise section.where(key).error(
            "must be the base64 of a 32-byte Ed25519 public key"
        ) from exc


def _gateway(section: Section, base: Path) -> GatewaySettings:
    settings = GatewaySettings(
        id=section.string("id", pattern=GATEWAY_ID_PATTERN),
        signing_key=_signing_key(section, base),
        state_dir=base / section.string("state_dir", "state"),
        buffer_days=section.number("buffer_days", MIN_BUFFER_DAYS, low=MIN_BUFFER_DAYS, high=365),
        batch_size=section.integer("batch_size", 500, low=1, high=5000),
        replay_rate=section.integer("replay_rate", 50_000, low=100, high=10_000_000),
        live_split=section.integer("live_split", 5000, low=0),
        status_host=section.string("status_host", "127.0.0.1"),
        status_port=section.integer("status_port", 8765, low=0, high=65535),
    )
    if "signing_key" in section and "signing_key_file" in section:
        raise section.where("signing_key_file").error(
            "give signing_key or signing_key_file, not both"
        )
    section.done()
    return settings


def _data_centre(section: Section, base: Path) -> DataCentre:
    tls_section = section.section("tls", optional=True)
    tls = None
    if tls_section is not None:

        def path(key: str) -> Path | None:
            value = tls_section.string(key, None)
            return None if value is None else base / value

        tls = TlsSettings(
            path("ca_file"),
            path("cert_file"),
            path("key_file"),
            tls_section.boolean("insecure_skip_verify", False),
        )
        if (tls.cert_file is None) != (tls.key_file is None):
            raise tls_section.place.error("cert_file and key_file go together")
        tls_section.done()
    password = section.string("password", None)
    if "password_file" in section:
        file = base / section.string("password_file")
        try:
            password = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise section.where("password_file").error(
                f"cannot read {file}: {exc.strerror}"
            ) from exc
    centre = DataCentre(
        name=section.string("name", pattern=ID_PATTERN),
        host=section.string("host"),
        port=section.integer("port", 8883 if tls else 1883, low=1, high=65535),
        username=section.string("username", None),
        password=password,
        tls=tls,
        keepalive=int(section.duration("keepalive", 30, low=5, high=3600)),
        key=_public_key(section, "key"),
    )
    section.done()
    return centre


def _buses(root: Section) -> tuple[BusSpec, ...]:
    buses = []
    point_ids: list[tuple[str, Place]] = []
    endpoints: list[tuple[str, Place]] = []
    for section in root.sections("buses"):
        bus = _bus(section)
        buses.append(bus)
        kind = driver_kind(bus.kind)
        if kind.endpoint is not None:
            endpoints.append((kind.endpoint(bus.options), section.place))
        for meter_section, meter in zip(section.sections("meters"), bus.meters, strict=True):
            for point_section, point in zip(
                meter_section.sections("points"), meter.points, strict=True
            ):
                point_ids.append((point.id, point_section.where("id")))
    _unique(
        [(b.name, s.where("name")) for b, s in zip(buses, root.sections("buses"), strict=True)],
        "bus name",
    )
    _unique(endpoints, "bus line (two buses on one port or serial server)")
    _unique(point_ids, "point id")
    if not point_ids:
        raise root.where("buses").error("no points configured: the agent would have nothing to do")
    return tuple(buses)


def _bus(section: Section) -> BusSpec:
    name = section.string("name", pattern=ID_PATTERN)
    kind_name = section.choice("kind", BUS_KINDS)
    kind = driver_kind(kind_name)
    options = kind.parse_bus(section)
    meters = []
    addresses = []
    for meter_section in section.sections("meters"):
        meter = _meter(meter_section, kind, options)
        meters.append(meter)
        addresses.append((kind.meter_address(meter.options), meter_section.place))
    _unique(addresses, f"meter address on bus {name!r}")
    _unique(
        [
            (m.id, m_section.where("id"))
            for m, m_section in zip(meters, section.sections("meters"), strict=True)
        ],
        "meter id",
    )
    bus = BusSpec(
        name=name,
        kind=kind_name,
        options=options,
        meters=tuple(meters),
        inter_frame_delay=section.duration(
            "inter_frame_delay", kind.default_inter_frame_delay, low=0, high=10
        ),
        timeout=section.duration("timeout", 1.0, low=0.05, high=60),
        retries=section.integer("retries", 1, low=0, high=5),
    )
    section.done()
    return bus


def _meter(section: Section, kind: DriverKind, bus_options: object) -> MeterSpec:
    meter_id = section.string("id", pattern=ID_PATTERN)
    name = section.string("name", meter_id)
    options = kind.parse_meter(section, bus_options)
    points = tuple(
        _point(p, meter_id, kind, bus_options, options) for p in section.sections("points")
    )
    if not points:
        raise section.where("points").error("a meter needs at least one point")
    section.done()
    return MeterSpec(meter_id, name, options, points)


def _point(
    section: Section, meter_id: str, kind: DriverKind, bus_options: object, meter_options: object
) -> PointSpec:
    floors = collection_floors()
    energy_type = section.choice("energy_type", sorted(floors))
    floor = floors[energy_type]
    interval = section.duration("interval", floor.max_interval, low=1)
    if interval > floor.max_interval and kind.scheduled:
        raise section.where("interval").error(
            f"{interval:g} s is slower than the floor for {energy_type} "
            f"({floor.min_readings_per_hour} readings per hour, at most {floor.max_interval:g} s; "
            f"{floor.source})"
        )
    point = PointSpec(
        id=section.string("id", pattern=ID_PATTERN),
        meter_id=meter_id,
        energy_type=energy_type,
        kind=PointKind(section.choice("kind", [k.value for k in PointKind])),
        unit=section.string("unit"),
        interval=interval,
        data_code=section.string("data_code", None, pattern=DATA_CODE_PATTERN),
        source=kind.parse_point(section, bus_options, meter_options),
    )
    section.done()
    return point


def _unique(items: list[tuple[str, Place]], what: str) -> None:
    seen: dict[str, Place] = {}
    for key, place in items:
        if key in seen:
            first = seen[key]
            raise place.error(f"duplicate {what} {key!r} (first at line {first.line})")
        seen[key] = place
