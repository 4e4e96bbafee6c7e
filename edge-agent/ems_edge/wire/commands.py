"""Commands (cloud -> agent, cloud's key) and replies (agent -> cloud, gateway's key).

A command is valid from ``issued_at_ms`` to ``expires_at_ms`` (at most an hour)
and runs at most once: :class:`CommandGuard` remembers the ids it admitted until
they expire. The agent answers every command, including one whose name it does
not know (a cloud newer than the agent), with a reply carrying the same id.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ems_edge.wire.common import GATEWAY_ID, I64, MAX_CLOCK_AHEAD_MS, ReplayError, WireError
from ems_edge.wire.envelope import Fields, body_of, seal_checked, unseal

MAX_COMMAND_TTL_MS = 60 * 60_000
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class CommandName(enum.StrEnum):
    """The commands this version knows."""

    COLLECT_NOW = "collect_now"
    TIME_SYNC = "time_sync"
    RELOAD_CONFIG = "reload_config"
    PUSH_CONFIG = "push_config"
    REPORT_STATUS = "report_status"


@dataclass(frozen=True, slots=True)
class Command:
    """An order to one gateway, valid from ``issued_at_ms`` until ``expires_at_ms``."""

    gateway: str
    id: str
    name: str
    args: dict[str, Any]
    issued_at_ms: int
    expires_at_ms: int


def encode_command(command: Command, key: Ed25519PrivateKey) -> bytes:
    """Sign (with the cloud's key) and encode a command."""
    if command.name not in CommandName.__members__.values():
        raise WireError(f"command.name: unknown command {command.name!r:.40}")
    body = body_of("command", gateway=command.gateway, id=command.id, name=command.name)
    body |= {"args": command.args, "issued_at_ms": command.issued_at_ms}
    body["expires_at_ms"] = command.expires_at_ms
    return seal_checked(body, _command_from, key)


def decode_command(payload: bytes, cloud_public_key: Ed25519PublicKey) -> Command:
    """Verify and decode a command; its name may be one this version does not know."""
    return _command_from(unseal(payload, cloud_public_key, "command"))


def _command_from(body: dict[str, Any]) -> Command:
    fields = Fields(body, "command")
    issued, expires = fields.integer("issued_at_ms", I64), fields.integer("expires_at_ms", I64)
    if not issued < expires <= issued + MAX_COMMAND_TTL_MS:
        raise WireError(f"command.expires_at_ms: must be 1..{MAX_COMMAND_TTL_MS} ms after issue")
    gateway, name = fields.text("gateway", GATEWAY_ID), fields.text("name", _NAME)
    return Command(gateway, _uuid(fields, "id"), name, fields.mapping("args"), issued, expires)


def _uuid(fields: Fields, key: str) -> str:
    value: str = fields.text(key)
    try:
        if str(uuid.UUID(value)) == value:
            return value
    except ValueError:
        pass
    raise WireError(f"{fields.where}.{key}: {value!r:.60} is not a lowercase hyphenated UUID")


class CommandGuard:
    """The agent's memory of commands admitted, so a stale, foreign or replayed one is refused.

    The memory does not survive a restart, so commands issued before ``floor_ms``
    (the agent's start) are refused too; the cloud re-issues one that got no reply.
    """

    def __init__(
        self, gateway_id: str, floor_ms: int, max_ahead_ms: int = MAX_CLOCK_AHEAD_MS
    ) -> None:
        self.gateway_id, self.floor_ms, self.max_ahead_ms = gateway_id, floor_ms, max_ahead_ms
        self._seen: dict[str, int] = {}

    def admit(self, command: Command, now_ms: int) -> None:
        """Raise ReplayError unless ``command`` is ours, current and new; then remember it."""
        self._seen = {cid: end for cid, end in self._seen.items() if end >= now_ms}
        if command.gateway != self.gateway_id:
            raise ReplayError(f"command {command.id} is for gateway {command.gateway!r}")
        if command.expires_at_ms < now_ms:
            raise ReplayError(
                f"command {command.id} expired {now_ms - command.expires_at_ms} ms ago"
            )
        if command.issued_at_ms > now_ms + self.max_ahead_ms:
            raise ReplayError(f"command {command.id} is issued in the future (clock ahead)")
        if command.issued_at_ms < self.floor_ms:
            raise ReplayError(f"command {command.id} was issued before the agent started")
        if command.id in self._seen:
            raise ReplayError(f"command {command.id} was already received")
        self._seen[command.id] = command.expires_at_ms


@dataclass(frozen=True, slots=True)
class Reply:
    """A gateway's answer to command ``id``: a result when ok, an error message when not."""

    gateway: str
    id: str
    ok: bool
    at_ms: int
    result: dict[str, Any] | None = None
    error: str | None = None


def encode_reply(reply: Reply, key: Ed25519PrivateKey) -> bytes:
    """Sign and encode a reply to a command."""
    body = body_of("reply", gateway=reply.gateway, id=reply.id, ok=reply.ok, at_ms=reply.at_ms)
    body |= {"result": reply.result, "error": reply.error}
    return seal_checked(body, _reply_from, key)


def decode_reply(payload: bytes, public_key: Ed25519PublicKey) -> Reply:
    """Verify and decode a reply to a command."""
    return _reply_from(unseal(payload, public_key, "reply"))


def _reply_from(body: dict[str, Any]) -> Reply:
    fields = Fields(body, "reply")
    ok, error = fields.get("ok", bool, "true or false"), fields.text("error", optional=True)
    if ok == (error is not None) or error == "":
        raise WireError("reply.error: null when ok, a non-empty message when not")
    gateway, at_ms = fields.text("gateway", GATEWAY_ID), fields.integer("at_ms", I64)
    result = fields.mapping("result", optional=True)
    return Reply(gateway, _uuid(fields, "id"), ok, at_ms, result, error)
