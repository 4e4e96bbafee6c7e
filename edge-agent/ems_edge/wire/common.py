"""What every part of the wire contract shares: errors, limits, topics and the freshness rule."""

from __future__ import annotations

import enum
import math
import re

from ems_edge.errors import CodecError

TOPIC_ROOT = "ems/v1/gw"
#: Every channel is published and subscribed with QoS 1 (at least once).
QOS = 1
GATEWAY_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,63}")
DC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_POINT_ID_BYTES = 64
#: Readings older than this are refused: a re-sent batch is re-encoded with a fresh sent_at.
READINGS_MAX_AGE_MS = 10 * 60_000
#: How far a sender's clock may run ahead of the receiver's.
MAX_CLOCK_AHEAD_MS = 5 * 60_000
U64 = 2**64 - 1
I64 = 2**63 - 1

CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class WireError(CodecError):
    """A payload or topic is malformed, badly signed or breaks a rule of the wire contract."""


class ReplayError(WireError):
    """A well-formed, well-signed message is stale, from the future or a repeat."""


class Channel(enum.StrEnum):
    """The last topic level(s) under ``ems/v1/gw/{gateway}/``; every channel uses QoS 1."""

    READINGS = "readings"  # agent -> cloud, binary batch
    ACK = "ack"  # cloud -> agent, ``ack/{dc}``
    EVENTS = "events"  # agent -> cloud
    COMPLETENESS = "completeness"  # agent -> cloud
    COMMANDS = "commands"  # cloud -> agent
    REPLIES = "replies"  # agent -> cloud
    STATUS = "status"  # agent -> cloud, retained, also the MQTT will

    @property
    def retained(self) -> bool:
        """Whether messages on this channel are published with the retain flag."""
        return self is Channel.STATUS


def topic(gateway_id: str, channel: Channel, dc: str | None = None) -> str:
    """The topic of ``channel`` for ``gateway_id``; ``dc`` is required for (only) acks."""
    check_pattern(GATEWAY_ID, gateway_id, "gateway id")
    if (channel is Channel.ACK) != (dc is not None):
        raise WireError("a data centre is given for the ack channel and only for it")
    if dc is None:
        return f"{TOPIC_ROOT}/{gateway_id}/{channel.value}"
    check_pattern(DC_ID, dc, "data centre")
    return f"{TOPIC_ROOT}/{gateway_id}/{channel.value}/{dc}"


def subscription(channel: Channel) -> str:
    """The cloud's wildcard filter for ``channel`` of every gateway (and every DC for acks)."""
    return f"{TOPIC_ROOT}/+/{channel.value}" + ("/+" if channel is Channel.ACK else "")


def parse_topic(name: str) -> tuple[str, Channel, str | None]:
    """Split a topic into (gateway id, channel, data centre or None)."""
    parts = name.split("/")
    if parts[:3] != TOPIC_ROOT.split("/") or len(parts) not in (5, 6):
        raise WireError(f"not an EMS gateway topic: {name!r}")
    try:
        channel = Channel(parts[4])
    except ValueError:
        raise WireError(f"unknown channel {parts[4]!r} in topic {name!r}") from None
    dc = parts[5] if len(parts) == 6 else None
    try:
        topic(parts[3], channel, dc)
    except WireError as exc:
        raise WireError(f"not an EMS gateway topic: {name!r} ({exc})") from None
    return parts[3], channel, dc


def check_fresh(
    sent_at_ms: int,
    now_ms: int,
    max_age_ms: int = READINGS_MAX_AGE_MS,
    max_ahead_ms: int = MAX_CLOCK_AHEAD_MS,
) -> None:
    """Raise ReplayError if a message was sent too long ago or too far in the future."""
    if sent_at_ms < now_ms - max_age_ms:
        raise ReplayError(f"sent {now_ms - sent_at_ms} ms ago, beyond the {max_age_ms} ms window")
    if sent_at_ms > now_ms + max_ahead_ms:
        raise ReplayError(f"sent {sent_at_ms - now_ms} ms in the future (sender's clock ahead)")


def check_pattern(pattern: re.Pattern[str], value: object, what: str) -> str:
    """``value`` if it is a string matching ``pattern``, else a WireError naming ``what``."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise WireError(f"{what} {value!r:.80} does not match {pattern.pattern}")
    return value


def point_id_ok(point: object) -> bool:
    """Whether ``point`` is a valid point id: 1-64 bytes of UTF-8 without control characters."""
    if not isinstance(point, str):
        return False
    try:
        raw = point.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return 0 < len(raw) <= MAX_POINT_ID_BYTES and not CONTROL.search(raw)


def finite(value: object) -> bool:
    """Whether ``value`` is an int or float that is a finite double."""
    if not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a double
        return False
