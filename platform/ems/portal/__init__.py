"""The web portal: server-rendered pages (Jinja), htmx for partial updates, ECharts for charts.

Enterprises, service providers' engineers, regulators and platform administrators
work here. Pages call the same services as the REST API and are bound to their
tenant by the same rules (``/t/<slug>/...``, membership checked, 404 for a tenant
that is not the caller's). See decision 0021.
"""

from __future__ import annotations

import importlib

from flask import Blueprint, Flask
from werkzeug.routing import BaseConverter

from ems.portal import assets, errors, layout


class RowId(BaseConverter):
    """``<id:name>``: a row id in a page URL. Any run of digits matches, so that a GET and a
    POST of the same URL agree; one past PostgreSQL's integer becomes 0, which no row has
    (a 404 from the lookup, never a 405 or an out-of-range query)."""

    regex = r"\d{1,30}"

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_ROW_ID else 0

    def to_url(self, value: object) -> str:
        return str(value)


MAX_ROW_ID = 2**31 - 1


def register(app: Flask) -> None:
    """Install the portal's pages, templates, translations and assets on ``app``."""
    app.url_map.converters["id"] = RowId
    from ems.portal.admin_views import blp as admin_blp
    from ems.portal.dashboard import blp as dashboard_blp
    from ems.portal.views import blp as public_blp

    layout.install(app)
    assets.install(app)
    errors.install(app)
    for blp in (public_blp, admin_blp, dashboard_blp, *_feature_blueprints()):
        app.register_blueprint(blp)


# Each feature keeps its pages in its own ``pages.py`` (a blueprint named ``blp``), beside
# its ``api.py``, and its templates under ``portal/templates/<feature>/``.
FEATURE_PAGES = (
    "ems.meters.pages",
    "ems.personnel.pages",
    "ems.equipment.pages",
    "ems.jobs.pages",
    "ems.actuals.pages",
    "ems.networks.pages",
    "ems.telemetry.pages",
    "ems.upload.pages",
    "ems.members.pages",
    "ems.overview.pages",
    "ems.regulator.pages",
)


def _feature_blueprints() -> list[Blueprint]:
    blueprints = []
    for name in FEATURE_PAGES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is None or not (name + ".").startswith(error.name + "."):
                raise  # a broken import inside an existing page module is a bug
            continue  # that feature has no pages yet
        blueprints.append(module.blp)
    return blueprints
