"""The RSA keys that sign access tokens, kept in the control schema.

Every API process signs with the newest active key and accepts any key not yet
retired, so a rotation (``ems keys rotate``) never invalidates live tokens
before they expire. The private half is encrypted at rest with the platform
secret.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.db import Database, utcnow
from ems_tenants.models import SigningKey

_CACHE_SECONDS = 60


def create_signing_key(session: Session, secret: str) -> SigningKey:
    """Generate and store a new RSA-2048 signing key (does not commit)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_hex(8)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret.encode()),
    )
    public = RSAKey.import_key(private.public_key(), {"kid": kid, "use": "sig", "alg": "RS256"})
    key = SigningKey(kid=kid, private_pem=pem, public_jwk=public.as_dict(private=False))
    session.add(key)
    return key


def retire_signing_key(session: Session, kid: str) -> None:
    """Stop accepting tokens signed by ``kid`` (does not commit)."""
    key = session.get(SigningKey, kid)
    if key is not None and key.retired_at is None:
        key.retired_at = utcnow()


class KeyStore:
    """A per-process cache of the signing keys, refreshed every minute."""

    def __init__(self, db: Database, secret: str) -> None:
        self._db = db
        self._secret = secret
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._signing: RSAKey | None = None
        self._public = KeySet([])

    def _load(self) -> None:
        # Its own transaction: a request's session must never be committed from here.
        with self._db.transaction() as session:
            rows = list(
                session.scalars(
                    select(SigningKey)
                    .where(SigningKey.retired_at.is_(None))
                    .order_by(SigningKey.created_at.desc())
                )
            )
            if not rows:
                rows = [create_signing_key(session, self._secret)]
        newest = rows[0]
        private = serialization.load_pem_private_key(newest.private_pem, self._secret.encode())
        self._signing = RSAKey.import_key(
            private,  # type: ignore[arg-type]
            {"kid": newest.kid, "use": "sig", "alg": "RS256"},
        )
        self._public = KeySet([RSAKey.import_key(row.public_jwk) for row in rows])
        self._loaded_at = time.monotonic()

    def _fresh(self) -> None:
        with self._lock:
            if self._signing is None or time.monotonic() - self._loaded_at > _CACHE_SECONDS:
                self._load()

    def signing_key(self) -> RSAKey:
        """The private key new tokens are signed with."""
        self._fresh()
        assert self._signing is not None  # noqa: S101 - set by _fresh
        return self._signing

    def public_keys(self) -> KeySet:
        """Every key a token may be verified with."""
        self._fresh()
        return self._public

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document."""
        return dict(self.public_keys().as_dict(private=False))

    def invalidate(self) -> None:
        """Forget the cache (after a rotation)."""
        with self._lock:
            self._signing = None
