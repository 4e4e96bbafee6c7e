"""Schemas of the provider engineer's cross-tenant overview."""

from __future__ import annotations

import marshmallow as ma


class GatewayHealthSchema(ma.Schema):
    """One gateway as the overview shows it."""

    id = ma.fields.String()
    name = ma.fields.String()
    status = ma.fields.String(metadata={"description": "registry status: active, revoked ..."})
    online = ma.fields.Boolean(metadata={"description": "a batch arrived in the last 10 minutes"})
    last_batch_at = ma.fields.AwareDateTime(allow_none=True)
    readings_total = ma.fields.Integer()


class PlantHealthSchema(ma.Schema):
    """Gateway health, data completeness of the last hour and open faults."""

    gateways = ma.fields.List(ma.fields.Nested(GatewayHealthSchema))
    gateways_online = ma.fields.Integer()
    gateways_total = ma.fields.Function(lambda health: len(health.gateways))
    points = ma.fields.Integer()
    points_reporting = ma.fields.Integer(metadata={"description": "with a value in the last hour"})
    completeness_pct = ma.fields.Float(allow_none=True)
    quarantined_24h = ma.fields.Integer()
    upload_corrections = ma.fields.Integer()
    upload_pending = ma.fields.Integer()
    open_faults = ma.fields.Integer(
        metadata={"description": "offline gateways + quarantined readings + uploads to correct"}
    )


class PlantOverviewSchema(ma.Schema):
    """One tenant the engineer is a member of, with its health."""

    slug = ma.fields.String()
    name = ma.fields.String()
    role = ma.fields.String()
    status = ma.fields.String(metadata={"description": "active | suspended"})
    region_code = ma.fields.String()
    health = ma.fields.Nested(
        PlantHealthSchema,
        allow_none=True,
        metadata={"description": "null while the tenant is suspended"},
    )
