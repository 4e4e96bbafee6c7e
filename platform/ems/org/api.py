"""Organisation API: ``/api/v1/tenants/<slug>/units`` and ``.../sites/<id>/tree``.

The tree lives in the sites' URL space but on this blueprint: the sites module
knows nothing of units.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from ems.org import services
from ems.org.models import Unit
from ems.org.schemas import SiteTreeSchema, UnitInputSchema, UnitQuerySchema, UnitSchema
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import tenant_blueprint

blp = tenant_blueprint(
    "org", __name__, description="Organisation: sub-factories, workshops, processes, units"
)


@blp.route("/units")
class Units(MethodView):
    """The tenant's organisation units."""

    @blp.arguments(UnitQuerySchema, location="query")
    @blp.response(200, UnitSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[Unit]:
        """List units (filter by site, kind, parent)."""
        stmt = select(Unit).order_by(Unit.site_id, Unit.sort_order, Unit.code)
        for name in ("site_id", "kind", "parent_id"):
            if name in query:
                stmt = stmt.where(getattr(Unit, name) == query[name])
        return paginate(db(), stmt, pagination_parameters)

    @blp.arguments(UnitInputSchema)
    @blp.response(201, UnitSchema)
    def post(self, data: dict[str, Any]) -> Unit:
        """Add a unit."""
        return services.create_unit(db(), data)


@blp.route("/units/<int:unit_id>")
class UnitById(MethodView):
    """One unit."""

    @blp.etag
    @blp.response(200, UnitSchema)
    def get(self, unit_id: int) -> Unit:
        """Show a unit (with its ETag)."""
        return services.access_unit(db(), unit_id)

    @blp.etag
    @blp.arguments(UnitInputSchema)
    @blp.response(200, UnitSchema)
    def put(self, data: dict[str, Any], unit_id: int) -> Unit:
        """Replace a unit (send its ETag in If-Match)."""
        unit = services.access_unit(db(), unit_id)
        blp.check_etag(unit, UnitSchema)
        return services.update_unit(db(), unit, data)

    @blp.etag
    @blp.response(204)
    def delete(self, unit_id: int) -> None:
        """Remove a unit without children (send its ETag in If-Match)."""
        unit = services.access_unit(db(), unit_id)
        blp.check_etag(unit, UnitSchema)
        services.delete_unit(db(), unit)


@blp.route("/sites/<int:site_id>/tree")
@blp.response(200, SiteTreeSchema)
def site_tree(site_id: int) -> dict[str, Any]:
    """A site's units, nested, with effective role and boundary."""
    return services.tree(db(), site_id)
