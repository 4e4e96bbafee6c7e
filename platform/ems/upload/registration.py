"""Registration with a platform, its dictionaries, and the enterprise information uploads.

Each step talks to the platform through :class:`ems.upload.client.PlatformClient`
and writes every exchange to ``upload_requests`` (:func:`record`), accepted or
not. What the platform hands out (device id, secret key, access key) is sealed at
rest with the platform secret (:mod:`ems.upload.crypto`).

Dictionaries are downloaded whole (items 1-17) whenever the platform's
``dicVersion`` differs from the one in use, and kept per version; the new version
is put in use only once all 17 items are in, and then every queued row is checked
again against it (:func:`ems.upload.outbox.revalidate`): a row whose code the
platform dropped waits for correction with its reason, it is never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ems.db import utcnow
from ems.meters.models import Meter
from ems.org.models import Unit
from ems.sites.models import Site
from ems.upload import crypto, profiles
from ems.upload.client import Credentials, Exchange, PlatformClient
from ems.upload.models import (
    DictionaryEntry,
    DictionaryVersion,
    RegistrationStatus,
    UploadedSubmission,
    UploadRegistration,
    UploadRequest,
)
from ems_tenants.models import Tenant

DICTIONARY_ITEMS = range(1, 18)

ClientFactory = Callable[[UploadRegistration], PlatformClient]


def record(
    session: Session,
    registration_id: int,
    exchange: Exchange,
    *,
    item_ids: Iterable[int] = (),
    manual: bool = False,
) -> UploadRequest:
    """Write one exchange to the request log."""
    row = UploadRequest(
        registration_id=registration_id,
        at=exchange.at,
        endpoint=exchange.endpoint,
        url=exchange.url[:500],
        manual=manual,
        rows=exchange.rows,
        item_ids=list(item_ids),
        duration_ms=exchange.duration_ms,
        http_status=exchange.http_status,
        outcome=exchange.outcome,
        response_code=exchange.response_code,
        message=exchange.message,
        request_excerpt=exchange.request_excerpt,
        response_excerpt=exchange.response_excerpt,
    )
    session.add(row)
    return row


def _open(secret: str, sealed: bytes | None) -> str | None:
    return None if sealed is None else crypto.unseal(secret, sealed).decode("utf-8")


def credentials(registration: UploadRegistration, secret: str) -> Credentials:
    """The registration's credentials with its secrets unsealed."""
    return Credentials(
        enterprise_code=registration.enterprise_code,
        region_code=registration.region_code,
        device_id=registration.device_id,
        secret_key=_open(secret, registration.secret_key),
        pin=_open(secret, registration.pin),
        access_key=_open(secret, registration.access_key),
        access_key_expires_at=registration.access_key_expires_at,
        client_p12=(
            None
            if registration.client_p12 is None
            else crypto.unseal(secret, registration.client_p12)
        ),
        client_p12_password=(
            None
            if registration.client_p12_password is None
            else crypto.unseal(secret, registration.client_p12_password)
        ),
        server_ca_pem=registration.server_ca_pem,
    )


def client_factory(
    secret: str,
    *,
    timeout: float | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> ClientFactory:
    """Builds the client of a registration (tests shorten the timeout, move the clock)."""

    def build(registration: UploadRegistration) -> PlatformClient:
        return PlatformClient(
            profiles.get(registration.profile),
            registration.base_url,
            credentials(registration, secret),
            registration.urls,
            timeout=timeout,
            clock=clock,
        )

    return build


def keep_exchanges(
    session: Session,
    registration: UploadRegistration,
    client: PlatformClient,
    secret: str,
    *,
    item_ids: Iterable[int] = (),
    manual: bool = False,
) -> list[tuple[Exchange, UploadRequest]]:
    """Log the client's exchanges so far and store an access key it obtained.

    Returns each exchange with its log row, for a caller that finds the answer
    unusable and corrects the outcome (:func:`_mark`).
    """
    done = list(client.exchanges)
    client.exchanges.clear()
    ids = list(item_ids)
    logged = [
        (
            exchange,
            record(
                session,
                registration.id,
                exchange,
                item_ids=ids if exchange.endpoint == "data" else (),
                manual=manual,
            ),
        )
        for exchange in done
    ]
    if client.renewed_access_key is not None:
        key, expires_at = client.renewed_access_key
        registration.access_key = crypto.seal(secret, key.encode("utf-8"))
        registration.access_key_expires_at = expires_at
        client.renewed_access_key = None
    return logged


def _failed(registration: UploadRegistration) -> None:
    """A refused registration: an account already registered keeps its credentials and
    keeps uploading with them (a blip during a re-registration must not stop it)."""
    if registration.status != RegistrationStatus.REGISTERED:
        registration.status = RegistrationStatus.FAILED


def register(
    session: Session,
    registration: UploadRegistration,
    client: PlatformClient,
    secret: str,
    *,
    manual: bool = False,
) -> Exchange:
    """Register the enterprise; store device id, secret key, URLs and batch time."""
    exchange = client.register()
    logged = keep_exchanges(session, registration, client, secret, manual=manual)
    if not exchange.ok:
        _failed(registration)
        return exchange
    body: dict[str, Any] = exchange.body
    profile = profiles.get(registration.profile)
    problems: list[str] = []
    device_id = body.get("deviceId")
    secret_key = body.get("secretKey")
    if not isinstance(device_id, str) or not device_id:
        problems.append("deviceId missing")
    if not isinstance(secret_key, str) or not secret_key:
        problems.append("secretKey missing")
    urls: dict[str, str] = {}
    for role, key in profile.urls.items():
        value = body.get(key)
        if isinstance(value, str) and value:
            urls[role] = value
        elif role in ("data", "version", "dictionary"):
            problems.append(f"{key} missing")
    if problems or not isinstance(device_id, str) or not isinstance(secret_key, str):
        # Accepted by the platform but unusable: say so in the log, keep the old state.
        _mark(logged[-1], "error", "registration answer incomplete: " + ", ".join(problems))
        _failed(registration)
        return exchange
    registration.device_id = device_id
    registration.secret_key = crypto.seal(secret, secret_key.encode("utf-8"))
    registration.urls = urls
    upload_time = body.get("uploadTime")
    registration.upload_time = upload_time if isinstance(upload_time, str) else None
    reg_version = body.get("regVersion")
    registration.reg_version = None if reg_version is None else str(reg_version)
    registration.status = RegistrationStatus.REGISTERED
    registration.registered_at = exchange.at
    # A new secret key invalidates any access key obtained with the old one.
    registration.access_key = None
    registration.access_key_expires_at = None
    return exchange


def _entry(raw: Any, item: int) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(raw, dict):
        return None, f"item {item}: an entry is not an object"
    code, name = raw.get("code"), raw.get("name")
    if not isinstance(code, str) or not code or not isinstance(name, str):
        return None, f"item {item}: an entry lacks code or name"
    precision = raw.get("precision")
    if precision is not None and (
        isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 8
    ):
        return None, f"item {item}, code {code}: precision {precision!r} is not 0..8"
    coefficient: Decimal | None = None
    if raw.get("coefficient") not in (None, ""):
        try:
            coefficient = Decimal(str(raw["coefficient"]))
        except InvalidOperation:
            return None, f"item {item}, code {code}: coefficient is not a number"
    known = {"code", "name", "parent", "unit", "precision", "coefficient"}
    return {
        "code": code[:32],
        "parent": str(raw.get("parent") or "")[:32],
        "name": name[:200],
        "unit": (str(raw["unit"])[:32] if raw.get("unit") else None),
        "precision": precision,
        "coefficient": coefficient,
        "extra": {k: v for k, v in raw.items() if k not in known},
    }, None


def download_dictionaries(
    session: Session,
    registration: UploadRegistration,
    client: PlatformClient,
    secret: str,
    version: str,
    *,
    manual: bool = False,
) -> DictionaryVersion:
    """Download all 17 items as ``version``; put it in use when complete."""
    session.execute(
        delete(DictionaryEntry).where(
            DictionaryEntry.registration_id == registration.id,
            DictionaryEntry.version == version,
        )
    )
    rows: list[dict[str, Any]] = []
    items_done = 0
    for item in DICTIONARY_ITEMS:
        exchange = client.dictionary(item)
        logged = keep_exchanges(session, registration, client, secret, manual=manual)
        if not exchange.ok or not isinstance(exchange.body.get("data"), list):
            if exchange.ok:
                _mark(logged[-1], "error", f"item {item}: the answer has no data list")
            break
        problems: list[str] = []
        seen: set[tuple[str, str]] = set()
        entries = []
        for raw in exchange.body["data"]:
            entry, problem = _entry(raw, item)
            if problem:
                problems.append(problem)
            elif entry is not None and (entry["parent"], entry["code"]) not in seen:
                seen.add((entry["parent"], entry["code"]))
                entries.append(entry)
        if problems:
            _mark(logged[-1], "error", "; ".join(problems[:5]))
            break
        rows.extend({"item": item, **e} for e in entries)
        items_done += 1
    for row in rows:
        session.add(DictionaryEntry(registration_id=registration.id, version=version, **row))
    existing = session.get(DictionaryVersion, (registration.id, version))
    if existing is not None:
        session.delete(existing)
        session.flush()
    complete = items_done == len(DICTIONARY_ITEMS)
    stored = DictionaryVersion(
        registration_id=registration.id,
        version=version,
        downloaded_at=utcnow(),
        items=items_done,
        entries=len(rows),
        complete=complete,
    )
    session.add(stored)
    if complete:
        registration.dic_version = version
        session.flush()
        from ems.upload import outbox  # outbox builds on this module

        outbox.revalidate(session, registration)
    return stored


def _mark(logged: tuple[Exchange, UploadRequest], outcome: str, message: str) -> None:
    """Correct the outcome of an exchange just logged (the answer was unusable)."""
    exchange, row = logged
    exchange.outcome = row.outcome = outcome
    exchange.message = row.message = message


def check_version(
    session: Session,
    registration: UploadRegistration,
    client: PlatformClient,
    secret: str,
    *,
    manual: bool = False,
) -> Exchange:
    """Ask the platform's versions; download the dictionaries when they changed."""
    exchange = client.version()
    keep_exchanges(session, registration, client, secret, manual=manual)
    registration.checked_at = exchange.at
    if not exchange.ok:
        return exchange
    reg_version = exchange.body.get("regVersion")
    dic_version = exchange.body.get("dicVersion")
    if reg_version is not None:
        registration.reg_version = str(reg_version)
    if dic_version is not None and str(dic_version) != registration.dic_version:
        download_dictionaries(session, registration, client, secret, str(dic_version))
    return exchange


def enterprise_information(session: Session, tenant: Tenant) -> dict[str, Any]:
    """The enterprise information upload: registry facts, sites and processes."""
    sites = session.scalars(select(Site).order_by(Site.id)).all()
    units = session.scalars(select(Unit).order_by(Unit.id)).all()
    return {
        "enterpriseName": tenant.name,
        "enterpriseCode": tenant.credit_code,
        "region": tenant.region_code,
        "industryCode": tenant.industry_code,
        "contact": tenant.contact_name,
        "phone": tenant.contact_phone,
        "sites": [{"name": s.name, "address": s.address} for s in sites],
        "units": [
            {
                "name": u.name,
                "kind": u.kind,
                "processCode": u.process_code,
            }
            for u in units
        ],
    }


def meter_ledger(session: Session) -> list[dict[str, Any]]:
    """The meter ledger upload (table A.1 columns, JJF 1051 type codes)."""
    out = []
    for m in session.scalars(select(Meter).order_by(Meter.management_number)):
        out.append(
            {
                "meterName": m.name,
                "meterType": m.type_code,
                "level": m.level,
                "model": m.model,
                "accuracyClass": m.accuracy_class,
                "measuringRange": m.measuring_range,
                "manufacturer": m.manufacturer,
                "managementNumber": m.management_number,
                "location": m.location,
                "energyType": m.energy_type,
                "state": m.state,
                "lastVerified": m.last_verified_on.isoformat() if m.last_verified_on else None,
                "nextDue": m.next_due_on.isoformat() if m.next_due_on else None,
                "verificationBody": m.verification_body,
            }
        )
    return out


def upload_submission(
    session: Session,
    registration: UploadRegistration,
    client: PlatformClient,
    secret: str,
    tenant: Tenant,
    kind: str,
    *,
    manual: bool = False,
) -> Exchange:
    """Upload the enterprise information (``info``) or the meter ledger (``meters``)."""
    payload: Any
    if kind == "info":
        payload = enterprise_information(session, tenant)
        exchange = client.info(payload)
    else:
        payload = meter_ledger(session)
        exchange = client.meters(payload)
    keep_exchanges(session, registration, client, secret, manual=manual)
    if exchange.ok:
        # What regulators may see of it: the copy the platform accepted.
        session.add(
            UploadedSubmission(
                tenant_id=tenant.id,
                profile=registration.profile,
                kind=kind,
                payload=payload,
                accepted_at=exchange.at,
            )
        )
    return exchange
