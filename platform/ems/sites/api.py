"""Sites API: ``/api/v1/tenants/<slug>/sites``."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from ems.org import services as org_services
from ems.sites import services
from ems.sites.models import Site
from ems.sites.schemas import SiteInputSchema, SiteSchema
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import tenant_blueprint

blp = tenant_blueprint("sites", __name__, "/sites", description="Plants of the enterprise")


@blp.route("")
class Sites(MethodView):
    """The tenant's sites."""

    @blp.response(200, SiteSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[Site]:
        """List sites."""
        return paginate(db(), select(Site).order_by(Site.id), pagination_parameters)

    @blp.arguments(SiteInputSchema)
    @blp.response(201, SiteSchema)
    def post(self, data: dict[str, Any]) -> Site:
        """Add a site."""
        return services.create_site(db(), data)


@blp.route("/<int:site_id>")
class SiteById(MethodView):
    """One site."""

    @blp.etag
    @blp.response(200, SiteSchema)
    def get(self, site_id: int) -> Site:
        """Show a site (with its ETag)."""
        return services.access_site(db(), site_id)

    @blp.etag
    @blp.arguments(SiteInputSchema)
    @blp.response(200, SiteSchema)
    def put(self, data: dict[str, Any], site_id: int) -> Site:
        """Replace a site (send its ETag in If-Match)."""
        site = services.access_site(db(), site_id)
        blp.check_etag(site, SiteSchema)
        return services.update_site(db(), site, data)

    @blp.etag
    @blp.response(204)
    def delete(self, site_id: int) -> None:
        """Remove a site (send its ETag in If-Match)."""
        site = services.access_site(db(), site_id)
        blp.check_etag(site, SiteSchema)
        # Its units (and, through them, meters and equipment) must go first: a 409
        # naming why, not the foreign key's error at commit.
        org_services.ensure_site_has_no_units(db(), site)
        db().delete(site)
