"""Gateways in the control plane: registration, rotation and revocation of their
broker credentials and signing keys, and the data centre's own signing key.

A gateway's id is ``{tenant slug}-{name}``: it is the broker username and the
``{gateway}`` of its topics, so the broker ACL (one section per username) keeps
a gateway inside its own topics, and its topics name their tenant. Secrets are
shown once, at registration and rotation; the registry keeps only the password
hash (Mosquitto's PBKDF2 form) and the public key.

After every change the broker's password and ACL files are rendered again
(``sync_broker``). In production the same registry feeds the broker's auth
plugin instead of files; see ``docs/architecture.md``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ems.config import Settings
from ems.db import utcnow
from ems.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from ems_tenants import broker
from ems_tenants.models import DataCentre, Gateway, GatewayStatus, Tenant

# No '-' in a name: the id is "{slug}-{name}" and slugs may hold '-', so the name is what
# follows the last '-', and two tenants can never produce the same id.
NAME = re.compile(r"[a-z0-9]{1,23}")
# How long batches signed with a gateway's previous key still verify after a rotation:
# long enough for the agent's buffer to drain what it signed before the new config.
KEY_GRACE = timedelta(hours=24)
INGEST_USERNAME = "ingest-{dc}"


def raw_public(key: Ed25519PublicKey) -> str:
    """A public key as the base64 of its 32 raw bytes (the form the agent's config uses)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public(text: str, field: str = "public_key") -> Ed25519PublicKey:
    """Parse the base64 of a raw 32-byte Ed25519 public key; InvalidInput names ``field``."""
    try:
        raw = base64.b64decode(text, validate=True)
        if len(raw) != 32:
            raise ValueError("not 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InvalidInput(
            "bad public key",
            fields={field: ["must be the base64 of a 32-byte Ed25519 public key"]},
        ) from None


@dataclass(frozen=True)
class Issued:
    """A gateway with its secrets, shown once (the private key only if the platform made it)."""

    gateway: Gateway
    password: str
    signing_key: str | None


def _new_key(public_key: str | None) -> tuple[str, str | None]:
    if public_key:
        return raw_public(load_public(public_key)), None
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return raw_public(private.public_key()), base64.b64encode(raw).decode()


def register(session: Session, tenant: Tenant, data: dict[str, Any]) -> Issued:
    """Register a gateway for ``tenant`` within its plan's gateway limit (does not commit)."""
    name = data["name"]
    if not NAME.fullmatch(name):
        raise InvalidInput(
            "bad gateway name",
            fields={"name": ["1-23 lower-case letters or digits (no '-')"]},
        )
    gateway_id = f"{tenant.slug}-{name}"
    if session.get(Gateway, gateway_id) is not None:
        raise Conflict("a gateway with this name exists", fields={"name": ["already in use"]})
    active = session.scalar(
        select(func.count())
        .select_from(Gateway)
        .where(Gateway.tenant_id == tenant.id, Gateway.status == GatewayStatus.ACTIVE)
    )
    if (active or 0) >= tenant.plan.max_gateways:
        raise QuotaExceeded(f"the plan allows {tenant.plan.max_gateways} gateways")
    password = broker.new_password()
    public, private = _new_key(data.get("public_key"))
    gateway = Gateway(
        id=gateway_id,
        tenant_id=tenant.id,
        name=name,
        site_code=data.get("site_code"),
        status=GatewayStatus.ACTIVE,
        password_hash=broker.hash_password(password),
        public_key=public,
    )
    session.add(gateway)
    session.flush()
    return Issued(gateway, password, private)


def access(session: Session, tenant_id: int, gateway_id: str) -> Gateway:
    """A gateway of the tenant; another tenant's gateway is 'not found', like a missing one."""
    gateway = session.get(Gateway, gateway_id)
    if gateway is None or gateway.tenant_id != tenant_id:
        raise NotFound("gateway not found")
    return gateway


def rotate(session: Session, gateway: Gateway, public_key: str | None = None) -> Issued:
    """New password and signing key; the old key verifies for ``KEY_GRACE`` more."""
    if gateway.status != GatewayStatus.ACTIVE:
        raise Conflict("a revoked gateway cannot be rotated; register a new one")
    password = broker.new_password()
    public, private = _new_key(public_key)
    now = utcnow()
    gateway.previous_public_key = gateway.public_key
    gateway.previous_key_valid_until = now + KEY_GRACE
    gateway.public_key = public
    gateway.password_hash = broker.hash_password(password)
    gateway.rotated_at = now
    session.flush()
    return Issued(gateway, password, private)


def revoke(session: Session, gateway: Gateway) -> Gateway:
    """Refuse the gateway from now on: the broker drops its login, the ingest its payloads."""
    if gateway.status != GatewayStatus.REVOKED:
        gateway.status = GatewayStatus.REVOKED
        gateway.revoked_at = utcnow()
        gateway.previous_public_key = None
        gateway.previous_key_valid_until = None
        session.flush()
    return gateway


# -- the data centre's key -----------------------------------------------------------------


def data_centre(session: Session, name: str, secret: str) -> DataCentre:
    """This data centre's signing identity, created on first use (does not commit)."""
    row = session.get(DataCentre, name)
    if row is None:
        private = Ed25519PrivateKey.generate()
        row = DataCentre(
            name=name,
            private_pem=private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(secret.encode()),
            ),
            public_key=raw_public(private.public_key()),
        )
        session.add(row)
        session.flush()
    return row


def data_centre_key(row: DataCentre, secret: str) -> Ed25519PrivateKey:
    """Decrypt a data centre's private key."""
    key = serialization.load_pem_private_key(row.private_pem, secret.encode())
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"data centre {row.name} holds a {type(key).__name__}, not Ed25519")
    return key


def agent_config(gateway: Gateway, issued: Issued | None, dc: DataCentre, public: str) -> str:
    """The ``gateway`` and ``data_centres`` sections of the agent's YAML for this gateway."""
    host, _, port = public.rpartition(":")
    key_line = (
        f"  signing_key: {issued.signing_key}\n"
        if issued and issued.signing_key
        else "  signing_key_file: /etc/ems-edge/signing.key   # the key you registered\n"
    )
    password = issued.password if issued else "<shown once at registration or rotation>"
    return (
        "gateway:\n"
        f"  id: {gateway.id}\n"
        f"{key_line}"
        "data_centres:\n"
        f"  - name: {dc.name}\n"
        f"    host: {host}\n"
        f"    port: {port}\n"
        f"    username: {gateway.id}\n"
        f"    password: {password}\n"
        f"    key: {dc.public_key}\n"
    )


# -- the broker's files ---------------------------------------------------------------------


def broker_accounts(session: Session, ingest: dict[str, str]) -> list[broker.BrokerAccount]:
    """Every account the broker should accept: active gateways, and each DC's ingest.

    ``ingest`` maps a DC name to its ingest account's password hash.
    """
    accounts = [
        broker.BrokerAccount(username, password_hash, broker.AccountKind.INGEST, dc=dc)
        for dc, password_hash in sorted(ingest.items())
        for username in [INGEST_USERNAME.format(dc=dc)]
    ]
    gateways = session.scalars(
        select(Gateway).where(Gateway.status == GatewayStatus.ACTIVE).order_by(Gateway.id)
    )
    accounts += [
        broker.BrokerAccount(g.id, g.password_hash, broker.AccountKind.GATEWAY) for g in gateways
    ]
    return accounts


def ingest_password(settings: Settings) -> str:
    """The ingest account's password, taken from ``EMS_MQTT_URL``."""
    from urllib.parse import urlsplit

    return urlsplit(settings.mqtt_url).password or ""


def _is_mosquitto(pid: int) -> bool:
    """Whether ``pid`` is a running broker: a stale pid file may name another process
    now, and SIGHUP's default action would terminate it."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): trust the pid file
        return True
    return name == "mosquitto"


# An arbitrary constant naming "the broker's files" among advisory locks.
BROKER_FILES_LOCK = 0x454D53_4246  # "EMS" "BF"


def sync_broker(session: Session, settings: Settings) -> Path:
    """Render the broker's password and ACL files from the registry and signal the broker.

    Call it last in the transaction that changed the registry. Renders are serialised
    by a transaction-level advisory lock, held until that transaction ends: a concurrent
    registration waits, then (read committed) sees this one's committed gateway too,
    so the last file written never leaves out a gateway another request just added.
    """
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": BROKER_FILES_LOCK})
    password = ingest_password(settings)
    ingest = {settings.dc_name: broker.hash_password(password)} if password else {}
    directory = settings.broker_dir
    directory.mkdir(parents=True, exist_ok=True)
    broker.write_broker_files(directory, broker_accounts(session, ingest))
    if settings.broker_pid_file and os.path.exists(settings.broker_pid_file):
        pid = int(Path(settings.broker_pid_file).read_text().strip() or 0)
        if pid > 0 and _is_mosquitto(pid):
            # A broker that is not running reads the files when it starts.
            with contextlib.suppress(ProcessLookupError):
                broker.reload_broker(pid)
    return directory


__all__ = [
    "KEY_GRACE",
    "Issued",
    "access",
    "agent_config",
    "broker_accounts",
    "data_centre",
    "data_centre_key",
    "load_public",
    "raw_public",
    "register",
    "revoke",
    "rotate",
    "sync_broker",
]
