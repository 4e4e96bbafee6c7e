"""Commands to gateways: collect now, time sync, configuration push, status report.

A command is signed with this data centre's key (the agent verifies it and
refuses expired, early, repeated or foreign ones; see ``openapi/edge-wire.md``
section 7), recorded, committed, and only then published (QoS 1) on the
gateway's ``commands`` topic: the gateway's reply, which the ingest records,
always finds its command. The broker keeps a command for a gateway that is
offline (persistent session) until the command expires.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session

from ems.config import Settings
from ems.errors import InvalidInput, ServiceUnavailable
from ems.telemetry.models import GatewayCommand
from ems_edge import wire
from ems_tenants import gateways
from ems_tenants.models import Gateway, GatewayStatus

NAMES = [str(n) for n in wire.CommandName]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def issue(
    session: Session,
    settings: Settings,
    gateway: Gateway,
    data: dict[str, Any],
    requested_by: str,
) -> GatewayCommand:
    """Record, commit and publish a command to ``gateway``."""
    if gateway.status != GatewayStatus.ACTIVE:
        raise InvalidInput("the gateway is revoked", fields={"gateway_id": ["revoked"]})
    name, args = data["name"], dict(data.get("args") or {})
    if name == wire.CommandName.PUSH_CONFIG and not isinstance(args.get("text"), str):
        raise InvalidInput(
            "push_config needs the configuration", fields={"args": ["'text' (YAML) is required"]}
        )
    issued_ms = int(time.time() * 1000)  # to the millisecond: the agent compares it
    expires_ms = issued_ms + int(data.get("ttl_s", 600)) * 1000
    now = _EPOCH + timedelta(milliseconds=issued_ms)
    expires = _EPOCH + timedelta(milliseconds=expires_ms)
    command = wire.Command(gateway.id, str(uuid.uuid4()), name, args, issued_ms, expires_ms)
    key = gateways.data_centre_key(
        gateways.data_centre(session, settings.dc_name, settings.secret_key), settings.secret_key
    )
    try:
        payload = wire.encode_command(command, key)
    except wire.WireError as exc:
        raise InvalidInput("bad command", fields={"args": [str(exc)]}) from None
    row = GatewayCommand(
        id=command.id,
        gateway_id=gateway.id,
        name=name,
        args=args,
        issued_at=now,
        expires_at=expires,
        requested_by=requested_by,
    )
    session.add(row)
    session.commit()  # before publishing: a fast reply must find its command
    try:
        publish(settings.mqtt_url, wire.topic(gateway.id, wire.Channel.COMMANDS), payload)
    except OSError as exc:
        row.reply_ok = False
        row.reply_error = f"not sent: the broker could not be reached ({exc})"
        session.commit()
        raise ServiceUnavailable(
            "the broker could not be reached; the command was not sent"
        ) from exc
    return row


def publish(mqtt_url: str, topic: str, payload: bytes, timeout: float = 5.0) -> None:
    """Publish one QoS 1 message and wait for the broker's PUBACK (OSError if it fails)."""
    parts = urlsplit(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ems-api-{uuid.uuid4().hex[:12]}")
    if parts.username:
        client.username_pw_set(parts.username, parts.password)
    if parts.scheme == "mqtts":
        client.tls_set()
    try:
        client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, keepalive=10)
        client.loop_start()
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise OSError("no PUBACK from the broker")
    except (ValueError, RuntimeError) as exc:
        raise OSError(str(exc)) from exc
    finally:
        client.disconnect()
        client.loop_stop()
