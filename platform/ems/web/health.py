"""Liveness (``/healthz``) and readiness (``/readyz``: database and broker)."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

import marshmallow as ma
from flask_smorest import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ems.errors import ServiceUnavailable
from ems.web.state import state

blp = Blueprint("health", __name__, url_prefix="", description="Health and readiness")


class HealthSchema(ma.Schema):
    """Status of the process and its dependencies."""

    status = ma.fields.String()
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


def _database() -> str:
    try:
        with state().db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError as exc:
        return f"unreachable: {type(exc).__name__}"


def _broker() -> str:
    # The AMQP handshake starts with the client's protocol header; a broker answers
    # it with Connection.Start. Enough to know it is up, without a login per probe.
    url = urlparse(state().settings.broker_url)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 5672), 2) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            sock.settimeout(2)
            answer = sock.recv(8)
        return "ok" if answer[:1] == b"\x01" else "unexpected answer"
    except OSError as exc:
        return f"unreachable: {type(exc).__name__}"


@blp.route("/healthz")
@blp.response(200, HealthSchema)
def healthz() -> dict[str, Any]:
    """The process is alive."""
    return {"status": "ok", "checks": {}}


@blp.route("/readyz")
@blp.response(200, HealthSchema)
def readyz() -> dict[str, Any]:
    """The process can serve: its database and broker answer."""
    checks = {"database": _database(), "broker": _broker()}
    if any(v != "ok" for v in checks.values()):
        raise ServiceUnavailable("not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    return {"status": "ok", "checks": checks}
