"""The provider engineer's pages: a cross-tenant overview of the plants they operate.

Not bound to one tenant: the rows are the engineer's memberships, each read in
its own schema by the same service as ``GET /api/v1/provider/overview``. A
tenant is opened from here (or from the switcher) through its own pages, which
check the membership again.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ems.overview import plants
from ems.portal.i18n import mark
from ems.portal.web import page

blp = Blueprint("provider_pages", __name__, url_prefix="/provider")
MESSAGES = (mark("service providers' engineers only"),)  # the 403 page shows it translated


@blp.get("/")
def overview() -> Any:
    """Every plant of the engineer: gateway health, data completeness, open faults."""
    rows = plants.current_engineer_overview()
    totals = {
        "gateways": sum(len(row.health.gateways) for row in rows),
        "online": sum(row.health.gateways_online for row in rows),
        "faults": sum(row.health.open_faults for row in rows),
    }
    return page("provider/overview.html", plants=rows, totals=totals)
