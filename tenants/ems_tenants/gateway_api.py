"""Tenant-scoped gateway routes: register, list, show, rotate, revoke.

Secrets (the broker password and, when the platform made it, the signing key)
appear only in the answers to register and rotate, inside a ready-to-paste
agent configuration. Every change renders the broker's files again.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import validate
from sqlalchemy import select

from ems.context import current_actor
from ems.errors import NotFound
from ems.telemetry import commands
from ems.telemetry.models import GatewayCommand, GatewayState
from ems.web.pipeline import db
from ems.web.state import state
from ems.web.tenancy import bound_tenant, bound_tenant_row, tenant_blueprint
from ems_tenants import gateways
from ems_tenants.models import Gateway

blp = tenant_blueprint(
    "gateways", __name__, "/gateways", description="Plant gateways and their credentials"
)


class GatewayInputSchema(ma.Schema):
    """A gateway to register."""

    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=23))
    site_code = ma.fields.String(validate=validate.Length(max=32))
    public_key = ma.fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "The gateway's own Ed25519 key (ems-edge keygen), base64"},
    )


class RotateInputSchema(ma.Schema):
    """Optionally, the gateway's own new public key."""

    public_key = ma.fields.String(validate=validate.Length(max=64))


class GatewayStateSchema(ma.Schema):
    """What the cloud last heard from the gateway."""

    state = ma.fields.String(allow_none=True)
    state_at = ma.fields.DateTime(allow_none=True)
    last_batch_at = ma.fields.DateTime(allow_none=True)
    last_seq = ma.fields.Integer(allow_none=True)
    config_version = ma.fields.String(allow_none=True)
    readings_total = ma.fields.Integer(
        metadata={
            "description": "Readings received from the gateway, resends included (a resend "
            "stores nothing twice); stored counts per point and day are in /reconciliation."
        }
    )


class GatewaySchema(ma.Schema):
    """A registered gateway (no secrets)."""

    id = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    site_code = ma.fields.String(dump_only=True, allow_none=True)
    status = ma.fields.String(dump_only=True)
    public_key = ma.fields.String(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    rotated_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    telemetry = ma.fields.Nested(GatewayStateSchema, dump_only=True, allow_none=True)


class IssuedGatewaySchema(GatewaySchema):
    """A gateway with its secrets, shown once."""

    username = ma.fields.String(dump_only=True)
    password = ma.fields.String(dump_only=True)
    signing_key = ma.fields.String(dump_only=True, allow_none=True)
    data_centre_key = ma.fields.String(dump_only=True)
    agent_config = ma.fields.String(dump_only=True)


def _view(gateway: Gateway) -> dict[str, Any]:
    view = {c.key: getattr(gateway, c.key) for c in Gateway.__table__.columns}
    view["telemetry"] = db().get(GatewayState, gateway.id)
    return view


def _issued(issued: gateways.Issued) -> dict[str, Any]:
    settings = state().settings
    dc = gateways.data_centre(db(), settings.dc_name, settings.secret_key)
    gateways.sync_broker(db(), settings)
    return _view(issued.gateway) | {
        "username": issued.gateway.id,
        "password": issued.password,
        "signing_key": issued.signing_key,
        "data_centre_key": dc.public_key,
        "agent_config": gateways.agent_config(issued.gateway, issued, dc, settings.mqtt_public),
    }


@blp.route("")
class Gateways(MethodView):
    """The tenant's gateways."""

    @blp.response(200, GatewaySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List gateways with what the cloud last heard from each."""
        rows = db().scalars(
            select(Gateway).where(Gateway.tenant_id == bound_tenant().id).order_by(Gateway.id)
        )
        return [_view(g) for g in rows]

    @blp.arguments(GatewayInputSchema)
    @blp.response(201, IssuedGatewaySchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Register a gateway: broker credentials, topic ACL and signing key (shown once)."""
        return _issued(gateways.register(db(), bound_tenant_row(), data))


@blp.route("/<gateway_id>")
class GatewayById(MethodView):
    """One gateway."""

    @blp.response(200, GatewaySchema)
    def get(self, gateway_id: str) -> dict[str, Any]:
        """Show a gateway."""
        return _view(gateways.access(db(), bound_tenant().id, gateway_id))


@blp.route("/<gateway_id>/rotate", methods=["POST"])
@blp.arguments(RotateInputSchema)
@blp.response(200, IssuedGatewaySchema)
def rotate(data: dict[str, Any], gateway_id: str) -> dict[str, Any]:
    """New password and signing key; the old key still verifies for 24 hours."""
    gateway = gateways.access(db(), bound_tenant().id, gateway_id)
    return _issued(gateways.rotate(db(), gateway, data.get("public_key")))


@blp.route("/<gateway_id>/revoke", methods=["POST"])
@blp.response(200, GatewaySchema)
def revoke(gateway_id: str) -> dict[str, Any]:
    """Revoke: the broker refuses the gateway's login; the ingest quarantines its payloads."""
    gateway = gateways.revoke(db(), gateways.access(db(), bound_tenant().id, gateway_id))
    gateways.sync_broker(db(), state().settings)
    return _view(gateway)


class CommandInputSchema(ma.Schema):
    """A command for the gateway."""

    name = ma.fields.String(required=True, validate=validate.OneOf(commands.NAMES))
    args = ma.fields.Dict(keys=ma.fields.String(), load_default=dict)
    ttl_s = ma.fields.Integer(load_default=600, validate=validate.Range(min=10, max=3600))


class CommandSchema(ma.Schema):
    """A command and the gateway's reply (null until it answers)."""

    id = ma.fields.String()
    gateway_id = ma.fields.String()
    name = ma.fields.String()
    args = ma.fields.Dict()
    issued_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    requested_by = ma.fields.String()
    reply_ok = ma.fields.Boolean(allow_none=True)
    reply_result = ma.fields.Dict(allow_none=True)
    reply_error = ma.fields.String(allow_none=True)
    replied_at = ma.fields.DateTime(allow_none=True)


@blp.route("/<gateway_id>/commands")
class Commands(MethodView):
    """Commands sent to a gateway, newest first."""

    @blp.response(200, CommandSchema(many=True))
    def get(self, gateway_id: str) -> list[GatewayCommand]:
        """List the gateway's commands with their replies."""
        gateways.access(db(), bound_tenant().id, gateway_id)
        stmt = (
            select(GatewayCommand)
            .where(GatewayCommand.gateway_id == gateway_id)
            .order_by(GatewayCommand.issued_at.desc())
            .limit(200)
        )
        return list(db().scalars(stmt))

    @blp.arguments(CommandInputSchema)
    @blp.response(202, CommandSchema)
    def post(self, data: dict[str, Any], gateway_id: str) -> GatewayCommand:
        """Send collect_now, time_sync, push_config, reload_config or report_status."""
        gateway = gateways.access(db(), bound_tenant().id, gateway_id)
        actor = current_actor.get()
        return commands.issue(db(), state().settings, gateway, data, f"{actor.kind}:{actor.name}")


@blp.route("/<gateway_id>/commands/<command_id>")
@blp.response(200, CommandSchema)
def command(gateway_id: str, command_id: str) -> GatewayCommand:
    """One command and its reply."""
    gateways.access(db(), bound_tenant().id, gateway_id)
    row = db().get(GatewayCommand, command_id)
    if row is None or row.gateway_id != gateway_id:
        raise NotFound("command not found")
    return row
