"""Energy API: the catalogue, coefficients in force, tenant overrides and settings."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask.views import MethodView
from sqlalchemy import select

from ems.energy import coefficients
from ems.energy.models import CoefficientOverride, EnergySettings, EnergyType
from ems.energy.schemas import (
    CoefficientQuerySchema,
    CoefficientSchema,
    EnergySettingsSchema,
    EnergyTypeQuerySchema,
    EnergyTypeSchema,
    OverrideInputSchema,
    OverrideQuerySchema,
    OverrideSchema,
)
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, tenant_blueprint

blp = tenant_blueprint(
    "energy", __name__, description="Energy types, standard coal coefficients, overrides"
)


@blp.route("/energy-types")
class EnergyTypes(MethodView):
    """The shared catalogue of energy types and energy-carrying media."""

    @blp.arguments(EnergyTypeQuerySchema, location="query")
    @blp.response(200, EnergyTypeSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[EnergyType]:
        """List energy types and media."""
        stmt = select(EnergyType).order_by(EnergyType.category, EnergyType.code)
        if "category" in query:
            stmt = stmt.where(EnergyType.category == query["category"])
        return list(db().scalars(stmt))


def _resolved(code: str, on: date, basis: str | None) -> dict[str, Any]:
    region = bound_tenant_row().region_code
    try:
        found = coefficients.resolve(db(), code, on, region, basis)
    except coefficients.CoefficientMissing as missing:
        chosen = basis or coefficients.default_basis(db(), code)
        return {
            "energy_type": code,
            "basis": chosen,
            "on": on,
            "value": None,
            "missing": missing.message,
        }
    return {**asdict(found), "on": on, "missing": None}


@blp.route("/coefficients")
class Coefficients(MethodView):
    """Standard coal coefficients in force for this tenant."""

    @blp.arguments(CoefficientQuerySchema, location="query")
    @blp.response(200, CoefficientSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Show the coefficient in force per energy type on a day, and which row it came from."""
        tenant = bound_tenant_row()
        on = query.get("on") or datetime.now(ZoneInfo(tenant.timezone)).date()
        if "energy_type" in query:
            codes = [coefficients.energy_type_row(db(), query["energy_type"]).code]
        else:
            codes = list(db().scalars(select(EnergyType.code).order_by(EnergyType.code)))
        return [_resolved(code, on, query.get("basis")) for code in codes]


@blp.route("/coefficient-overrides")
class Overrides(MethodView):
    """The tenant's own coefficients."""

    @blp.arguments(OverrideQuerySchema, location="query")
    @blp.response(200, OverrideSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[CoefficientOverride]:
        """List overrides."""
        stmt = select(CoefficientOverride).order_by(
            CoefficientOverride.energy_type, CoefficientOverride.valid_from
        )
        if "energy_type" in query:
            stmt = stmt.where(CoefficientOverride.energy_type == query["energy_type"])
        return paginate(db(), stmt, pagination_parameters)

    @blp.arguments(OverrideInputSchema)
    @blp.response(201, OverrideSchema)
    def post(self, data: dict[str, Any]) -> CoefficientOverride:
        """Add an override (its range must not overlap another of the same type and basis)."""
        return coefficients.create_override(db(), data)


@blp.route("/coefficient-overrides/<int:override_id>")
class OverrideById(MethodView):
    """One override."""

    @blp.etag
    @blp.response(200, OverrideSchema)
    def get(self, override_id: int) -> CoefficientOverride:
        """Show an override (with its ETag)."""
        return coefficients.access_override(db(), override_id)

    @blp.etag
    @blp.arguments(OverrideInputSchema)
    @blp.response(200, OverrideSchema)
    def put(self, data: dict[str, Any], override_id: int) -> CoefficientOverride:
        """Replace an override (send its ETag in If-Match)."""
        row = coefficients.access_override(db(), override_id)
        blp.check_etag(row, OverrideSchema)
        return coefficients.update_override(db(), row, data)

    @blp.etag
    @blp.response(204)
    def delete(self, override_id: int) -> None:
        """Remove an override (send its ETag in If-Match); the reference value applies again."""
        row = coefficients.access_override(db(), override_id)
        blp.check_etag(row, OverrideSchema)
        db().delete(row)


@blp.route("/energy-settings")
class Settings(MethodView):
    """The tenant's energy accounting settings."""

    @blp.etag
    @blp.response(200, EnergySettingsSchema)
    def get(self) -> EnergySettings:
        """Show the settings (with their ETag)."""
        return coefficients.settings(db())

    @blp.etag
    @blp.arguments(EnergySettingsSchema)
    @blp.response(200, EnergySettingsSchema)
    def put(self, data: dict[str, Any]) -> EnergySettings:
        """Change the basis electricity is counted on (send the ETag in If-Match)."""
        blp.check_etag(coefficients.settings(db()), EnergySettingsSchema)
        return coefficients.update_settings(db(), data)
