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
    health = [row.health for row in rows if row.health is not None]  # suspended ones: none
    totals = {
        "gateways": sum(len(h.gateways) for h in health),
        "online": sum(h.gateways_online for h in health),
        "faults": sum(h.open_faults for h in health),
    }
    return page("provider/overview.html", plants=rows, totals=totals)
