"""The Flask application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from flask import Flask, Response, send_from_directory
from flask_smorest import Api
from redis import Redis
from werkzeug.exceptions import HTTPException

from ems import __version__, portal
from ems.auth.keys import KeyStore
from ems.auth.oauth import init_oauth
from ems.config import Settings, load_settings
from ems.db import Database
from ems.errors import EmsError
from ems.web import errors, metrics, pipeline
from ems.web.state import AppState

SWAGGER_DIR = Path(str(swagger_ui_bundle.swagger_ui_path))
MAX_BODY_BYTES = 1024 * 1024


class EmsApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, answering and documenting errors in the platform's one format."""

    ERROR_SCHEMA = errors.ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        return errors.handle_http_exception(error)


def _blueprints() -> list[Any]:
    from ems.actuals.api import blp as actuals_blp
    from ems.auth.api import blp as auth_blp
    from ems.energy.api import blp as energy_blp
    from ems.equipment.api import blp as equipment_blp
    from ems.jobs.api import blp as jobs_blp
    from ems.meters.api import blp as meters_blp
    from ems.networks.api import blp as networks_blp
    from ems.org.api import blp as org_blp
    from ems.overview.api import blp as provider_blp
    from ems.personnel.api import blp as personnel_blp
    from ems.regulator.api import blp as regulator_blp
    from ems.reminders.api import blp as reminders_blp
    from ems.sites.api import blp as sites_blp
    from ems.telemetry.api import blp as telemetry_blp
    from ems.telemetry.reconcile_api import blp as reconcile_blp
    from ems.upload.api import blp as upload_blp
    from ems.upload.codes_api import blp as upload_codes_blp
    from ems.upload.stats_api import blp as upload_stats_blp
    from ems.web.health import blp as health_blp
    from ems_tenants.api import admin_blp, signup_blp
    from ems_tenants.gateway_api import blp as gateways_blp
    from ems_tenants.tenant_api import blp as tenant_blp

    return [
        health_blp,
        auth_blp,
        signup_blp,
        admin_blp,
        tenant_blp,
        sites_blp,
        org_blp,
        gateways_blp,
        telemetry_blp,
        reconcile_blp,
        energy_blp,
        actuals_blp,
        meters_blp,
        reminders_blp,
        personnel_blp,
        equipment_blp,
        jobs_blp,
        networks_blp,
        upload_blp,
        upload_stats_blp,
        upload_codes_blp,
        regulator_blp,
        provider_blp,
    ]


def create_app(settings: Settings | None = None, db: Database | None = None) -> Flask:
    """Build the API app; ``settings`` and ``db`` default to the environment's."""
    settings = settings or load_settings()
    if not settings.secret_key:
        raise EmsError("EMS_SECRET_KEY is not set; the session and key encryption need it")
    db = db or Database(settings.database_url)
    # Static files are the portal's own routes (ems.portal.assets), not Flask's default.
    app = Flask("ems", template_folder="portal/templates", static_folder=None)
    # Chinese names stay readable in answers and logs instead of \u escapes.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="ems_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=settings.session_ttl,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        API_TITLE="EMS API",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/api/v1/swagger-ui/",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Multi-tenant energy management platform for key energy-using "
                "units. Errors: {error: {code, message, fields, request_id}}. Portal users "
                "authenticate with the session cookie (writes echo X-CSRF-Token); integrations "
                "with a bearer JWT from /api/v1/oauth/token."
            },
            "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        },
        OAUTH2_TOKEN_EXPIRES_IN={"client_credentials": settings.access_token_ttl},
    )
    keys = KeyStore(db, settings.secret_key)
    app.extensions["ems"] = AppState(
        settings=settings, db=db, keys=keys, redis=Redis.from_url(settings.redis_url)
    )
    pipeline.register(app)
    errors.register(app)
    api = EmsApi(app)
    app.extensions["ems_api"] = api
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme(
        "sessionCookie", {"type": "apiKey", "in": "cookie", "name": "ems_session"}
    )
    for blp in _blueprints():
        api.register_blueprint(blp)
    init_oauth(app, db, keys, settings)
    metrics.register(app)
    portal.register(app)

    @app.get("/api/v1/swagger-ui/<path:filename>")
    def swagger_assets(filename: str) -> Response:
        # Served from the installed swagger-ui-bundle: the docs work offline, no CDN.
        return send_from_directory(SWAGGER_DIR, filename)

    logging.getLogger("ems").setLevel(logging.INFO)
    return app
