"""Login, logout, CSRF token, the caller's identity, the token endpoint, JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import marshmallow as ma
from flask import Response, current_app, request, session
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate

from ems.auth.sessions import log_in, tenants_of
from ems.errors import Unauthenticated
from ems.web.pipeline import current_principal
from ems.web.state import state

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Identity and tokens")


class LoginSchema(ma.Schema):
    """Portal credentials."""

    email = ma.fields.Email(required=True, validate=validate.Length(max=254))
    password = ma.fields.String(required=True, load_only=True, validate=validate.Length(max=200))


class TenantAccessSchema(ma.Schema):
    """A tenant the caller may open, and the role held there."""

    slug = ma.fields.String()
    name = ma.fields.String()
    role = ma.fields.String()
    status = ma.fields.String()


class MeSchema(ma.Schema):
    """The authenticated caller."""

    kind = ma.fields.String()
    id = ma.fields.String()
    name = ma.fields.String()
    is_platform_admin = ma.fields.Boolean()
    regulator_region = ma.fields.String(allow_none=True)
    provider_org_id = ma.fields.Integer(allow_none=True)
    tenants = ma.fields.List(ma.fields.Nested(TenantAccessSchema))
    csrf_token = ma.fields.String()


class TokenRequestSchema(ma.Schema):
    """The client-credentials grant (RFC 6749 4.4), form-encoded.

    Only sizes are checked here; a missing or unsupported grant type is left to
    authlib, which answers it in the RFC 6749 5.2 form OAuth clients expect.
    """

    grant_type = ma.fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "client_credentials"},
    )
    scope = ma.fields.String(validate=validate.Length(max=200))
    client_id = ma.fields.String(validate=validate.Length(max=64))
    client_secret = ma.fields.String(validate=validate.Length(max=200))


def _me() -> dict[str, Any]:
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("authentication required")
    return {
        "kind": principal.kind,
        "id": principal.id,
        "name": principal.name,
        "is_platform_admin": principal.is_platform_admin,
        "regulator_region": principal.regulator_region,
        "provider_org_id": principal.provider_org_id,
        "tenants": [access._asdict() for access in tenants_of(principal)],
        "csrf_token": session.get("csrf", ""),
    }


@blp.route("/auth/login")
class Login(MethodView):
    """Portal login."""

    @blp.arguments(LoginSchema)
    @blp.response(200, MeSchema)
    def post(self, data: dict[str, str]) -> dict[str, Any]:
        """Log in with e-mail and password; sets the session cookie and a CSRF token."""
        log_in(data["email"], data["password"])
        return _me()


@blp.route("/auth/logout", methods=["POST"])
@blp.response(204)
def logout() -> None:
    """End the portal session."""
    current_principal()  # checks the CSRF token of a logged-in session
    session.clear()


@blp.route("/me")
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """Who am I, and which tenants can I open (the tenant switcher's list)."""
    return _me()


@blp.route("/oauth/token", methods=["POST"])
@blp.arguments(TokenRequestSchema, location="form")
@blp.response(200)
def token(data: dict[str, str]) -> Response:
    """Issue a JWT access token (client-credentials grant, at most one hour)."""
    if not _basic_auth_well_formed(request.headers.get("Authorization")):
        # authlib raises (a 500) on a malformed Basic header; answer as RFC 6749 5.2 says.
        return Response(
            '{"error": "invalid_client", "error_description": "malformed Authorization header"}',
            status=401,
            mimetype="application/json",
            headers={"WWW-Authenticate": 'Basic realm="ems"'},
        )
    server = current_app.extensions["ems_oauth"]
    response: Response = server.create_token_response()
    return response


def _basic_auth_well_formed(header: str | None) -> bool:
    if header is None:
        return True  # credentials may come in the form body (client_secret_post)
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded


@blp.route("/oauth/jwks.json")
@blp.response(200)
def jwks() -> dict[str, Any]:
    """The public keys that verify access tokens."""
    return state().keys.jwks()
