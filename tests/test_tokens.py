"""OAuth 2 client credentials: JWT access tokens, and every way a token can be wrong."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import assert_error


@pytest.fixture(scope="module")
def integration(app: Any, world: Any) -> dict[str, str]:
    c = app.test_client()
    me = c.post(
        "/api/v1/auth/login",
        json={"email": world.users["alice"], "password": "correct-horse-battery"},
    )
    made = c.post(
        "/api/v1/tenants/alpha-works/api-clients",
        json={"name": "碳交易所 Carbon exchange", "scopes": ["tenant:read"]},
        headers={"X-CSRF-Token": me.get_json()["csrf_token"]},
    )
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def get_token(app: Any, client_id: str, secret: str, **extra: str) -> Any:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return app.test_client().post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials", **extra},
        headers={"Authorization": f"Basic {basic}"},
    )


def bearer(app: Any, token: str, url: str = "/api/v1/tenants/alpha-works/sites") -> Any:
    return app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})


def test_client_credentials_issue_a_short_lived_jwt(
    app: Any, settings: Any, integration: Any
) -> None:
    r = get_token(app, integration["client_id"], integration["client_secret"])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["token_type"].lower() == "bearer"
    assert 0 < body["expires_in"] <= 3600
    claims = jwt.decode(body["access_token"], app.extensions["ems"].keys.public_keys()).claims
    assert claims["aud"] == settings.audience
    assert claims["iss"] == settings.issuer
    assert claims["exp"] - claims["iat"] <= 3600
    assert claims["tenant"] == "alpha-works"
    assert bearer(app, body["access_token"]).status_code == 200


def test_jwks_publishes_the_verifying_key(app: Any, integration: Any) -> None:
    keys = app.test_client().get("/api/v1/oauth/jwks.json").get_json()["keys"]
    assert keys and all("d" not in k for k in keys), "private material in the JWKS"
    token = get_token(app, integration["client_id"], integration["client_secret"]).get_json()[
        "access_token"
    ]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] in {k["kid"] for k in keys}


def test_scopes_limit_what_a_client_may_do(app: Any, integration: Any) -> None:
    token = get_token(app, integration["client_id"], integration["client_secret"]).get_json()[
        "access_token"
    ]
    r = app.test_client().post(
        "/api/v1/tenants/alpha-works/sites",
        json={"code": "T1", "name": "t"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_error(r, 403, "forbidden")
    assert_error(bearer(app, token, "/api/v1/tenants/beta-works/sites"), 404)


def test_wrong_secret_is_refused(app: Any, integration: Any) -> None:
    r = get_token(app, integration["client_id"], "wrong-secret")
    assert r.status_code == 401
    assert r.get_json()["error"] == "invalid_client"


def _sign(
    app: Any, claims: dict[str, Any], key: Any = None, header: dict[str, Any] | None = None
) -> str:
    key = key or app.extensions["ems"].keys.signing_key()
    return jwt.encode(header or {"alg": "RS256", "typ": "at+jwt", "kid": key.kid}, claims, key)


def _claims(settings: Any, integration: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": integration["client_id"],
        "client_id": integration["client_id"],
        "scope": "tenant:read",
        "iat": now,
        "exp": now + 600,
        "jti": "x",
    }
    claims.update(changes)
    return claims


def test_a_token_we_sign_ourselves_is_accepted(app: Any, settings: Any, integration: Any) -> None:
    # The control for the refusals below: the same construction, unchanged, works.
    assert bearer(app, _sign(app, _claims(settings, integration))).status_code == 200


def test_expired_token(app: Any, settings: Any, integration: Any) -> None:
    now = int(time.time())
    token = _sign(app, _claims(settings, integration, iat=now - 7200, exp=now - 3600))
    assert_error(bearer(app, token), 401, "unauthenticated")


def test_wrong_audience(app: Any, settings: Any, integration: Any) -> None:
    assert_error(bearer(app, _sign(app, _claims(settings, integration, aud="another-api"))), 401)


def test_wrong_issuer(app: Any, settings: Any, integration: Any) -> None:
    assert_error(
        bearer(app, _sign(app, _claims(settings, integration, iss="https://evil.example"))), 401
    )


def test_wrong_signature(app: Any, settings: Any, integration: Any) -> None:
    real_kid = app.extensions["ems"].keys.signing_key().kid
    impostor = RSAKey.generate_key(2048, {"kid": real_kid})
    token = _sign(app, _claims(settings, integration), key=impostor)
    assert_error(bearer(app, token), 401)


def test_tampered_claims(app: Any, settings: Any, integration: Any) -> None:
    token = _sign(app, _claims(settings, integration))
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "tenant:read config:write"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_error(bearer(app, f"{head}.{forged}.{sig}"), 401)


def test_alg_none(app: Any, settings: Any, integration: Any) -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64(_claims(settings, integration))}."
    assert_error(bearer(app, token), 401)


def test_hmac_with_public_key(app: Any, settings: Any, integration: Any) -> None:
    from joserfc.jwk import OctKey

    public = json.dumps(app.test_client().get("/api/v1/oauth/jwks.json").get_json()["keys"][0])
    key = OctKey.import_key(public.encode())
    token = jwt.encode({"alg": "HS256", "typ": "at+jwt"}, _claims(settings, integration), key)
    assert_error(bearer(app, token), 401)


def test_garbage_and_wrong_scheme(app: Any) -> None:
    assert_error(bearer(app, "not-a-jwt"), 401)
    r = app.test_client().get("/api/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert_error(r, 401)


def test_revoked_client_loses_access_at_once(app: Any, world: Any, client_for: Any) -> None:
    alice = client_for("alice")
    made = alice.post(
        "/api/v1/tenants/alpha-works/api-clients", json={"name": "temp", "scopes": ["tenant:read"]}
    ).get_json()
    token = get_token(app, made["client_id"], made["client_secret"]).get_json()["access_token"]
    assert bearer(app, token).status_code == 200
    assert (
        alice.delete(f"/api/v1/tenants/alpha-works/api-clients/{made['client_id']}").status_code
        == 204
    )
    assert_error(bearer(app, token), 401)
    assert get_token(app, made["client_id"], made["client_secret"]).status_code == 401


def test_unknown_scope_cannot_be_granted(client_for: Any) -> None:
    alice = client_for("alice")
    error = assert_error(
        alice.post(
            "/api/v1/tenants/alpha-works/api-clients", json={"name": "x", "scopes": ["admin"]}
        ),
        422,
    )
    assert "scopes" in error["fields"]


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic !!!notbase64", "Bearer x", "Basic " + base64.b64encode(b"nocolon").decode()],
)
def test_malformed_basic_header_is_invalid_client(app: Any, header: str) -> None:
    r = app.test_client().post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": header},
    )
    assert r.status_code == 401
    assert r.get_json()["error"] == "invalid_client"


def test_unsupported_grant_type_answers_in_oauth_form(app: Any, integration: Any) -> None:
    r = get_token(
        app, integration["client_id"], integration["client_secret"], grant_type="password"
    )
    assert r.status_code == 400
    assert r.get_json()["error"] == "unsupported_grant_type"
