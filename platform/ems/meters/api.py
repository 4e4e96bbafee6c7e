"""Meter ledger API: ``/api/v1/tenants/<slug>/meters`` and ``.../instrument-classes``.

Editing the ledger is energy managers' work (``config:write``); recording a
verification or a change of state is operators' (``data:write``); reading is
for every member.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response
from flask.views import MethodView
from sqlalchemy import select

from ems.auth.permissions import Permission
from ems.documents.web import file_response
from ems.meters import ledger_file, points, replacement, services
from ems.meters.models import InstrumentClass, Meter, MeterStateChange, Verification
from ems.meters.reminders import KIND as CALIBRATION_DUE
from ems.meters.schemas import (
    InstrumentClassSchema,
    MeterAutoLinkResultSchema,
    MeterExportQuerySchema,
    MeterImportFileSchema,
    MeterImportQuerySchema,
    MeterImportResultSchema,
    MeterInputSchema,
    MeterLinkedPointSchema,
    MeterLinkInputSchema,
    MeterQuerySchema,
    MeterReplacementInputSchema,
    MeterReplacementSchema,
    MeterSchema,
    MeterStateInputSchema,
    MeterStateSchema,
    MeterSummarySchema,
    MeterVerificationInputSchema,
    MeterVerificationSchema,
)
from ems.meters.summary import summary as ledger_summary
from ems.reminders.services import lead_days
from ems.tabular import CSV_TYPE, MAX_BYTES
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row, requires, tenant_blueprint

blp = tenant_blueprint(
    "meters",
    __name__,
    description="Energy metering instrument ledger (DB53/T 1026 table A.1), records, reminders",
)


def _today() -> date:
    """Today in the tenant's time zone: due dates are calendar days of the plant."""
    return datetime.now(ZoneInfo(bound_tenant_row().timezone)).date()


@blp.route("/meters")
class Meters(MethodView):
    """The tenant's meter ledger."""

    @blp.arguments(MeterQuerySchema, location="query")
    @blp.response(200, MeterSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[Meter]:
        """List meters (filter by level, state, JJF 1051 code, energy type, place, due date)."""
        return paginate(db(), services.list_query(query), pagination_parameters)

    @blp.arguments(MeterInputSchema)
    @blp.response(201, MeterSchema)
    def post(self, data: dict[str, Any]) -> Meter:
        """Add a meter to the ledger (points whose meter code is its number are linked)."""
        return services.save_meter(db(), data, reason="建档 created")


@blp.route("/meters/<int:meter_id>")
class MeterById(MethodView):
    """One meter."""

    @blp.etag
    @blp.response(200, MeterSchema)
    def get(self, meter_id: int) -> Meter:
        """Show a meter (with its ETag)."""
        return services.access_meter(db(), meter_id)

    @blp.etag
    @blp.arguments(MeterInputSchema)
    @blp.response(200, MeterSchema)
    def put(self, data: dict[str, Any], meter_id: int) -> Meter:
        """Replace a meter's fields (send its ETag in If-Match); a new state is recorded."""
        meter = services.access_meter(db(), meter_id)
        blp.check_etag(meter, MeterSchema)
        return services.save_meter(db(), data, meter)

    @blp.etag
    @blp.response(204)
    def delete(self, meter_id: int) -> None:
        """Remove a meter and its records (send its ETag in If-Match)."""
        meter = services.access_meter(db(), meter_id)
        blp.check_etag(meter, MeterSchema)
        services.delete_meter(db(), meter)


@blp.route("/meters/summary")
@blp.response(200, MeterSummarySchema)
def summary() -> dict[str, Any]:
    """Meter equipping: counts by level, JJF 1051 code and name, energy type, state, due."""
    return ledger_summary(db(), _today(), lead_days(db(), CALIBRATION_DUE))


@blp.route("/meters/export")
@blp.arguments(MeterExportQuerySchema, location="query")
@blp.response(200, description="The ledger as CSV (or XLSX)", content_type=CSV_TYPE)
def export(query: dict[str, Any]) -> Response:
    """Download the ledger with the table A.1 headings (序号 first), as CSV or XLSX."""
    fmt = query.pop("format")
    content, content_type = ledger_file.export_ledger(db(), services.list_query(query), fmt)
    name = f"meter-ledger-{_today().isoformat()}.{fmt}"
    return file_response(content, content_type, name)


@blp.route("/meters/import", methods=["POST"])
@blp.arguments(MeterImportQuerySchema, location="query")
@blp.arguments(MeterImportFileSchema, location="files")
@blp.response(200, MeterImportResultSchema)
def import_file(query: dict[str, Any], files: dict[str, Any]) -> ledger_file.ImportOutcome:
    """Create or update meters by 管理编号 from an XLSX or CSV file; all rows or none."""
    upload = files["file"]
    content = upload.stream.read(MAX_BYTES + 1)
    outcome = ledger_file.import_ledger(db(), content, upload.filename or "")
    if query["dry_run"]:
        db().rollback()
        outcome.dry_run = True
    return outcome


@blp.route("/meters/auto-link", methods=["POST"])
@blp.response(200, MeterAutoLinkResultSchema)
def auto_link() -> dict[str, int]:
    """Link every unlinked point whose meter code is a meter's management number."""
    return {"linked": points.auto_link(db())}


@blp.route("/meters/<int:meter_id>/states")
class States(MethodView):
    """A meter's state history."""

    @blp.response(200, MeterStateSchema(many=True))
    def get(self, meter_id: int) -> list[MeterStateChange]:
        """The meter's states, newest first."""
        return services.state_history(db(), services.access_meter(db(), meter_id))

    @requires(Permission.DATA_WRITE)
    @blp.arguments(MeterStateInputSchema)
    @blp.response(201, MeterStateSchema)
    def post(self, data: dict[str, Any], meter_id: int) -> MeterStateChange:
        """Record a change of state (正常 / 故障 / 停用) and when it began."""
        meter = services.access_meter(db(), meter_id)
        return services.change_state(db(), meter, data["state"], data["since"], data["reason"])


@blp.route("/meters/<int:meter_id>/verifications")
class Verifications(MethodView):
    """A meter's verification and calibration records."""

    @blp.response(200, MeterVerificationSchema(many=True))
    def get(self, meter_id: int) -> list[Verification]:
        """The meter's records, newest first."""
        return services.verifications(db(), services.access_meter(db(), meter_id))

    @requires(Permission.DATA_WRITE)
    @blp.arguments(MeterVerificationInputSchema)
    @blp.response(201, MeterVerificationSchema)
    def post(self, data: dict[str, Any], meter_id: int) -> Verification:
        """Record a verification or calibration; the newest sets the meter's next due date."""
        return services.add_verification(db(), services.access_meter(db(), meter_id), data)


def _linked(meter: Meter) -> list[dict[str, Any]]:
    return [
        {
            "point_id": point.id,
            "gateway_id": point.gateway_id,
            "code": point.code,
            "name": point.name,
            "kind": point.kind,
            "unit": point.unit,
            "meter_code": point.meter_code,
            "linked_by": link.linked_by,
            "linked_at": link.linked_at,
        }
        for point, link in points.linked_points(db(), meter)
    ]


@blp.route("/meters/<int:meter_id>/points")
class MeterPoints(MethodView):
    """The points a meter feeds."""

    @blp.response(200, MeterLinkedPointSchema(many=True))
    def get(self, meter_id: int) -> list[dict[str, Any]]:
        """The meter's points."""
        return _linked(services.access_meter(db(), meter_id))

    @blp.arguments(MeterLinkInputSchema)
    @blp.response(200, MeterLinkedPointSchema(many=True))
    def post(self, data: dict[str, Any], meter_id: int) -> list[dict[str, Any]]:
        """Link a point to the meter (a point has at most one meter); answers the links."""
        meter = services.access_meter(db(), meter_id)
        points.link_point(db(), meter, data["point_id"])
        return _linked(meter)


@blp.route("/meters/<int:meter_id>/points/<int:point_id>", methods=["DELETE"])
@blp.response(204)
def unlink(meter_id: int, point_id: int) -> None:
    """Unlink a point from the meter."""
    points.unlink_point(db(), services.access_meter(db(), meter_id), point_id)


@blp.route("/meters/<int:meter_id>/replacements")
class Replacements(MethodView):
    """A meter's physical replacements and their counter bases."""

    @blp.response(200, MeterReplacementSchema(many=True))
    def get(self, meter_id: int) -> list[dict[str, Any]]:
        """The meter's replacements, newest first."""
        return replacement.exchanges(db(), services.access_meter(db(), meter_id))

    @blp.arguments(MeterReplacementInputSchema)
    @blp.response(201, MeterReplacementSchema)
    def post(self, data: dict[str, Any], meter_id: int) -> dict[str, Any]:
        """Record a replacement: counter bases per cumulative point, the new meter's details."""
        meter = services.access_meter(db(), meter_id)
        zone = ZoneInfo(bound_tenant_row().timezone)
        exchange = replacement.replace_meter(db(), meter, data, data["at"].astimezone(zone).date())
        return next(e for e in replacement.exchanges(db(), meter) if e["id"] == exchange.id)


@blp.route("/instrument-classes")
@blp.response(200, InstrumentClassSchema(many=True))
def instrument_classes() -> list[InstrumentClass]:
    """The JJF 1051 instrument names and codes the ledger refers to, with their source."""
    return list(
        db().scalars(
            select(InstrumentClass).order_by(
                InstrumentClass.code.is_(None), InstrumentClass.code, InstrumentClass.id
            )
        )
    )
