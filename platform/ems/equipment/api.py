"""Equipment API: ``/api/v1/tenants/<slug>/equipment`` (table A.3), the classes and
monitoring items of table 4.5.3, running state and inspections, efficiency.

The ledger, its monitoring bindings and efficiency definitions are configuration
(``config:write``); inspections and efficiency period records are operators' data
(``data:write``); reading needs ``tenant:read``.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Response
from flask.views import MethodView

from ems.auth.permissions import Permission
from ems.documents.web import BINARY_RESPONSE, accept_uploads, file_response, read_file
from ems.equipment import catalogue, efficiency, ledger, monitoring, services, state
from ems.equipment.models import EfficiencyTerm, Equipment, Inspection
from ems.equipment.schemas import (
    ComputeInputSchema,
    EfficiencySchema,
    EquipmentClassSchema,
    EquipmentInputSchema,
    EquipmentQuerySchema,
    EquipmentSchema,
    ExportQuerySchema,
    InspectionInputSchema,
    InspectionQuerySchema,
    InspectionSchema,
    MonitoringInputSchema,
    MonitoringSchema,
    PeriodInputSchema,
    PeriodQuerySchema,
    PeriodSchema,
    StateSchema,
    TermSchema,
    TermsInputSchema,
)
from ems.personnel.schemas import ImportFileSchema, ImportResultSchema
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, requires, tenant_blueprint

blp = tenant_blueprint(
    "equipment",
    __name__,
    description="Key energy-using equipment (table A.3): monitoring, state, efficiency",
)
accept_uploads(blp, [("equipment.import_equipment", "POST")])


@blp.route("/equipment-classes")
@blp.response(200, EquipmentClassSchema(many=True))
def equipment_classes() -> list[dict[str, Any]]:
    """List equipment classes with the monitoring items table 4.5.3 requires of each."""
    out = []
    for row in catalogue.classes(db()):
        fields = ("code", "name_zh", "name_en", "group_zh", "group_en", "source")
        out.append(
            {
                **{k: getattr(row, k) for k in fields},
                "items": catalogue.items_of(db(), row.code),
            }
        )
    return out


@blp.route("/equipment")
class EquipmentList(MethodView):
    """The key energy-using equipment ledger."""

    @blp.arguments(EquipmentQuerySchema, location="query")
    @blp.response(200, EquipmentSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[Equipment]:
        """List equipment (filter by name or number, class, unit, energy type, special)."""
        return paginate(db(), services.list_query(query), pagination_parameters)

    @requires(Permission.CONFIG_WRITE)
    @blp.arguments(EquipmentInputSchema)
    @blp.response(201, EquipmentSchema)
    def post(self, data: dict[str, Any]) -> Equipment:
        """Add equipment."""
        return services.create_equipment(db(), data)


@blp.route("/equipment/<int:equipment_id>")
class EquipmentById(MethodView):
    """One piece of equipment."""

    @blp.etag
    @blp.response(200, EquipmentSchema)
    def get(self, equipment_id: int) -> Equipment:
        """Show equipment (with its ETag)."""
        return services.access_equipment(db(), equipment_id)

    @requires(Permission.CONFIG_WRITE)
    @blp.etag
    @blp.arguments(EquipmentInputSchema)
    @blp.response(200, EquipmentSchema)
    def put(self, data: dict[str, Any], equipment_id: int) -> Equipment:
        """Replace equipment's fields (send its ETag in If-Match)."""
        row = services.access_equipment(db(), equipment_id)
        blp.check_etag(row, EquipmentSchema)
        return services.update_equipment(db(), row, data)

    @requires(Permission.CONFIG_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, equipment_id: int) -> None:
        """Remove equipment with its inspections and efficiency records (ETag in If-Match)."""
        row = services.access_equipment(db(), equipment_id)
        blp.check_etag(row, EquipmentSchema)
        services.delete_equipment(db(), row)


@blp.route("/equipment/export")
@blp.arguments(ExportQuerySchema, location="query")
@blp.response(200, description="table A.3 with the standard's headings")
@blp.doc(responses=BINARY_RESPONSE)
def export_equipment(query: dict[str, Any]) -> Response:
    """Export the ledger as CSV or XLSX (table A.3 headings)."""
    data, content_type = ledger.export(db(), query["format"], extended=query["extended"])
    return file_response(data, content_type, f"重点用能设备-A3.{query['format']}")


@blp.route("/equipment/import", methods=["POST"])
@requires(Permission.CONFIG_WRITE)
@blp.arguments(ImportFileSchema, location="files")
@blp.response(200, ImportResultSchema)
def import_equipment(data: dict[str, Any]) -> ledger.ImportResult:
    """Import an A.3 file: each row created or updated by 设备编号, or (any bad cell) none."""
    filename, content = read_file(data["file"])
    return ledger.import_file(db(), content, filename)


@blp.route("/equipment/<int:equipment_id>/monitoring")
class Monitoring(MethodView):
    """The monitoring items of table 4.5.3 and the points serving them."""

    @blp.response(200, MonitoringSchema)
    def get(self, equipment_id: int) -> dict[str, Any]:
        """Show required items against bound points (coverage)."""
        return monitoring.coverage(db(), services.access_equipment(db(), equipment_id))

    @requires(Permission.CONFIG_WRITE)
    @blp.arguments(MonitoringInputSchema)
    @blp.response(200, MonitoringSchema)
    def put(self, data: dict[str, Any], equipment_id: int) -> dict[str, Any]:
        """Replace the bindings of points to items (or waive items not applicable)."""
        row = services.access_equipment(db(), equipment_id)
        return monitoring.replace_bindings(db(), row, data["bindings"])


@blp.route("/equipment/<int:equipment_id>/state")
@blp.response(200, StateSchema)
def equipment_state(equipment_id: int) -> dict[str, Any]:
    """The current running state: from the state point or the last inspection, the newer."""
    return state.current_state(db(), services.access_equipment(db(), equipment_id))


@blp.route("/equipment/<int:equipment_id>/inspections")
class Inspections(MethodView):
    """Patrol records of equipment."""

    @blp.arguments(InspectionQuerySchema, location="query")
    @blp.response(200, InspectionSchema(many=True))
    @blp.paginate()
    def get(
        self, query: dict[str, Any], pagination_parameters: Any, equipment_id: int
    ) -> list[Inspection]:
        """List inspections, newest first."""
        row = services.access_equipment(db(), equipment_id)
        return paginate(db(), state.inspections_query(row, query), pagination_parameters)

    @requires(Permission.DATA_WRITE)
    @blp.arguments(InspectionInputSchema)
    @blp.response(201, InspectionSchema)
    def post(self, data: dict[str, Any], equipment_id: int) -> Inspection:
        """Record an inspection (state found, process parameters, energy use)."""
        row = services.access_equipment(db(), equipment_id)
        return state.add_inspection(db(), row, data)


@blp.route("/equipment/<int:equipment_id>/efficiency-terms")
class EfficiencyTerms(MethodView):
    """How the equipment's efficiency is measured."""

    @blp.response(200, TermSchema(many=True))
    def get(self, equipment_id: int) -> list[EfficiencyTerm]:
        """Show the efficiency definition."""
        return efficiency.terms(db(), services.access_equipment(db(), equipment_id))

    @requires(Permission.CONFIG_WRITE)
    @blp.arguments(TermsInputSchema)
    @blp.response(200, TermSchema(many=True))
    def put(self, data: dict[str, Any], equipment_id: int) -> list[EfficiencyTerm]:
        """Replace the definition: inputs, outputs, materials, each fed by a point or entered."""
        row = services.access_equipment(db(), equipment_id)
        return efficiency.replace_terms(db(), row, data["terms"])


def _listing(row: Equipment, periods: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "equipment_id": row.id,
        "unit": efficiency.COMMON_UNIT,
        "design_efficiency": row.design_efficiency,
        "target_efficiency": row.target_efficiency,
        "periods": periods,
        "summary": efficiency.summary(row, periods),
    }


@blp.route("/equipment/<int:equipment_id>/efficiency")
class Efficiency(MethodView):
    """Efficiency per period."""

    @blp.arguments(PeriodQuerySchema, location="query")
    @blp.response(200, EfficiencySchema)
    def get(self, query: dict[str, Any], equipment_id: int) -> dict[str, Any]:
        """List periods meeting [from, to) with efficiency, flagged below the target."""
        row = services.access_equipment(db(), equipment_id)
        records = db().scalars(efficiency.periods_query(row, query))
        return _listing(row, [efficiency.evaluate(row, r) for r in records])

    @requires(Permission.DATA_WRITE)
    @blp.arguments(PeriodInputSchema)
    @blp.response(201, PeriodSchema)
    def post(self, data: dict[str, Any], equipment_id: int) -> dict[str, Any]:
        """Record a period's quantities entered by hand."""
        row = services.access_equipment(db(), equipment_id)
        return efficiency.evaluate(row, efficiency.add_period(db(), row, data))


@blp.route("/equipment/<int:equipment_id>/efficiency/compute", methods=["POST"])
@requires(Permission.DATA_WRITE)
@blp.arguments(ComputeInputSchema)
@blp.response(200, PeriodSchema)
def compute_efficiency(data: dict[str, Any], equipment_id: int) -> dict[str, Any]:
    """Compute (or recompute) a period from the daily rollups of the terms' points."""
    row = services.access_equipment(db(), equipment_id)
    tz = ZoneInfo(bound_tenant_row().timezone)
    record = efficiency.compute_period(db(), row, data["period_from"], data["period_to"], tz)
    return efficiency.evaluate(row, record)


@blp.route("/equipment/<int:equipment_id>/efficiency/<int:period_id>")
class EfficiencyPeriodById(MethodView):
    """One period record."""

    @blp.response(200, PeriodSchema)
    def get(self, equipment_id: int, period_id: int) -> dict[str, Any]:
        """Show a period record with its efficiency."""
        row = services.access_equipment(db(), equipment_id)
        return efficiency.evaluate(row, efficiency.access_period(db(), row, period_id))

    @requires(Permission.DATA_WRITE)
    @blp.response(204)
    def delete(self, equipment_id: int, period_id: int) -> None:
        """Remove a period record."""
        row = services.access_equipment(db(), equipment_id)
        db().delete(efficiency.access_period(db(), row, period_id))
