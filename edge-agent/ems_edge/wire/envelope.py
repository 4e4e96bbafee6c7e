"""The signed JSON envelope of every payload but readings, and typed access to its fields.

A payload is the canonical JSON (sorted keys, separators ``,`` and ``:``, UTF-8
without escaping, no NaN) of ``{"body": {...}, "sig": "<base64>"}``; ``sig`` is the
standard base64 (with padding) of the Ed25519 signature of the canonical JSON of
``body``. Every body carries ``"v": 1`` and its ``"type"``, so a signed body of
one kind cannot be passed off as another.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ems_edge.wire.common import U64, WireError

MAX_JSON_BYTES = 4 * 1024 * 1024
ENVELOPE_VERSION = 1


def canonical_json(value: Any) -> bytes:
    """The signed form of a JSON value: sorted keys, no spaces, UTF-8, no NaN."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise WireError(f"cannot encode as JSON: {exc}") from exc


def seal(body: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Wrap ``body`` in the signed envelope ``{"body": ..., "sig": base64}``."""
    signature = base64.b64encode(key.sign(canonical_json(body))).decode("ascii")
    return canonical_json({"body": body, "sig": signature})


def unseal(payload: bytes, public_key: Ed25519PublicKey, kind: str) -> dict[str, Any]:
    """The verified body of an envelope, whose version must be 1 and type ``kind``."""
    envelope = parse_json(payload)
    if not isinstance(envelope, dict) or set(envelope) != {"body", "sig"}:
        raise WireError(f'{kind}: expected an envelope {{"body": {{...}}, "sig": "..."}}')
    body, sig = envelope["body"], envelope["sig"]
    if not isinstance(body, dict) or not isinstance(sig, str):
        raise WireError(f"{kind}: the envelope's body must be an object and sig a string")
    try:
        signature = base64.b64decode(sig, validate=True)
        public_key.verify(signature, canonical_json(body))
    except (ValueError, InvalidSignature):
        raise WireError(f"{kind}: bad signature (tampered, or not this key)") from None
    # Only the one encoding seal() produces is accepted: no second spelling of a signed
    # message (spare base64 bits, escapes, key order) can pass as the same message.
    canonical_sig = base64.b64encode(signature).decode("ascii")
    if sig != canonical_sig or canonical_json(envelope) != bytes(payload):
        raise WireError(f"{kind}: the envelope is not in canonical form")
    version = body.get("v")
    if type(version) is not int or version != ENVELOPE_VERSION:
        raise WireError(f"{kind}.v: unsupported version {version!r:.40}")
    if body.get("type") != kind:
        raise WireError(f"{kind}.type: expected {kind!r}, got {body.get('type')!r:.40}")
    return body


def parse_json(payload: bytes) -> Any:
    """Strict JSON: UTF-8, bounded size, no repeated keys, no NaN or Infinity."""
    if len(payload) > MAX_JSON_BYTES:
        raise WireError(f"JSON payload of {len(payload)} bytes exceeds {MAX_JSON_BYTES}")
    try:
        text = bytes(payload).decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"not valid JSON: {exc}") from exc


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise WireError("JSON object repeats a key")
    return result


def _no_constant(name: str) -> Any:
    raise WireError(f"JSON constant {name} is not allowed")


def body_of(kind: str, **fields: Any) -> dict[str, Any]:
    """A body of type ``kind`` with the envelope's version."""
    return {"v": ENVELOPE_VERSION, "type": kind, **fields}


def seal_checked(
    body: dict[str, Any], parse: Callable[[dict[str, Any]], object], key: Ed25519PrivateKey
) -> bytes:
    """Seal ``body`` once ``parse`` (the decoder's check) accepts it: nothing invalid is sent."""
    parse(body)
    return seal(body, key)


class Fields:
    """Typed access to one JSON object's fields, with errors naming the field's path.

    Optional fields may be absent or null; unknown fields are ignored, so a newer
    sender may add optional fields without a new version.
    """

    def __init__(self, obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            raise WireError(f"{where}: expected an object")
        self.obj: dict[str, Any] = obj
        self.where = where

    def get(self, key: str, kind: type, what: str, optional: bool = False) -> Any:
        """The field's value if it is of ``kind`` (a bool is not an int here)."""
        value = self.obj.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            missing = "missing" if key not in self.obj else f"got {value!r:.60}"
            raise WireError(f"{self.where}.{key}: expected {what}, {missing}")
        return value

    def integer(self, key: str, high: int = U64, optional: bool = False) -> Any:
        """A non-negative integer up to ``high``."""
        value = self.get(key, int, "an integer", optional)
        if value is not None and not 0 <= value <= high:
            raise WireError(f"{self.where}.{key}: {value} is outside 0..{high}")
        return value

    def text(self, key: str, pattern: re.Pattern[str] | None = None, optional: bool = False) -> Any:
        """A string, matching ``pattern`` when one is given."""
        value = self.get(key, str, "a string", optional)
        if value is not None and pattern is not None and not pattern.fullmatch(value):
            raise WireError(f"{self.where}.{key}: {value!r:.60} does not match {pattern.pattern}")
        return value

    def mapping(self, key: str, optional: bool = False) -> Any:
        """A JSON object."""
        return self.get(key, dict, "an object", optional)

    def items(self, key: str) -> list[Any]:
        """A JSON list."""
        value: list[Any] = self.get(key, list, "a list")
        return value
