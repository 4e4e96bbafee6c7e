"""Gateway pages: the tenant's gateways online or offline, what each last sent, the points it
reports, what the ingest quarantined, and each gateway's real-time values.

Status comes from ``ems.overview.services`` (the dashboard's and the provider overview's
source), real-time values from ``latest_values`` (as ``GET /realtime``), the quarantine from
``telemetry.services.quarantine_query`` (as ``GET /quarantine``).
"""

from __future__ import annotations

import re
from typing import Any

from ems.actuals.conversion import load_catalogue
from ems.db import utcnow
from ems.errors import NotFound
from ems.overview import services as overview
from ems.portal.i18n import current_language
from ems.portal.web import page, pages_blueprint
from ems.telemetry import services
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row
from ems_tenants import gateways
from ems_tenants.models import Gateway

blp = pages_blueprint("gateways_pages", __name__)
# A gateway id is "<tenant slug>-<name>"; anything else (a NUL byte would even fail in
# PostgreSQL) is answered like a missing gateway before the database sees it.
GATEWAY_ID = re.compile(r"^[a-z0-9-]{1,64}\Z")
QUARANTINE_ROWS = 20
REFRESH_SECONDS = 10


def _type_names() -> dict[str, str]:
    zh = current_language() == "zh"
    return {code: row.name_zh if zh else row.name_en for code, row in load_catalogue(db()).items()}


def _gateway(gateway_id: str) -> Gateway:
    if not GATEWAY_ID.fullmatch(gateway_id):
        raise NotFound("gateway not found")
    return gateways.access(db(), bound_tenant_row().id, gateway_id)


def _quarantine(gateway_id: str | None = None) -> list[Any]:
    stmt = services.quarantine_query(gateway_id).limit(QUARANTINE_ROWS)
    return list(db().scalars(stmt))


@blp.get("/gateways/")
def index() -> Any:
    """Every gateway with its status, and the latest quarantine entries."""
    tenant = bound_tenant_row()
    health = overview.plant_health(db(), tenant.id, utcnow())
    return page(
        "gateways/index.html",
        health=health,
        points=services.points_per_gateway(db()),
        quarantine=_quarantine(),
        online_minutes=int(overview.ONLINE_WITHIN.total_seconds() // 60),
        zone=tenant.timezone,
    )


@blp.get("/gateways/<gateway_id>")
def detail(gateway_id: str) -> Any:
    """One gateway: its status, real-time values and quarantine."""
    tenant = bound_tenant_row()
    gateway = _gateway(gateway_id)
    status = next(g for g in overview.gateways(db(), tenant.id, utcnow()) if g.id == gateway.id)
    return page(
        "gateways/detail.html",
        gateway=gateway,
        status=status,
        points=services.points_per_gateway(db()).get(gateway.id, 0),
        latest=overview.latest_values(db(), gateway.id),
        quarantine=_quarantine(gateway.id),
        refresh=REFRESH_SECONDS,
        type_names=_type_names(),
        zone=tenant.timezone,
    )


@blp.get("/gateways/<gateway_id>/realtime")
def realtime(gateway_id: str) -> Any:
    """The gateway's real-time table alone (htmx swaps it in every few seconds)."""
    tenant = bound_tenant_row()
    gateway = _gateway(gateway_id)
    return page(
        "gateways/_realtime.html",
        gateway=gateway,
        latest=overview.latest_values(db(), gateway.id),
        refresh=REFRESH_SECONDS,
        type_names=_type_names(),
        zone=tenant.timezone,
    )
