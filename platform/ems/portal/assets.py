"""The portal's static files: its own CSS and JS, and the front-end libraries from npm.

htmx and ECharts are installed from the npm registry at build time
(``assets/package.json`` and its lock file; ``scripts/bootstrap.sh`` and the
Dockerfile run ``npm ci``) and served from here: the portal never loads a CDN.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, abort, send_from_directory

HERE = Path(__file__).parent
STATIC = HERE / "static"
NODE_MODULES = Path(os.environ.get("EMS_PORTAL_NODE_MODULES", HERE / "assets" / "node_modules"))
# Only these files are served from node_modules, never the folder as a whole.
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "echarts.min.js": "echarts/dist/echarts.min.js",
}
ONE_DAY = 24 * 3600


def missing() -> list[str]:
    """Vendor files that are not installed (``npm ci`` has not run)."""
    return [name for name, rel in VENDOR.items() if not (NODE_MODULES / rel).is_file()]


def install(app: Flask) -> None:
    """Serve ``/static/portal/<file>`` and ``/static/vendor/<file>``."""

    @app.get("/static/portal/<path:filename>")
    def portal_static(filename: str) -> Response:
        return send_from_directory(STATIC, filename, max_age=ONE_DAY)

    @app.get("/static/vendor/<name>")
    def vendor_static(name: str) -> Response:
        rel = VENDOR.get(name)
        if rel is None:
            abort(404)
        path = NODE_MODULES / rel
        return send_from_directory(path.parent, path.name, max_age=ONE_DAY)
