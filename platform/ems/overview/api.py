"""Provider routes: ``/api/v1/provider/...``, a service provider engineer's plants.

Not bound to one tenant: the engineer's memberships decide which tenants are read,
each in its own schema (:mod:`ems.overview.plants`). The page ``/provider/`` shows
the same answer.
"""

from __future__ import annotations

from flask_smorest import Blueprint

from ems.overview import plants
from ems.overview.schemas import PlantOverviewSchema

blp = Blueprint(
    "provider", __name__, url_prefix="/api/v1/provider", description="Provider engineer's plants"
)


@blp.route("/overview")
@blp.response(200, PlantOverviewSchema(many=True))
def overview() -> list[plants.PlantOverview]:
    """List the engineer's plants: gateway health, data completeness, open faults."""
    return plants.current_engineer_overview()
