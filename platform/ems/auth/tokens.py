"""Validation of JWT access tokens (RFC 9068 profile) presented as bearer tokens.

Only RS256 is accepted, so ``alg: none`` and HMAC tokens signed with the public
key are refused before any claim is read.
"""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from ems.errors import Unauthenticated

ALGORITHMS = ["RS256"]
LEEWAY_SECONDS = 30


def verify_access_token(token: str, keys: KeySet, *, issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a valid token; ``Unauthenticated`` naming the reason otherwise."""
    try:
        decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise Unauthenticated(f"access token rejected: {type(exc).__name__}") from exc
    if decoded.header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise Unauthenticated("access token rejected: not an access token (typ)")
    registry = JWTClaimsRegistry(
        now=int(time.time()),
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
        client_id={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as exc:
        raise Unauthenticated(f"access token rejected: {exc.error}") from exc
    return dict(decoded.claims)
