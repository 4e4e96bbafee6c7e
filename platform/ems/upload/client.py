"""The HTTP client of one monitoring platform, speaking one profile's variant.

Every request becomes an :class:`Exchange`: what was asked (secrets removed), the
answer, its duration and an outcome, whether or not the platform answered. The
caller writes them to ``upload_requests`` (:func:`ems.upload.log.record`), so
the log holds every attempt, also those that timed out.

Outcomes: ``accepted`` (the profile's success code), ``refused`` (the platform
answered with another code), ``error`` (5xx or an answer that is not the
protocol's JSON), ``timeout``, ``unreachable`` (connection or TLS failure).
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ems.db import utcnow
from ems.upload import adapters, crypto
from ems.upload.profiles import Profile

EXCERPT_CHARS = 2000
_SECRET_KEYS = frozenset({"secretKey", "password", "accessKey", "pin"})


@dataclass(frozen=True)
class Credentials:
    """What the client needs to speak for one enterprise (secrets already unsealed)."""

    enterprise_code: str
    region_code: str
    device_id: str | None = None
    secret_key: str | None = None
    pin: str | None = None
    access_key: str | None = None
    access_key_expires_at: datetime | None = None
    client_p12: bytes | None = None
    client_p12_password: bytes | None = None
    server_ca_pem: str | None = None


@dataclass
class Exchange:
    """One request and its answer."""

    endpoint: str
    url: str
    at: datetime
    duration_ms: int
    outcome: str
    http_status: int | None = None
    response_code: str | None = None
    message: str | None = None
    body: Any = None
    request_excerpt: str | None = None
    response_excerpt: str | None = None
    rows: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "accepted"


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in _SECRET_KEYS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        head = [_redact(v) for v in value[:3]]
        return [*head, f"... {len(value) - 3} more"] if len(value) > 3 else head
    return value


def excerpt(value: Any) -> str:
    """A short, secret-free rendering of a request or answer for the log."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(_redact(value), ensure_ascii=False, default=_json_default)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


class PlatformClient:
    """Talks to one platform for one enterprise; collects :attr:`exchanges`.

    ``urls`` are the service URLs registration returned (by role: version, data,
    info, meters, dictionary). An access key obtained on the way (bearer profiles)
    is left in :attr:`renewed_access_key` for the caller to store.
    """

    def __init__(
        self,
        profile: Profile,
        base_url: str,
        credentials: Credentials,
        urls: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
        clock: Callable[[], datetime] = utcnow,
        http: requests.Session | None = None,
    ) -> None:
        self.profile = profile
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.urls = dict(urls or {})
        self.timeout = timeout if timeout is not None else profile.timeout_seconds
        self.clock = clock
        self.exchanges: list[Exchange] = []
        self.renewed_access_key: tuple[str, datetime] | None = None
        self._access_key = credentials.access_key
        self._access_key_expires_at = credentials.access_key_expires_at
        self._http = http or requests.Session()
        self._owns_http = http is None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._cert: tuple[str, str] | None = None
        self._verify: bool | str = True
        self._prepare_tls()

    # --- TLS -------------------------------------------------------------------------

    def _tmpdir(self) -> Path:
        if self._tmp is None:
            # Private files for the lifetime of the client: requests takes paths only.
            self._tmp = tempfile.TemporaryDirectory(prefix="ems-upload-")
        return Path(self._tmp.name)

    def _prepare_tls(self) -> None:
        creds = self.credentials
        if creds.server_ca_pem:
            path = self._tmpdir() / "ca.pem"
            path.write_text(creds.server_ca_pem, encoding="ascii")
            self._verify = str(path)
        if self.profile.auth != "mtls":
            return
        if creds.client_p12 is None:
            raise crypto.CipherError("this platform needs a client certificate (PKCS#12)")
        try:
            key, cert, chain = pkcs12.load_key_and_certificates(
                creds.client_p12, creds.client_p12_password or None
            )
        except ValueError as exc:
            raise crypto.CipherError(
                "the client certificate cannot be opened (wrong password?)"
            ) from exc
        if key is None or cert is None:
            raise crypto.CipherError("the PKCS#12 file holds no key and certificate")
        cert_path = self._tmpdir() / "client.pem"
        key_path = self._tmpdir() / "client.key"
        pem = cert.public_bytes(serialization.Encoding.PEM) + b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in chain
        )
        cert_path.write_bytes(pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self._cert = (str(cert_path), str(key_path))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the protocol ----------------------------------------------------------------

    def register(self) -> Exchange:
        body = {
            "enterpriseCode": self.credentials.enterprise_code,
            "region": self.credentials.region_code,
        }
        return self._post("register", self.base_url + self.profile.register_path, body, auth=False)

    def version(self) -> Exchange:
        return self._post("version", self._url("version"), {"deviceId": self._device()})

    def dictionary(self, item: int) -> Exchange:
        body = {"deviceId": self._device(), "item": item}
        return self._post("dictionary", self._url("dictionary"), body)

    def info(self, data: Mapping[str, Any]) -> Exchange:
        return self._post("info", self._url("info"), self._envelope(dict(data)))

    def meters(self, rows: list[dict[str, Any]]) -> Exchange:
        return self._post("meters", self._url("meters"), self._envelope(rows), rows=len(rows))

    def data(self, rows: list[dict[str, Any]]) -> Exchange:
        """Upload data rows (already in wire form: code formatted, validity encoded)."""
        wire = [self._encrypt_row(row) for row in rows]
        return self._post("data", self._url("data"), self._envelope(wire), rows=len(rows))

    # --- pieces ----------------------------------------------------------------------

    def _device(self) -> str:
        if not self.credentials.device_id:
            raise crypto.CipherError("not registered: no device id yet")
        return self.credentials.device_id

    def _url(self, role: str) -> str:
        url = self.urls.get(role)
        if not url:
            raise crypto.CipherError(f"the platform gave no {role} URL at registration")
        return url

    def _envelope(self, data: Any) -> dict[str, Any]:
        return {
            "deviceId": self._device(),
            "enterpriseCode": self.credentials.enterprise_code,
            "data": data,
        }

    def _encrypt_row(self, row: dict[str, Any]) -> dict[str, Any]:
        kind = self.profile.field_encryption
        if kind == "none":
            return row
        key = crypto.field_key(self.credentials.secret_key or "")
        return {k: crypto.encrypt_field(kind, key, _plain(v)) for k, v in row.items()}

    def _access_key_header(self) -> dict[str, str]:
        if self.profile.auth != "bearer":
            return {}
        bearer = self.profile.bearer
        assert bearer is not None  # noqa: S101 - parse() guarantees it for bearer profiles
        renew_at = (
            self._access_key_expires_at - timedelta(seconds=bearer.renew_before_seconds)
            if self._access_key_expires_at
            else None
        )
        due = self._access_key is None or renew_at is None or self.clock() >= renew_at
        if due and not self._request_access_key():
            return {}
        return {"Authorization": f"Bearer {self._access_key}"}

    def _request_access_key(self) -> bool:
        """Obtain an access key (Yunnan style); False when the platform refused."""
        bearer = self.profile.bearer
        assert bearer is not None  # noqa: S101
        creds = self.credentials
        try:
            body = adapters.get(self.profile.adapter).access_key_body(
                creds.enterprise_code, self._device(), creds.secret_key or "", creds.pin or ""
            )
        except crypto.CipherError as exc:
            self.exchanges.append(
                Exchange(
                    endpoint="access_key",
                    url=self.base_url + bearer.access_key_path,
                    at=self.clock(),
                    duration_ms=0,
                    outcome="invalid",
                    message=str(exc),
                )
            )
            return False
        exchange = self._post(
            "access_key", self.base_url + bearer.access_key_path, body, auth=False
        )
        if not exchange.ok or not isinstance(exchange.body, dict):
            return False
        key = exchange.body.get("accessKey")
        expires_in = exchange.body.get("expiresIn")
        if not isinstance(key, str) or not isinstance(expires_in, int):
            exchange.outcome = "error"
            exchange.message = "the access key answer lacks accessKey or expiresIn"
            return False
        self._access_key = key
        self._access_key_expires_at = self.clock() + timedelta(seconds=expires_in)
        self.renewed_access_key = (key, self._access_key_expires_at)
        return True

    def _post(
        self,
        endpoint: str,
        url: str,
        body: dict[str, Any],
        *,
        auth: bool = True,
        rows: int = 0,
        retried: bool = False,
    ) -> Exchange:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if auth:
            headers.update(self._access_key_header())
        payload = json.dumps(body, ensure_ascii=False, default=_json_default).encode("utf-8")
        if self.profile.compression == "gzip":
            payload = gzip.compress(payload)
            headers["Content-Encoding"] = "gzip"
        at = self.clock()
        started = time.perf_counter()
        exchange = Exchange(
            endpoint=endpoint,
            url=url,
            at=at,
            duration_ms=0,
            outcome="error",
            request_excerpt=excerpt(body),
            rows=rows,
        )
        try:
            response = self._http.post(
                url,
                data=payload,
                headers=headers,
                timeout=self.timeout,
                cert=self._cert,
                verify=self._verify,
            )
        except requests.Timeout:
            exchange.outcome = "timeout"
            exchange.message = f"no answer within {self.timeout:g} s"
        except requests.RequestException as exc:
            exchange.outcome = "unreachable"
            exchange.message = f"{type(exc).__name__}: {exc}"[:500]
        else:
            self._read(exchange, response)
        exchange.duration_ms = round((time.perf_counter() - started) * 1000)
        self.exchanges.append(exchange)
        if exchange.http_status == 401 and auth and self.profile.auth == "bearer" and not retried:
            # The access key expired or was revoked early: renew once and try again.
            self._access_key = None
            return self._post(endpoint, url, body, auth=auth, rows=rows, retried=True)
        return exchange

    def _read(self, exchange: Exchange, response: requests.Response) -> None:
        exchange.http_status = response.status_code
        text = response.text
        exchange.response_excerpt = excerpt(text)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            exchange.outcome = "error"
            exchange.message = f"HTTP {response.status_code}: the answer is not the protocol's JSON"
            return
        exchange.body = answer
        exchange.response_excerpt = excerpt(answer)
        code = answer.get("responseCode")
        exchange.response_code = None if code is None else str(code)
        exchange.message = answer.get("responseMessage") or None
        if response.status_code >= 500:
            exchange.outcome = "error"
        elif response.status_code >= 400 or exchange.response_code != self.profile.success_code:
            # A 4xx is never success, whatever its body says.
            exchange.outcome = "refused"
            if exchange.message is None:
                exchange.message = f"HTTP {response.status_code}, responseCode {code!r}"
        else:
            exchange.outcome = "accepted"


def _plain(value: Any) -> str:
    """A field value as text before encryption: numbers in plain decimal notation."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        # Plain notation without trailing zeros: 11.25000000 -> "11.25", 9.6E+2 -> "960".
        return format(value.normalize(), "f")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # A JSON number with no more decimals than the value has: whole values as
        # integers (a float would print "10.0", one decimal too many for precision 0),
        # others as floats, which print the shortest decimal that round-trips.
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")
