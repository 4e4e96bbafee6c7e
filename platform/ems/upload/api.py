"""Upload API: ``/api/v1/tenants/<slug>/upload/...``: profiles, registrations, manual upload.

Actions that talk to the platform (register, version check, information upload,
manual upload) answer 200 with the outcome even when the platform refused or did
not answer: the request log row must be committed either way, and the platform's
"no" is a fact to show, not an error of this API.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import validate
from sqlalchemy import func, select

from ems.auth.permissions import Permission
from ems.db import utcnow
from ems.errors import Conflict, InvalidInput, NotFound
from ems.upload import crypto, outbox, profiles, registration, service
from ems.upload.client import Exchange, PlatformClient
from ems.upload.models import (
    DictionaryEntry,
    DictionaryVersion,
    ItemStatus,
    RegistrationStatus,
    StatType,
    UploadItem,
    UploadRegistration,
    UploadRequest,
)
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.state import state
from ems.web.tenancy import bound_tenant, bound_tenant_row, requires, tenant_blueprint
from ems_tenants import validation

blp = tenant_blueprint(
    "upload", __name__, description="Upload to provincial monitoring platforms (DB53/T 1026 §4.11)"
)


class ProfileSchema(ma.Schema):
    """A shipped province profile."""

    code = ma.fields.String()
    name = ma.fields.String()
    name_en = ma.fields.String()
    auth = ma.fields.String()
    field_encryption = ma.fields.String()
    compression = ma.fields.String()
    code_format = ma.fields.String()
    valid_encoding = ma.fields.String()
    success_code = ma.fields.String()
    realtime_minutes = ma.fields.Integer()
    batch_size = ma.fields.Integer()


def _profile_code(value: str) -> None:
    if value not in profiles.all_profiles():
        raise ma.ValidationError(
            f"unknown profile; shipped: {', '.join(sorted(profiles.all_profiles()))}"
        )


def _url(value: str) -> None:
    if not value.startswith(("https://", "http://")):
        raise ma.ValidationError("must be an http(s) URL")


def _credit_code(value: str) -> None:
    # Exactly as the platform will receive it (no normalising, unlike the registry's).
    if not validation.USCC_SHAPE.match(value):
        raise ma.ValidationError("an 18-character unified social credit code")
    if validation.uscc_check_character(value[:17]) != value[17]:
        raise ma.ValidationError("the check character does not match (GB 32100)")


class RegistrationInputSchema(ma.Schema):
    """A platform account to set up (secrets are write-only)."""

    profile = ma.fields.String(required=True, validate=_profile_code)
    base_url = ma.fields.String(required=True, validate=[validate.Length(max=500), _url])
    enterprise_code = ma.fields.String(validate=_credit_code)
    region_code = ma.fields.String(validate=validate.Regexp(validation.REGION, error="6 digits"))
    enabled = ma.fields.Boolean(load_default=True)
    realtime_minutes = ma.fields.Integer(validate=validate.OneOf([15, 30, 60]))
    pin = ma.fields.String(
        load_only=True, validate=validate.Regexp(r"^[0-9]{4,14}\Z", error="4 to 14 digits")
    )
    client_p12_base64 = ma.fields.String(load_only=True)
    client_p12_password = ma.fields.String(load_only=True, validate=validate.Length(max=200))
    server_ca_pem = ma.fields.String(allow_none=True, validate=validate.Length(max=20000))


class RegistrationSchema(ma.Schema):
    """A platform account (no secrets: only whether they are set)."""

    id = ma.fields.Integer()
    profile = ma.fields.String()
    base_url = ma.fields.String()
    enterprise_code = ma.fields.String()
    region_code = ma.fields.String()
    enabled = ma.fields.Boolean()
    realtime_minutes = ma.fields.Integer()
    status = ma.fields.String()
    device_id = ma.fields.String(allow_none=True)
    has_secret_key = ma.fields.Function(lambda r: r.secret_key is not None)
    has_pin = ma.fields.Function(lambda r: r.pin is not None)
    has_client_certificate = ma.fields.Function(lambda r: r.client_p12 is not None)
    server_ca_pem = ma.fields.String(allow_none=True)
    urls = ma.fields.Dict()
    upload_time = ma.fields.String(allow_none=True)
    reg_version = ma.fields.String(allow_none=True)
    dic_version = ma.fields.String(allow_none=True)
    checked_at = ma.fields.DateTime(allow_none=True)
    registered_at = ma.fields.DateTime(allow_none=True)
    access_key_expires_at = ma.fields.DateTime(allow_none=True)
    backoff_until = ma.fields.DateTime(allow_none=True)
    consecutive_failures = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ExchangeSchema(ma.Schema):
    """One request to the platform and how it went."""

    endpoint = ma.fields.String()
    url = ma.fields.String()
    at = ma.fields.DateTime()
    duration_ms = ma.fields.Integer()
    outcome = ma.fields.String()
    http_status = ma.fields.Integer(allow_none=True)
    response_code = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)
    rows = ma.fields.Integer()


class ActionResultSchema(ma.Schema):
    """The outcome of an action that talked to the platform."""

    ok = ma.fields.Boolean()
    message = ma.fields.String(allow_none=True)
    exchanges = ma.fields.List(ma.fields.Nested(ExchangeSchema))
    registration = ma.fields.Nested(RegistrationSchema)


class SubmissionInputSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=validate.OneOf(["info", "meters"]))


class UploadInputSchema(ma.Schema):
    """A manual upload: (re)compute a range of periods first if given, then send now."""

    period_from = ma.fields.AwareDateTime(data_key="from")
    period_to = ma.fields.AwareDateTime(data_key="to")
    stat_types = ma.fields.List(
        ma.fields.Integer(validate=validate.OneOf([s.value for s in StatType])),
        load_default=lambda: [s.value for s in StatType],
    )

    @ma.validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("period_from"), data.get("period_to")
        if (start is None) != (end is None):
            raise ma.ValidationError("give both from and to, or neither", "from")
        if start is not None and end is not None:
            if start >= end:
                raise ma.ValidationError("must be before to", "from")
            if (end - start).days > 400:
                raise ma.ValidationError("at most 400 days at once", "to")


class UploadResultSchema(ma.Schema):
    queued_new = ma.fields.Integer()
    queued_corrected = ma.fields.Integer()
    for_correction = ma.fields.Integer()
    accepted = ma.fields.Integer()
    requests = ma.fields.Integer()
    failed = ma.fields.Boolean()
    reason = ma.fields.String(allow_none=True)
    backlog = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class DictionaryQuerySchema(ma.Schema):
    item = ma.fields.Integer(validate=validate.Range(1, 17))
    version = ma.fields.String(validate=validate.Length(max=32))


class DictionaryEntrySchema(ma.Schema):
    version = ma.fields.String()
    item = ma.fields.Integer()
    code = ma.fields.String()
    parent = ma.fields.String()
    name = ma.fields.String()
    unit = ma.fields.String(allow_none=True)
    precision = ma.fields.Integer(allow_none=True)
    coefficient = ma.fields.Decimal(as_string=True, allow_none=True)
    extra = ma.fields.Dict()


class DictionaryVersionSchema(ma.Schema):
    version = ma.fields.String()
    downloaded_at = ma.fields.DateTime()
    items = ma.fields.Integer()
    entries = ma.fields.Integer()
    complete = ma.fields.Boolean()
    in_use = ma.fields.Boolean()


def _secret() -> str:
    return state().settings.secret_key


def access_registration(registration_id: int) -> UploadRegistration:
    """A registration of the bound tenant (another tenant's answers like a missing one)."""
    reg = db().get(UploadRegistration, registration_id)
    if reg is None:
        raise NotFound(f"registration {registration_id} not found")
    return reg


def _apply(reg: UploadRegistration, data: dict[str, Any]) -> None:
    secret = _secret()
    tenant = bound_tenant_row()
    reg.profile = data["profile"]
    reg.base_url = data["base_url"].rstrip("/")
    reg.enterprise_code = data.get("enterprise_code") or tenant.credit_code
    reg.region_code = data.get("region_code") or tenant.region_code
    reg.enabled = data["enabled"]
    profile = profiles.get(reg.profile)
    reg.realtime_minutes = data.get("realtime_minutes") or profile.realtime_minutes
    reg.server_ca_pem = data.get("server_ca_pem")
    if "pin" in data:
        reg.pin = crypto.seal(secret, data["pin"].encode("ascii"))
    if "client_p12_base64" in data:
        try:
            p12 = base64.b64decode(data["client_p12_base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("not base64", fields={"client_p12_base64": ["not base64"]}) from exc
        reg.client_p12 = crypto.seal(secret, p12)
    if "client_p12_password" in data:
        reg.client_p12_password = crypto.seal(secret, data["client_p12_password"].encode())
    if profile.auth == "bearer" and reg.pin is None:
        raise InvalidInput(
            "this platform needs the PIN it issued", fields={"pin": ["required by the profile"]}
        )
    if profile.auth == "mtls" and reg.client_p12 is None:
        raise InvalidInput(
            "this platform needs a client certificate",
            fields={"client_p12_base64": ["required by the profile (PKCS#12, base64)"]},
        )


@blp.route("/upload/profiles")
class Profiles(MethodView):
    @blp.response(200, ProfileSchema(many=True))
    def get(self) -> list[profiles.Profile]:
        """The shipped province profiles."""
        return list(profiles.all_profiles().values())


@blp.route("/upload/registrations")
class Registrations(MethodView):
    @blp.response(200, RegistrationSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> list[UploadRegistration]:
        """The enterprise's platform accounts."""
        stmt = select(UploadRegistration).order_by(UploadRegistration.id)
        return paginate(db(), stmt, pagination_parameters)

    @blp.arguments(RegistrationInputSchema)
    @blp.response(201, RegistrationSchema)
    def post(self, data: dict[str, Any]) -> UploadRegistration:
        """Set up an account on a platform (register it with ``/register`` next)."""
        if db().scalar(select(UploadRegistration).filter_by(profile=data["profile"])):
            raise Conflict(f"a registration for profile {data['profile']} exists already")
        reg = UploadRegistration(status=RegistrationStatus.NEW, urls={}, consecutive_failures=0)
        _apply(reg, data)
        db().add(reg)
        db().flush()
        return reg


@blp.route("/upload/registrations/<int:registration_id>")
class RegistrationById(MethodView):
    @blp.etag
    @blp.response(200, RegistrationSchema)
    def get(self, registration_id: int) -> UploadRegistration:
        """One platform account (with its ETag)."""
        return access_registration(registration_id)

    @blp.etag
    @blp.arguments(RegistrationInputSchema)
    @blp.response(200, RegistrationSchema)
    def put(self, data: dict[str, Any], registration_id: int) -> UploadRegistration:
        """Change an account (send its ETag in If-Match); the profile cannot change."""
        reg = access_registration(registration_id)
        blp.check_etag(reg, RegistrationSchema)
        if data["profile"] != reg.profile:
            raise InvalidInput(
                "the profile of a registration cannot change; set up a new one",
                fields={"profile": ["cannot change"]},
            )
        _apply(reg, data)
        return reg

    @blp.etag
    @blp.response(204)
    def delete(self, registration_id: int) -> None:
        """Remove an account that never queued anything (otherwise: disable it)."""
        reg = access_registration(registration_id)
        blp.check_etag(reg, RegistrationSchema)
        used = db().scalar(
            select(func.count()).select_from(UploadItem).where(UploadItem.registration_id == reg.id)
        )
        logged = db().scalar(
            select(func.count())
            .select_from(UploadRequest)
            .where(UploadRequest.registration_id == reg.id)
        )
        if used or logged:
            raise Conflict("this account has queued items or a request log; disable it instead")
        db().delete(reg)


def _result(reg: UploadRegistration, exchanges: list[Exchange]) -> dict[str, Any]:
    last = exchanges[-1] if exchanges else None
    return {
        "ok": bool(exchanges) and all(e.ok for e in exchanges),
        "message": None if last is None else last.message,
        "exchanges": exchanges,
        "registration": reg,
    }


def _client(reg: UploadRegistration) -> PlatformClient:
    try:
        return registration.client_factory(_secret())(reg)
    except crypto.CipherError as exc:
        raise InvalidInput(str(exc)) from exc


@blp.route("/upload/registrations/<int:registration_id>/register", methods=["POST"])
@blp.response(200, ActionResultSchema)
def register(registration_id: int) -> dict[str, Any]:
    """Register the enterprise with the platform (again, if the platform asks)."""
    reg = access_registration(registration_id)
    with _client(reg) as client:
        exchange = registration.register(db(), reg, client, _secret(), manual=True)
    return _result(reg, [exchange])


@blp.route("/upload/registrations/<int:registration_id>/version-check", methods=["POST"])
@blp.response(200, ActionResultSchema)
def version_check(registration_id: int) -> dict[str, Any]:
    """Ask the platform's versions; download the dictionaries if they changed."""
    reg = access_registration(registration_id)
    if reg.status != RegistrationStatus.REGISTERED:
        raise Conflict("register first")
    before = db().scalar(select(func.max(UploadRequest.id))) or 0
    with _client(reg) as client:
        registration.check_version(db(), reg, client, _secret(), manual=True)
    db().flush()
    logged = (
        db()
        .scalars(select(UploadRequest).where(UploadRequest.id > before).order_by(UploadRequest.id))
        .all()
    )
    return {
        "ok": all(r.outcome == "accepted" for r in logged) and bool(logged),
        "message": logged[-1].message if logged else None,
        "exchanges": logged,
        "registration": reg,
    }


@blp.route("/upload/registrations/<int:registration_id>/submissions", methods=["POST"])
@blp.arguments(SubmissionInputSchema)
@blp.response(200, ActionResultSchema)
def submit(data: dict[str, Any], registration_id: int) -> dict[str, Any]:
    """Upload the enterprise information (``info``) or the meter ledger (``meters``)."""
    reg = access_registration(registration_id)
    if reg.status != RegistrationStatus.REGISTERED:
        raise Conflict("register first")
    with _client(reg) as client:
        exchange = registration.upload_submission(
            db(), reg, client, _secret(), bound_tenant_row(), data["kind"], manual=True
        )
    return _result(reg, [exchange])


@blp.route("/upload/registrations/<int:registration_id>/upload", methods=["POST"])
@requires(Permission.DATA_WRITE)
@blp.arguments(UploadInputSchema)
@blp.response(200, UploadResultSchema)
def manual_upload(data: dict[str, Any], registration_id: int) -> dict[str, Any]:
    """Manual upload: optionally (re)compute a range of periods, then send now."""
    reg = access_registration(registration_id)
    if reg.status != RegistrationStatus.REGISTERED or reg.dic_version is None:
        raise Conflict("register and download the dictionaries first")
    tenant = bound_tenant()
    now = utcnow()
    # The cycle runs in its own transactions (it commits batch by batch): end ours first.
    db().commit()
    queued = outbox.Queued()
    if data.get("period_from") is not None:
        queued = service.queue_range(
            state().db,
            tenant.id,
            reg.id,
            data["period_from"],
            data["period_to"],
            [StatType(s) for s in data["stat_types"]],
            now,
        )
    reports = service.cycle(
        state().db, tenant.id, _secret(), now, manual=True, registration_ids=[reg.id], queue=False
    )
    sent = reports[0].sent if reports and reports[0].sent else outbox.Sent()
    return {
        "queued_new": queued.new,
        "queued_corrected": queued.corrected,
        "for_correction": queued.for_correction + sent.for_correction,
        "accepted": sent.accepted,
        "requests": sent.requests,
        "failed": sent.failed,
        "reason": sent.reason or (reports[0].skipped if reports else "not registered"),
        "backlog": outbox.backlog(db(), reg.id),
    }


@blp.route("/upload/items/<int:item_id>/release", methods=["POST"])
@requires(Permission.DATA_WRITE)
@blp.response(200, ma.Schema.from_dict({"id": ma.fields.Integer(), "status": ma.fields.String()}))
def release(item_id: int) -> dict[str, Any]:
    """Send a row waiting for correction again (after its cause was fixed)."""
    item = db().get(UploadItem, item_id)
    if item is None:
        raise NotFound(f"item {item_id} not found")
    if item.status != ItemStatus.CORRECTION:
        raise Conflict(f"item {item_id} is {item.status}, not waiting for correction")
    outbox.release(db(), item)
    return {"id": item.id, "status": item.status}


@blp.route("/upload/registrations/<int:registration_id>/dictionaries")
@blp.arguments(DictionaryQuerySchema, location="query")
@blp.response(200, DictionaryEntrySchema(many=True))
@blp.paginate()
def dictionaries(
    query: dict[str, Any], pagination_parameters: Any, registration_id: int
) -> list[DictionaryEntry]:
    """The downloaded dictionaries (the version in use unless ``version`` is given)."""
    reg = access_registration(registration_id)
    version = query.get("version") or reg.dic_version
    stmt = (
        select(DictionaryEntry)
        .where(DictionaryEntry.registration_id == reg.id, DictionaryEntry.version == version)
        .order_by(DictionaryEntry.item, DictionaryEntry.parent, DictionaryEntry.code)
    )
    if "item" in query:
        stmt = stmt.where(DictionaryEntry.item == query["item"])
    return paginate(db(), stmt, pagination_parameters)


@blp.route("/upload/registrations/<int:registration_id>/dictionary-versions")
@blp.response(200, DictionaryVersionSchema(many=True))
def dictionary_versions(registration_id: int) -> list[dict[str, Any]]:
    """Every downloaded version, newest first."""
    reg = access_registration(registration_id)
    rows = db().scalars(
        select(DictionaryVersion)
        .where(DictionaryVersion.registration_id == reg.id)
        .order_by(DictionaryVersion.downloaded_at.desc())
    )
    return [
        {
            "version": r.version,
            "downloaded_at": r.downloaded_at,
            "items": r.items,
            "entries": r.entries,
            "complete": r.complete,
            "in_use": r.version == reg.dic_version,
        }
        for r in rows
    ]
