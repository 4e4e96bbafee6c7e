"""The JSON payloads about data: acknowledgements, events, completeness ledgers and status.

Each is a signed envelope (:mod:`ems_edge.wire.envelope`). Acks are signed by the
data centre's key, the others by the gateway's. Optional fields are written as
null and read as absent-or-null.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ems_edge.wire.common import DC_ID, GATEWAY_ID, I64, U64, WireError, point_id_ok
from ems_edge.wire.envelope import Fields, body_of, seal_checked, unseal

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Ack:
    """A data centre's word that these sequence numbers (inclusive ranges) are committed."""

    gateway: str
    dc: str
    ranges: tuple[tuple[int, int], ...]
    committed_at_ms: int


def encode_ack(ack: Ack, key: Ed25519PrivateKey) -> bytes:
    """Sign (with the data centre's key) and encode an acknowledgement."""
    body = body_of("ack", gateway=ack.gateway, dc=ack.dc, committed_at_ms=ack.committed_at_ms)
    body["ranges"] = [list(pair) for pair in ack.ranges]
    return seal_checked(body, _ack_from, key)


def decode_ack(payload: bytes, public_key: Ed25519PublicKey) -> Ack:
    """Verify and decode an acknowledgement."""
    return _ack_from(unseal(payload, public_key, "ack"))


def _ack_from(body: dict[str, Any]) -> Ack:
    fields = Fields(body, "ack")
    ranges: list[tuple[int, int]] = []
    for i, pair in enumerate(fields.items("ranges")):
        where = f"ack.ranges[{i}]"
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_u64, pair))):
            raise WireError(f"{where}: expected [first, last], two u64 integers")
        if pair[0] > pair[1] or (ranges and pair[0] <= ranges[-1][1] + 1):
            raise WireError(f"{where}: ranges must be ascending, disjoint and not touching")
        ranges.append((pair[0], pair[1]))
    if not ranges:
        raise WireError("ack.ranges: at least one range is required")
    gateway, dc = fields.text("gateway", GATEWAY_ID), fields.text("dc", DC_ID)
    return Ack(gateway, dc, tuple(ranges), fields.integer("committed_at_ms", I64))


def _is_u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= U64


class EventKind(enum.StrEnum):
    """What happened; the cloud learns a new kind before any agent sends it."""

    METER_FAULT = "meter_fault"
    COMMUNICATION_FAULT = "communication_fault"
    RECOVERED = "recovered"
    BUFFER_HIGH = "buffer_high"
    BUFFER_FULL = "buffer_full"
    CONFIG_APPLIED = "config_applied"
    CONFIG_REFUSED = "config_refused"
    CLOCK_SET = "clock_set"
    AGENT_STARTED = "agent_started"


@dataclass(frozen=True, slots=True)
class Event:
    """One fault, recovery or alarm; bus, meter and point say where, when they apply."""

    at_ms: int
    kind: EventKind
    reason: str
    bus: str | None = None
    meter: str | None = None
    point: str | None = None


@dataclass(frozen=True, slots=True)
class Events:
    """Some of a gateway's events, with an optional per-gateway message counter."""

    gateway: str
    events: tuple[Event, ...]
    seq: int | None = None


def encode_events(events: Events, key: Ed25519PrivateKey) -> bytes:
    """Sign and encode a gateway's events."""
    items = [
        {"at_ms": e.at_ms, "kind": str(e.kind), "reason": e.reason}
        | {"bus": e.bus, "meter": e.meter, "point": e.point}
        for e in events.events
    ]
    body = body_of("events", gateway=events.gateway, seq=events.seq, events=items)
    return seal_checked(body, _events_from, key)


def decode_events(payload: bytes, public_key: Ed25519PublicKey) -> Events:
    """Verify and decode a gateway's events."""
    return _events_from(unseal(payload, public_key, "events"))


def _events_from(body: dict[str, Any]) -> Events:
    fields = Fields(body, "events")
    items = []
    for i, item in enumerate(fields.items("events")):
        event = Fields(item, f"events.events[{i}]")
        kind = event.text("kind")
        if kind not in EventKind.__members__.values():
            raise WireError(f"{event.where}.kind: unknown event kind {kind!r:.40}")
        at_ms, reason = event.integer("at_ms", I64), event.text("reason")
        where = [event.text(name, optional=True) for name in ("bus", "meter", "point")]
        items.append(Event(at_ms, EventKind(kind), reason, *where))
    if not items:
        raise WireError("events.events: at least one event is required")
    gateway = fields.text("gateway", GATEWAY_ID)
    return Events(gateway, tuple(items), fields.integer("seq", optional=True))


def reading_digest(ts_ms: int, value: float) -> int:
    """A reading's 64-bit digest: the first 8 bytes of sha256("{ts_ms}|{float(value).hex()}")."""
    text = f"{ts_ms}|{float(value).hex()}".encode("ascii")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


class DigestAccumulator:
    """Count and order-independent digest (sum mod 2**64) of one point's readings of a day."""

    __slots__ = ("count", "total")

    def __init__(self, count: int = 0, total: int = 0) -> None:
        self.count, self.total = count, total

    def add(self, ts_ms: int, value: float) -> None:
        """Count one reading in."""
        self.count += 1
        self.total = (self.total + reading_digest(ts_ms, value)) & U64

    def merge(self, other: DigestAccumulator) -> None:
        """Add another accumulator's readings (say, one batch's) to this one."""
        self.count += other.count
        self.total = (self.total + other.total) & U64

    def hexdigest(self) -> str:
        """The digest as 16 lowercase hex digits."""
        return f"{self.total:016x}"


def utc_day(ts_ms: int) -> str:
    """The UTC day ("YYYY-MM-DD") a reading's ledger entry belongs to."""
    return (_EPOCH + timedelta(milliseconds=ts_ms)).date().isoformat()


@dataclass(frozen=True, slots=True)
class PointLedger:
    """One point's day: readings held, intervals missed, digest of the readings."""

    count: int
    gaps: int
    digest: str


@dataclass(frozen=True, slots=True)
class Completeness:
    """A gateway's ledger of one UTC day; a later ``at_ms`` supersedes an earlier one."""

    gateway: str
    day: str
    at_ms: int
    points: dict[str, PointLedger]


def encode_completeness(ledger: Completeness, key: Ed25519PrivateKey) -> bytes:
    """Sign and encode a day's completeness ledger."""
    body = body_of("completeness", gateway=ledger.gateway, day=ledger.day, at_ms=ledger.at_ms)
    body["points"] = {
        point: {"count": entry.count, "gaps": entry.gaps, "digest": entry.digest}
        for point, entry in ledger.points.items()
    }
    return seal_checked(body, _completeness_from, key)


def decode_completeness(payload: bytes, public_key: Ed25519PublicKey) -> Completeness:
    """Verify and decode a day's completeness ledger."""
    return _completeness_from(unseal(payload, public_key, "completeness"))


def _completeness_from(body: dict[str, Any]) -> Completeness:
    fields = Fields(body, "completeness")
    day = fields.text("day", _DAY)
    try:
        date.fromisoformat(day)
    except ValueError:
        raise WireError(f"completeness.day: {day!r} is not a date") from None
    points = {}
    for point, entry in fields.mapping("points").items():
        item = Fields(entry, f"completeness.points[{point!r:.80}]")
        if not point_id_ok(point):
            raise WireError(f"{item.where}: a point id is 1-64 bytes of printable UTF-8")
        count, gaps = item.integer("count"), item.integer("gaps")
        points[point] = PointLedger(count, gaps, item.text("digest", _HEX16))
    gateway = fields.text("gateway", GATEWAY_ID)
    return Completeness(gateway, day, fields.integer("at_ms", I64), points)


class GatewayState(enum.StrEnum):
    """Whether the gateway's session with the broker is up."""

    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Status:
    """The gateway's state, with free-form details (version, buffer depth...) in ``info``."""

    gateway: str
    state: GatewayState
    at_ms: int
    info: dict[str, Any]


def encode_status(status: Status, key: Ed25519PrivateKey) -> bytes:
    """Sign and encode a status (with state offline, it is also the MQTT will)."""
    body = body_of("status", gateway=status.gateway, state=str(status.state), at_ms=status.at_ms)
    body["info"] = status.info
    return seal_checked(body, _status_from, key)


def decode_status(payload: bytes, public_key: Ed25519PublicKey) -> Status:
    """Verify and decode a status."""
    return _status_from(unseal(payload, public_key, "status"))


def _status_from(body: dict[str, Any]) -> Status:
    fields = Fields(body, "status")
    state = fields.text("state")
    if state not in GatewayState.__members__.values():
        raise WireError(f"status.state: expected 'online' or 'offline', got {state!r:.40}")
    gateway, at_ms = fields.text("gateway", GATEWAY_ID), fields.integer("at_ms", I64)
    return Status(gateway, GatewayState(state), at_ms, fields.mapping("info"))
