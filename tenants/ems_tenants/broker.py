"""Mosquitto 2 credentials, topic ACLs and broker configuration from the gateway registry.

Each data centre runs its own Mosquitto broker (``openapi/edge-wire.md`` §1). Every gateway
logs in with its own account (username == gateway id) and may only speak for itself; the DC's
cloud ingest has one account that reads every gateway's uplink and writes acks and commands.
This module renders the three files that express that — the password file, the ACL file and
``mosquitto.conf`` — deterministically, so a re-render of an unchanged registry is byte-for-byte
the same and a reload is a no-op.

Behaviour of Mosquitto 2.0.11 this module relies on (checked against a real broker by
``tests/test_broker_files.py``):

- ``acl_file`` rules are enforced when a message is *published* (a QoS 1 publish refused by the
  ACL gets PUBACK reason code 0x87 "Not authorized" from an MQTT v5 client's point of view) and
  when it is *delivered* (a subscriber only gets messages its ``read`` rules allow). SUBSCRIBE
  itself is *not* checked by the ``acl_file`` of 2.0.11: the SUBACK grants any filter, and
  the read rule then filters what arrives. So read rules are what keep one gateway from seeing
  another's commands, not the SUBACK.
- Shared subscriptions (``$share/<group>/<filter>``) need no ACL entry of their own: delivery is
  checked against the message's real topic, which never carries the ``$share`` prefix.
- ``$SYS/...`` is not readable by default once an ``acl_file`` is set: the ingest needs an
  explicit ``read $SYS/broker/#`` rule to watch ``$SYS/broker/publish/messages/dropped``.
- SIGHUP re-reads the password and ACL files; a removed account can no longer connect.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import re
import secrets
import signal
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# The wire contract is the one source of the topic root and the id rules.
from ems_edge.wire import DC_ID, GATEWAY_ID, TOPIC_ROOT

__all__ = [
    "GATEWAY_READ_CHANNELS",
    "GATEWAY_WRITE_CHANNELS",
    "AccountKind",
    "BrokerAccount",
    "BrokerSettings",
    "TlsListener",
    "gateway_acl",
    "hash_password",
    "ingest_acl",
    "new_password",
    "reload_broker",
    "render_acl_file",
    "render_broker_config",
    "render_password_file",
    "verify_password",
    "write_broker_files",
]

# Names for non-gateway accounts. ':' separates user and hash in the password file,
# whitespace ends the name on an ACL ``user`` line, and a leading '#' would turn either
# file's line into a comment: none of them may appear. Kept to a conservative ASCII set.
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")

#: What a gateway may publish under its own ``ems/v1/gw/{id}/``.
GATEWAY_WRITE_CHANNELS = ("readings", "events", "completeness", "replies", "status")
#: What a gateway may receive under its own ``ems/v1/gw/{id}/``.
GATEWAY_READ_CHANNELS = ("commands", "ack/+")

# Mosquitto 2's "$7$" hash: PBKDF2-HMAC-SHA512 with a 12-byte salt and a 64-byte key.
# mosquitto_passwd 2.0.11 writes 101 iterations; the broker reads the count from each line.
_HASH_PREFIX = "$7$"
_SALT_BYTES = 12
_KEY_BYTES = 64
DEFAULT_ITERATIONS = 101
_HASH_SHAPE = re.compile(r"\$7\$([1-9][0-9]{0,9})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)")
# MQTT carries the password as binary data with a 16-bit length.
_MAX_PASSWORD_BYTES = 65_535


class AccountKind(enum.StrEnum):
    """Who an account belongs to; decides its ACL."""

    GATEWAY = "gateway"
    INGEST = "ingest"


def _check_gateway_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not GATEWAY_ID.fullmatch(value):
        raise ValueError(f"{field}: {value!r} is not a gateway id ([a-z0-9][a-z0-9-]{{2,63}})")
    return value


def _check_dc(value: object, field: str = "dc") -> str:
    if not isinstance(value, str) or not DC_ID.fullmatch(value):
        raise ValueError(
            f"{field}: {value!r} is not a DC name ([A-Za-z0-9][A-Za-z0-9_.:-]{{0,63}})"
        )
    return value


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _parse_hash(password_hash: str, field: str = "password_hash") -> tuple[int, bytes, bytes]:
    """Split a "$7$" hash into (iterations, salt, key) or raise ValueError naming ``field``."""
    match = _HASH_SHAPE.fullmatch(password_hash) if isinstance(password_hash, str) else None
    if match is None:
        raise ValueError(f"{field}: not a Mosquitto $7$ (PBKDF2-SHA512) hash")
    try:
        salt = _b64decode(match[2])
        key = _b64decode(match[3])
    except ValueError as exc:
        raise ValueError(f"{field}: bad base64 in the hash") from exc
    if len(salt) != _SALT_BYTES or len(key) != _KEY_BYTES:
        raise ValueError(f"{field}: expected a {_SALT_BYTES}-byte salt and a {_KEY_BYTES}-byte key")
    return int(match[1]), salt, key


def _check_password(password: object) -> bytes:
    if not isinstance(password, str) or not password:
        raise ValueError("password: must be a non-empty string")
    raw = password.encode("utf-8")
    if len(raw) > _MAX_PASSWORD_BYTES:
        raise ValueError(f"password: longer than {_MAX_PASSWORD_BYTES} bytes")
    return raw


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """Hash ``password`` the way ``mosquitto_passwd`` 2.0 does ("$7$", PBKDF2-HMAC-SHA512).

    The result is ``$7$<iterations>$<base64 salt>$<base64 key>``. ``salt`` (12 bytes) is random
    unless given, which only tests should do.
    """
    raw = _check_password(password)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError("iterations: must be a positive integer")
    if salt is None:
        salt = secrets.token_bytes(_SALT_BYTES)
    elif not isinstance(salt, bytes) or len(salt) != _SALT_BYTES:
        # Mosquitto's own salts are 12 bytes; other lengths are not worth the doubt.
        raise ValueError(f"salt: must be {_SALT_BYTES} bytes")
    key = hashlib.pbkdf2_hmac("sha512", raw, salt, iterations, _KEY_BYTES)
    return (
        f"{_HASH_PREFIX}{iterations}$"
        f"{base64.b64encode(salt).decode('ascii')}${base64.b64encode(key).decode('ascii')}"
    )


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches a Mosquitto "$7$" hash; compares in constant time.

    A malformed hash or an empty password is simply not a match.
    """
    try:
        raw = _check_password(password)
        iterations, salt, key = _parse_hash(password_hash)
    except ValueError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha512", raw, salt, iterations, _KEY_BYTES)
    return hmac.compare_digest(candidate, key)


def new_password() -> str:
    """A fresh random broker password (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """One broker login: a gateway (username == gateway id) or a DC's ingest."""

    username: str
    password_hash: str
    kind: AccountKind
    #: For INGEST accounts: the data centre whose acks this account may publish.
    dc: str | None = None

    def __post_init__(self) -> None:
        # Refuse at construction so no bad account ever reaches a rendered file.
        if not isinstance(self.kind, AccountKind):
            raise ValueError(f"kind: {self.kind!r} is not an AccountKind")
        if self.kind is AccountKind.GATEWAY:
            # The ACL is derived from the username, so it must be exactly a gateway id.
            _check_gateway_id(self.username, "username")
            if self.dc is not None:
                raise ValueError("dc: only ingest accounts have a data centre")
        else:
            if not isinstance(self.username, str) or not USERNAME.fullmatch(self.username):
                raise ValueError(
                    f"username: {self.username!r} must match {USERNAME.pattern} "
                    "(no ':', whitespace or control characters)"
                )
            if self.dc is None:
                raise ValueError("dc: an ingest account needs its data centre")
            _check_dc(self.dc)
        _parse_hash(self.password_hash)


def gateway_acl(gateway_id: str) -> list[str]:
    """The ACL ``topic`` lines of one gateway (its ``user`` line is added by the renderer).

    Writes only its own uplink channels, reads only its own commands and acks: no wildcard
    ever spans another gateway.
    """
    _check_gateway_id(gateway_id, "gateway_id")
    base = f"{TOPIC_ROOT}/{gateway_id}"
    return [f"topic write {base}/{channel}" for channel in GATEWAY_WRITE_CHANNELS] + [
        f"topic read {base}/{channel}" for channel in GATEWAY_READ_CHANNELS
    ]


def ingest_acl(dc: str) -> list[str]:
    """The ACL ``topic`` lines of the ingest of data centre ``dc``.

    Reads every gateway's uplink (also through ``$share/...`` subscriptions, which the broker
    checks against the real topic), reads ``$SYS/broker/#`` to watch the dropped-message
    counter, and writes commands and acks signed as ``dc`` only.
    """
    _check_dc(dc)
    lines = [f"topic read {TOPIC_ROOT}/+/{channel}" for channel in GATEWAY_WRITE_CHANNELS]
    # Mosquitto 2 hides $SYS from acl_file users unless a rule names it.
    lines.append("topic read $SYS/broker/#")
    lines.append(f"topic write {TOPIC_ROOT}/+/ack/{dc}")
    lines.append(f"topic write {TOPIC_ROOT}/+/commands")
    return lines


def _sorted_accounts(accounts: Iterable[BrokerAccount]) -> list[BrokerAccount]:
    listed = list(accounts)
    seen: set[str] = set()
    for account in listed:
        if not isinstance(account, BrokerAccount):
            raise ValueError(f"accounts: {account!r} is not a BrokerAccount")
        # Two lines for one user: Mosquitto would silently pick one of them.
        if account.username in seen:
            raise ValueError(f"username: duplicate account {account.username!r}")
        seen.add(account.username)
    return sorted(listed, key=lambda account: account.username)


def render_password_file(accounts: Iterable[BrokerAccount]) -> str:
    """The ``password_file``: ``username:hash`` lines sorted by username."""
    return "".join(
        f"{account.username}:{account.password_hash}\n" for account in _sorted_accounts(accounts)
    )


def render_acl_file(accounts: Iterable[BrokerAccount]) -> str:
    """The ``acl_file``: one ``user`` section per account, sorted by username."""
    out = [
        "# Generated by ems_tenants.broker from the gateway registry; edits are overwritten.",
        "# No topic lines before the first 'user' line: anonymous clients get nothing.",
    ]
    for account in _sorted_accounts(accounts):
        if account.kind is AccountKind.GATEWAY:
            lines = gateway_acl(account.username)
        elif account.dc is not None:
            lines = ingest_acl(account.dc)
        else:  # pragma: no cover - BrokerAccount refuses an ingest account without dc
            raise ValueError("dc: an ingest account needs its data centre")
        out += ["", f"# {account.kind.value}", f"user {account.username}", *lines]
    return "\n".join(out) + "\n"


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A TLS listener for the gateways (the plain listener stays for the local ingest)."""

    port: int
    cafile: Path
    certfile: Path
    keyfile: Path
    bind: str = "0.0.0.0"  # noqa: S104 - gateways connect from other machines
    #: Ask gateways for a client certificate signed by ``cafile`` on top of the password.
    require_certificate: bool = False


_DURATION = re.compile(r"[1-9][0-9]*[hdwmy]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_port(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65_535:
        raise ValueError(f"{field}: {value!r} is not a TCP port (1-65535)")


def _check_bind(value: object, field: str) -> None:
    if not isinstance(value, str) or not value or re.search(r"[\s\x00-\x1f\x7f]", value):
        raise ValueError(f"{field}: {value!r} must be a host or address without whitespace")


def _check_path(value: object, field: str) -> None:
    # A newline in a path would smuggle an extra directive into mosquitto.conf; a relative
    # path would be resolved against whatever directory the broker was started in.
    if not isinstance(value, Path) or not value.is_absolute() or _CONTROL.search(str(value)):
        raise ValueError(f"{field}: {value!r} must be an absolute Path without control characters")


def _check_count(value: object, field: str, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{field}: {value!r} must be an integer in {minimum}..{maximum}")


@dataclass(frozen=True, kw_only=True)
class BrokerSettings:
    """What ``render_broker_config`` needs; defaults are the production values."""

    port: int
    bind: str = "127.0.0.1"
    data_dir: Path
    password_file: Path
    acl_file: Path
    max_queued_messages: int = 1_000_000
    max_queued_bytes: int = 1 << 30
    max_inflight_messages: int = 1000
    persistence: bool = True
    autosave_interval: int = 300
    persistent_client_expiration: str = "30d"
    sys_interval: int = 10
    tls: TlsListener | None = None
    #: ``user`` directive: the account a broker started as root drops to. None leaves
    #: Mosquitto's default ("mosquitto"); tests running as root pass "root".
    user: str | None = None
    log_file: Path | None = None

    def __post_init__(self) -> None:
        _check_port(self.port, "port")
        _check_bind(self.bind, "bind")
        _check_path(self.data_dir, "data_dir")
        _check_path(self.password_file, "password_file")
        _check_path(self.acl_file, "acl_file")
        # Zero means "no limit" to Mosquitto; one stuck consumer must not eat the machine.
        _check_count(self.max_queued_messages, "max_queued_messages", 1, 2**31 - 1)
        _check_count(self.max_queued_bytes, "max_queued_bytes", 1, 2**63 - 1)
        # MQTT v5 Receive Maximum is a 16-bit field, and 0 would mean "no maximum".
        _check_count(self.max_inflight_messages, "max_inflight_messages", 1, 65_535)
        if not isinstance(self.persistence, bool):
            raise ValueError("persistence: must be a bool")
        _check_count(self.autosave_interval, "autosave_interval", 0, 2**31 - 1)
        if not isinstance(self.persistent_client_expiration, str) or not _DURATION.fullmatch(
            self.persistent_client_expiration
        ):
            raise ValueError(
                "persistent_client_expiration: must be a count and one of h d w m y, e.g. '30d'"
            )
        # The ingest watches $SYS counters, so $SYS must not be switched off (0).
        _check_count(self.sys_interval, "sys_interval", 1, 86_400)
        if self.tls is not None:
            if not isinstance(self.tls, TlsListener):
                raise ValueError("tls: must be a TlsListener")
            _check_port(self.tls.port, "tls.port")
            if self.tls.port == self.port:
                raise ValueError("tls.port: must differ from port")
            _check_bind(self.tls.bind, "tls.bind")
            _check_path(self.tls.cafile, "tls.cafile")
            _check_path(self.tls.certfile, "tls.certfile")
            _check_path(self.tls.keyfile, "tls.keyfile")
            if not isinstance(self.tls.require_certificate, bool):
                raise ValueError("tls.require_certificate: must be a bool")
        if self.user is not None and not (
            isinstance(self.user, str) and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", self.user)
        ):
            raise ValueError(f"user: {self.user!r} is not a system user name")
        if self.log_file is not None:
            _check_path(self.log_file, "log_file")


def render_broker_config(settings: BrokerSettings) -> str:
    """``mosquitto.conf`` for one DC's broker, every setting with the reason for it."""
    s = settings
    lines = [
        "# Generated by ems_tenants.broker; edits are overwritten.",
        "",
        "# One set of credentials and ACLs for every listener.",
        "per_listener_settings false",
        "# Every client logs in: gateways with their own account, the ingest with the DC's.",
        "allow_anonymous false",
        f"password_file {s.password_file}",
        "# Topic rules per account; re-read (like password_file) on SIGHUP.",
        f"acl_file {s.acl_file}",
        "",
        "# Mosquitto's default (1000) silently drops QoS 1 messages for a subscriber that",
        "# falls behind; only $SYS/broker/publish/messages/dropped shows it. Count high,",
        "# and let max_queued_bytes be the real per-client bound.",
        f"max_queued_messages {s.max_queued_messages}",
        "# The real bound on each client's queue (an ingest outage, a slow consumer), so one",
        "# stuck client cannot exhaust the broker's memory.",
        f"max_queued_bytes {s.max_queued_bytes}",
        "# Unacknowledged QoS 1 messages in flight per client: the broker sends this many to",
        "# MQTT 3.1.1 clients and to MQTT v5 clients that announce no Receive Maximum, and",
        "# announces it as its own Receive Maximum. Large, so a consumer that acknowledges",
        "# only after its database commit can hold a whole batch.",
        f"max_inflight_messages {s.max_inflight_messages}",
        "",
        "# Persistent sessions and their queued messages survive a broker restart.",
        f"persistence {'true' if s.persistence else 'false'}",
        f"persistence_location {s.data_dir}/",
        "# Seconds between saves; a crash loses at most this much broker state, which the",
        "# gateways re-send anyway because they keep readings until the DC acknowledges them.",
        f"autosave_interval {s.autosave_interval}",
        "# Forget sessions of clients gone this long (decommissioned gateways), with their",
        "# queued messages; a gateway offline for less finds its commands waiting.",
        f"persistent_client_expiration {s.persistent_client_expiration}",
        "# $SYS counters (dropped messages, queue sizes) are refreshed this often.",
        f"sys_interval {s.sys_interval}",
    ]
    if s.user is not None:
        lines += ["# Account the broker runs as once started.", f"user {s.user}"]
    if s.log_file is not None:
        lines += ["# The broker's own log.", f"log_dest file {s.log_file}"]
    lines += [
        "",
        "# Plain listener for the local ingest.",
        f"listener {s.port} {s.bind}",
    ]
    if s.tls is not None:
        lines += [
            "",
            "# TLS listener for the gateways: passwords never cross a network in clear.",
            f"listener {s.tls.port} {s.tls.bind}",
            f"cafile {s.tls.cafile}",
            f"certfile {s.tls.certfile}",
            f"keyfile {s.tls.keyfile}",
            "# Nothing older than TLS 1.2.",
            "tls_version tlsv1.2",
            "# Whether gateways must also present a certificate signed by cafile.",
            f"require_certificate {'true' if s.tls.require_certificate else 'false'}",
        ]
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` with ``text`` so a reload sees the old file or the new one, never half."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            os.fchmod(handle.fileno(), mode)
            try:
                current = path.stat()
            except FileNotFoundError:
                pass
            else:
                # The broker may run as another user than the writer (e.g. "mosquitto"
                # while this runs as root): keep the owner and group it was given, or the
                # next SIGHUP would leave the broker unable to read its credentials.
                if (current.st_uid, current.st_gid) != (os.getuid(), os.getgid()):
                    os.fchown(handle.fileno(), current.st_uid, current.st_gid)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_broker_files(directory: Path, accounts: Iterable[BrokerAccount]) -> tuple[Path, Path]:
    """Write ``passwd`` (mode 0600) and ``acl`` (0640) into ``directory`` atomically.

    Both files are rendered before either is written, so bad input changes nothing. Returns
    ``(password_file, acl_file)``; call ``reload_broker`` afterwards.
    """
    listed = list(accounts)
    passwd_text = render_password_file(listed)
    acl_text = render_acl_file(listed)
    passwd = directory / "passwd"
    acl = directory / "acl"
    # Either order is safe for a reload in between: an account in only one of the two files
    # can either not log in or log in to an ACL that grants it nothing.
    _write_atomically(passwd, passwd_text, 0o600)
    _write_atomically(acl, acl_text, 0o640)
    return passwd, acl


def reload_broker(pid: int) -> None:
    """Send SIGHUP to the broker: it re-reads its password and ACL files (and config)."""
    # os.kill(0 or -n) would signal whole process groups, not one broker. PID 1 is allowed:
    # in a container the broker is often the init process.
    if isinstance(pid, bool) or not isinstance(pid, int) or pid < 1:
        raise ValueError(f"pid: {pid!r} is not a single process id")
    os.kill(pid, signal.SIGHUP)
