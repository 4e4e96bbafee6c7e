"""Actuals API: energy actuals, unit consumption, shifts, manual entry, products, output, value.

Reading needs ``tenant:read``; manual entry, output and value figures need ``data:write``
(operators' work); shifts and products are configuration (``config:write``).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, jsonify
from flask.views import MethodView
from sqlalchemy import select

from ems.actuals import imports, intensity, manual, production, reports, shifts
from ems.actuals.models import (
    ManualQuantity,
    ManualQuantityVersion,
    ManualReading,
    OutputValue,
    Product,
    ProductOutput,
    Shift,
)
from ems.actuals.periods import Period
from ems.actuals.schemas import (
    ActualsQuerySchema,
    ActualsSchema,
    IntensityQuerySchema,
    IntensitySchema,
    ManualQuantityInputSchema,
    ManualQuantityQuerySchema,
    ManualQuantitySchema,
    ManualQuantityVersionSchema,
    ManualReadingInputSchema,
    ManualReadingQuerySchema,
    ManualReadingSchema,
    OutputImportFileSchema,
    OutputImportResultSchema,
    OutputInputSchema,
    OutputQuerySchema,
    OutputSchema,
    ProductInputSchema,
    ProductSchema,
    ShiftInputSchema,
    ShiftSchema,
    ValueInputSchema,
    ValueQuerySchema,
    ValueSchema,
)
from ems.auth.permissions import Permission
from ems.db import utcnow
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant, bound_tenant_row, requires, tenant_blueprint

blp = tenant_blueprint(
    "actuals",
    __name__,
    description="Energy actuals (能耗实绩), manual entry, production, output value, "
    "unit consumption",
)


def _zone() -> ZoneInfo:
    return ZoneInfo(bound_tenant_row().timezone)


# --- reports ------------------------------------------------------------------------------


@blp.route("/actuals")
@blp.arguments(ActualsQuerySchema, location="query")
@blp.response(200, ActualsSchema)
def actuals(query: dict[str, Any]) -> Response:
    """Energy actuals by category per bucket, in physical units and tce, with 同比 and 环比."""
    request = reports.query_of(query)
    defined = shifts.ordered(db()) if request.period is Period.SHIFT else []
    tenant = bound_tenant_row()
    report = reports.actuals_report(db(), _zone(), tenant.region_code, request, utcnow(), defined)
    # Sent as built: the service makes it JSON-ready in ActualsSchema's shape (a test holds
    # it to the schema). Dumping its ~10,000 fields through marshmallow again cost as much
    # as computing them (bench/actuals_query.py).
    return jsonify(report)


@blp.route("/unit-consumption")
@blp.arguments(IntensityQuerySchema, location="query")
@blp.response(200, IntensitySchema)
def unit_consumption(query: dict[str, Any]) -> dict[str, Any]:
    """Unit-product (kgce per unit) and unit-value (tce per 10^4 CNY) consumption per bucket."""
    request = intensity.query_of(query)
    defined = shifts.ordered(db()) if request.period is Period.SHIFT else []
    tenant = bound_tenant_row()
    return intensity.report(db(), _zone(), tenant.region_code, request, utcnow(), defined)


# --- shifts -------------------------------------------------------------------------------


@blp.route("/shifts")
class Shifts(MethodView):
    """The tenant's shifts (班次)."""

    @blp.response(200, ShiftSchema(many=True))
    def get(self) -> list[Shift]:
        """List shifts in report order."""
        return shifts.ordered(db())

    @blp.arguments(ShiftInputSchema)
    @blp.response(201, ShiftSchema)
    def post(self, data: dict[str, Any]) -> Shift:
        """Add a shift (quarter-hour times, no overlap with another)."""
        return shifts.create_shift(db(), data)


@blp.route("/shifts/<int:shift_id>")
class ShiftById(MethodView):
    """One shift."""

    @blp.etag
    @blp.response(200, ShiftSchema)
    def get(self, shift_id: int) -> Shift:
        """Show a shift (with its ETag)."""
        return shifts.access_shift(db(), shift_id)

    @blp.etag
    @blp.arguments(ShiftInputSchema)
    @blp.response(200, ShiftSchema)
    def put(self, data: dict[str, Any], shift_id: int) -> Shift:
        """Replace a shift (send its ETag in If-Match); past shift reports change with it."""
        row = shifts.access_shift(db(), shift_id)
        blp.check_etag(row, ShiftSchema)
        return shifts.update_shift(db(), row, data)

    @blp.etag
    @blp.response(204)
    def delete(self, shift_id: int) -> None:
        """Remove a shift (send its ETag in If-Match)."""
        row = shifts.access_shift(db(), shift_id)
        blp.check_etag(row, ShiftSchema)
        db().delete(row)


# --- manual readings ----------------------------------------------------------------------


@blp.route("/points/<int:point_id>/manual-readings")
class ManualReadings(MethodView):
    """Readings of a point entered by hand, every version."""

    @blp.arguments(ManualReadingQuerySchema, location="query")
    @blp.response(200, ManualReadingSchema(many=True))
    @blp.paginate()
    def get(
        self, query: dict[str, Any], pagination_parameters: Any, point_id: int
    ) -> list[ManualReading]:
        """Every version of the point's manual readings, newest first."""
        point = manual.access_point(db(), point_id)
        stmt = (
            select(ManualReading)
            .where(ManualReading.point_id == point.id)
            .order_by(ManualReading.ts.desc(), ManualReading.version.desc())
        )
        if "ts" in query:
            stmt = stmt.where(ManualReading.ts == query["ts"])
        return paginate(db(), stmt, pagination_parameters)

    @requires(Permission.DATA_WRITE)
    @blp.arguments(ManualReadingInputSchema)
    @blp.response(201, ManualReadingSchema)
    def post(self, data: dict[str, Any], point_id: int) -> ManualReading:
        """Enter a reading (quality MANUAL); the rollups recompute around it."""
        point = manual.access_point(db(), point_id)
        tenant = bound_tenant_row()
        return manual.enter_reading(
            db(), bound_tenant().schema_name, point, data, utcnow(), tenant.plan.retention_days
        )


# --- manual quantities --------------------------------------------------------------------


@blp.route("/manual-quantities")
class ManualQuantities(MethodView):
    """Quantities of energy used without a meter."""

    @blp.arguments(ManualQuantityQuerySchema, location="query")
    @blp.response(200, ManualQuantitySchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[ManualQuantity]:
        """List manual quantities (filter by energy type and by the days they meet)."""
        stmt = select(ManualQuantity).order_by(ManualQuantity.period_from, ManualQuantity.id)
        if "energy_type" in query:
            stmt = stmt.where(ManualQuantity.energy_type == query["energy_type"])
        if "start" in query:
            stmt = stmt.where(ManualQuantity.period_to > query["start"])
        if "end" in query:
            stmt = stmt.where(ManualQuantity.period_from < query["end"])
        return paginate(db(), stmt, pagination_parameters)

    @requires(Permission.DATA_WRITE)
    @blp.arguments(ManualQuantityInputSchema)
    @blp.response(201, ManualQuantitySchema)
    def post(self, data: dict[str, Any]) -> ManualQuantity:
        """Enter a quantity; it counts in the actuals of its energy type, marked manual."""
        return manual.create_quantity(db(), data, utcnow())


@blp.route("/manual-quantities/<int:quantity_id>")
class ManualQuantityById(MethodView):
    """One manual quantity."""

    @blp.etag
    @blp.response(200, ManualQuantitySchema)
    def get(self, quantity_id: int) -> ManualQuantity:
        """Show a manual quantity's current version (with its ETag)."""
        return manual.access_quantity(db(), quantity_id)

    @requires(Permission.DATA_WRITE)
    @blp.etag
    @blp.arguments(ManualQuantityInputSchema)
    @blp.response(200, ManualQuantitySchema)
    def put(self, data: dict[str, Any], quantity_id: int) -> ManualQuantity:
        """Correct a manual quantity (ETag in If-Match, reason required); versions are kept."""
        row = manual.access_quantity(db(), quantity_id)
        blp.check_etag(row, ManualQuantitySchema)
        return manual.correct_quantity(db(), row, data, utcnow())


@blp.route("/manual-quantities/<int:quantity_id>/versions")
@blp.response(200, ManualQuantityVersionSchema(many=True))
def quantity_versions(quantity_id: int) -> list[ManualQuantityVersion]:
    """Every version of a manual quantity, newest first: what, by whom, when, why."""
    return manual.quantity_versions(db(), manual.access_quantity(db(), quantity_id))


# --- products -----------------------------------------------------------------------------


@blp.route("/products")
class Products(MethodView):
    """Products whose output is the denominator of unit consumption."""

    @blp.response(200, ProductSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[Product]:
        """List products."""
        return paginate(db(), select(Product).order_by(Product.code), pagination_parameters)

    @blp.arguments(ProductInputSchema)
    @blp.response(201, ProductSchema)
    def post(self, data: dict[str, Any]) -> Product:
        """Add a product."""
        return production.create_product(db(), data)


@blp.route("/products/<int:product_id>")
class ProductById(MethodView):
    """One product."""

    @blp.etag
    @blp.response(200, ProductSchema)
    def get(self, product_id: int) -> Product:
        """Show a product (with its ETag)."""
        return production.access_product(db(), product_id)

    @blp.etag
    @blp.arguments(ProductInputSchema)
    @blp.response(200, ProductSchema)
    def put(self, data: dict[str, Any], product_id: int) -> Product:
        """Replace a product (send its ETag in If-Match)."""
        row = production.access_product(db(), product_id)
        blp.check_etag(row, ProductSchema)
        return production.update_product(db(), row, data)

    @blp.etag
    @blp.response(204)
    def delete(self, product_id: int) -> None:
        """Remove a product without recorded output (send its ETag in If-Match)."""
        row = production.access_product(db(), product_id)
        blp.check_etag(row, ProductSchema)
        production.delete_product(db(), row)


# --- product output -----------------------------------------------------------------------


@blp.route("/product-outputs")
class Outputs(MethodView):
    """Qualified output per product and period."""

    @blp.arguments(OutputQuerySchema, location="query")
    @blp.response(200, OutputSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[ProductOutput]:
        """List output records (filter by product and by the days they meet)."""
        stmt = select(ProductOutput).order_by(ProductOutput.period_from, ProductOutput.id)
        if "product_id" in query:
            stmt = stmt.where(ProductOutput.product_id == query["product_id"])
        if "start" in query:
            stmt = stmt.where(ProductOutput.period_to > query["start"])
        if "end" in query:
            stmt = stmt.where(ProductOutput.period_from < query["end"])
        return paginate(db(), stmt, pagination_parameters)

    @requires(Permission.DATA_WRITE)
    @blp.arguments(OutputInputSchema)
    @blp.response(201, OutputSchema)
    def post(self, data: dict[str, Any]) -> ProductOutput:
        """Record output (its period may not overlap another record of the product)."""
        return production.create_output(db(), data)


@blp.route("/product-outputs/import")
class OutputImport(MethodView):
    """Spreadsheet import of output records."""

    @requires(Permission.DATA_WRITE)
    @blp.arguments(OutputImportFileSchema, location="files")
    @blp.response(200, OutputImportResultSchema)
    def post(self, files: dict[str, Any]) -> imports.ImportResult:
        """Import output from CSV or XLSX (产品代码, 起始日期, 截止日期, 合格产品产量, 备注):
        all rows or none."""
        upload = files["file"]
        return imports.import_outputs(db(), upload.read(), upload.filename or "")


@blp.route("/product-outputs/<int:output_id>")
class OutputById(MethodView):
    """One output record."""

    @blp.etag
    @blp.response(200, OutputSchema)
    def get(self, output_id: int) -> ProductOutput:
        """Show an output record (with its ETag)."""
        return production.access_output(db(), output_id)

    @requires(Permission.DATA_WRITE)
    @blp.etag
    @blp.arguments(OutputInputSchema)
    @blp.response(200, OutputSchema)
    def put(self, data: dict[str, Any], output_id: int) -> ProductOutput:
        """Replace an output record (send its ETag in If-Match)."""
        row = production.access_output(db(), output_id)
        blp.check_etag(row, OutputSchema)
        return production.update_output(db(), row, data)

    @requires(Permission.DATA_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, output_id: int) -> None:
        """Remove an output record (send its ETag in If-Match)."""
        row = production.access_output(db(), output_id)
        blp.check_etag(row, OutputSchema)
        db().delete(row)


# --- output value -------------------------------------------------------------------------


@blp.route("/output-values")
class Values(MethodView):
    """Output value and value added of the enterprise, per period."""

    @blp.arguments(ValueQuerySchema, location="query")
    @blp.response(200, ValueSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[OutputValue]:
        """List output value records."""
        stmt = select(OutputValue).order_by(OutputValue.period_from, OutputValue.id)
        if "kind" in query:
            stmt = stmt.where(OutputValue.kind == query["kind"])
        if "start" in query:
            stmt = stmt.where(OutputValue.period_to > query["start"])
        if "end" in query:
            stmt = stmt.where(OutputValue.period_from < query["end"])
        return paginate(db(), stmt, pagination_parameters)

    @requires(Permission.DATA_WRITE)
    @blp.arguments(ValueInputSchema)
    @blp.response(201, ValueSchema)
    def post(self, data: dict[str, Any]) -> OutputValue:
        """Record output value or value added (10^4 CNY, current or constant prices)."""
        return production.create_value(db(), data)


@blp.route("/output-values/<int:value_id>")
class ValueById(MethodView):
    """One output value record."""

    @blp.etag
    @blp.response(200, ValueSchema)
    def get(self, value_id: int) -> OutputValue:
        """Show an output value record (with its ETag)."""
        return production.access_value(db(), value_id)

    @requires(Permission.DATA_WRITE)
    @blp.etag
    @blp.arguments(ValueInputSchema)
    @blp.response(200, ValueSchema)
    def put(self, data: dict[str, Any], value_id: int) -> OutputValue:
        """Replace an output value record (send its ETag in If-Match)."""
        row = production.access_value(db(), value_id)
        blp.check_etag(row, ValueSchema)
        return production.update_value(db(), row, data)

    @requires(Permission.DATA_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, value_id: int) -> None:
        """Remove an output value record (send its ETag in If-Match)."""
        row = production.access_value(db(), value_id)
        blp.check_etag(row, ValueSchema)
        db().delete(row)
