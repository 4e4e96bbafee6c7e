"""Regulator routes: ``/api/v1/regulator/...``, scoped to the regulator's region.

A regulator never reaches tenant routes (it holds no membership, so they answer
404); it reads only the registry entries of enterprises in its region here, and
what they uploaded once the upload issue lands.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from sqlalchemy import select

from ems.auth.permissions import require_regulator
from ems.web.pagination import paginate
from ems.web.pipeline import current_principal, db
from ems_tenants.models import Tenant, TenantStatus
from ems_tenants.validation import region_prefix, region_within

blp = Blueprint(
    "regulator", __name__, url_prefix="/api/v1/regulator", description="Regulator's view"
)


class EnterpriseSchema(ma.Schema):
    """An enterprise as a regulator sees it (registry facts only)."""

    name = ma.fields.String()
    credit_code = ma.fields.String()
    region_code = ma.fields.String()
    industry_code = ma.fields.String()


def _region_filter(scope: str) -> Any:
    return Tenant.region_code.startswith(region_prefix(scope), autoescape=True)


@blp.route("/enterprises")
@blp.response(200, EnterpriseSchema(many=True))
@blp.paginate()
def enterprises(pagination_parameters: Any) -> list[Tenant]:
    """List the enterprises in the regulator's region."""
    scope = require_regulator(current_principal())
    stmt = (
        select(Tenant)
        .where(Tenant.status == TenantStatus.ACTIVE, _region_filter(scope))
        .order_by(Tenant.region_code, Tenant.name)
    )
    rows: list[Tenant] = paginate(db(), stmt, pagination_parameters)
    assert all(region_within(scope, t.region_code) for t in rows)  # noqa: S101 - defence in depth
    return rows
