"""OAuth 2 token endpoint (client-credentials grant) issuing RFC 9068 JWTs.

authlib does the protocol (client authentication, grant and scope checks,
error answers); this module tells it where clients live and which key signs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask
from joserfc.jwk import KeySet
from sqlalchemy import select

from ems.auth.keys import KeyStore
from ems.auth.passwords import verify_password
from ems.config import Settings
from ems.db import Database
from ems_tenants.models import OAuthClient, Tenant, TenantStatus


class RegisteredClient(ClientMixin):  # type: ignore[misc]
    """authlib's view of an ``OAuthClient`` row."""

    def __init__(self, row: OAuthClient, tenant_slug: str) -> None:
        self.row = row
        self.tenant_slug = tenant_slug

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.row.scopes.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_password(self.row.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """The client-credentials grant, with the secret in Basic auth or the form body."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]


class TokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    """Signs access tokens with the newest key; audience and tenant from settings and client."""

    def __init__(self, keys: KeyStore, settings: Settings) -> None:
        super().__init__(
            issuer=settings.issuer,
            expires_generator=lambda client, grant_type: settings.access_token_ttl,
        )
        self._keys = keys
        self._audience = settings.audience

    def get_jwks(self) -> Any:
        # A key set (not a bare key) so that joserfc writes the key id into the header.
        return KeySet([self._keys.signing_key()])

    def get_audiences(self, client: Any, user: Any, scope: Any) -> str:
        return self._audience

    def get_extra_claims(
        self, client: Any, grant_type: Any, user: Any, scope: Any
    ) -> dict[str, Any]:
        return {"tenant": client.tenant_slug}


def init_oauth(app: Flask, db: Database, keys: KeyStore, settings: Settings) -> AuthorizationServer:
    """Create the authorization server of ``app``."""

    def query_client(client_id: str) -> RegisteredClient | None:
        with db.session() as session:
            row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
            if row is None or row.revoked_at is not None:
                return None
            tenant = session.get(Tenant, row.tenant_id)
            if tenant is None or tenant.status != TenantStatus.ACTIVE:
                return None
            return RegisteredClient(row, tenant.slug)

    def save_token(token: dict[str, Any], request: Any) -> None:
        # JWTs are self-contained; nothing to store.
        return None

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(ClientCredentialsGrant)
    server.register_token_generator("default", TokenGenerator(keys, settings))
    app.extensions["ems_oauth"] = server
    return server
