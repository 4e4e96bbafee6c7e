"""Tables of the provincial upload (DB53/T 1026 §4.11, construction code 4.1.2, 4.4.4).

Tenant schema:

- ``upload_registrations``: one per platform the enterprise uploads to (usually its
  province; some also report to the national platform). Holds what registration
  returned (device id, secret key, service URLs, batch time) and the credentials the
  enterprise was given (PIN, client certificate), secrets sealed at rest
  (:mod:`ems.upload.sealed`).
- ``upload_dictionary_versions`` / ``upload_dictionary_entries``: every downloaded
  version of the platform's 17 code tables, kept, so a code's history can be
  explained after the platform changed a table.
- ``upload_codes``: the mapping from one of the tenant's figures to a 16-digit
  combined code (组合编码) and where its value comes from.
- ``upload_items``: the outbox, one row per (code, statistics type, period, version).
  A row is never deleted: it is accepted, superseded by a newer version before it
  was sent, or waits for correction with its reason.
- ``upload_requests``: every request and answer, with duration and outcome.

Control schema (what regulators read; never a tenant's raw data):

- ``uploaded_figures``: a copy of every figure a platform accepted.
- ``upload_day_stats``: completeness and timeliness per tenant and day.
- ``uploaded_submissions``: the enterprise information and meter ledgers accepted.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import ControlBase, TenantBase, UtcDateTime, utcnow


class StatType(enum.IntEnum):
    """``statType`` of the protocol: the period an item covers."""

    REALTIME = 0  # one real-time interval (15 minutes by default)
    DAY = 1
    MONTH = 2
    YEAR = 3


class Scope(enum.IntEnum):
    """``scope`` of the protocol."""

    PLANT = 1
    PROCESS = 2
    PROCESS_UNIT = 3
    EQUIPMENT = 4


class InputType(enum.IntEnum):
    """``inputType`` of the protocol (dictionary 6)."""

    MIS = 1  # management information system
    PRODUCTION_MONITORING = 2
    DCS = 3
    FIELD_INSTRUMENT = 4
    MANUAL = 5


class Source(enum.StrEnum):
    """Where a mapped code's value comes from."""

    CATEGORY = "category"  # an energy type's consumption, whole plant (category rollups)
    POINT = "point"  # one telemetry point's consumption (or mean, if instantaneous)
    COMPREHENSIVE = "comprehensive"  # GB/T 2589 comprehensive consumption, tce (networks)
    OUTPUT = "output"  # a product's output
    OUTPUT_VALUE = "output_value"  # industrial output value
    VALUE_ADDED = "value_added"  # industrial value added
    UNIT_CONSUMPTION = "unit_consumption"  # a product's unit consumption, kgce per unit


class ItemStatus(enum.StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"  # to send (again): never accepted yet
    ACCEPTED = "accepted"
    # Cannot be sent as it is (code no longer in the dictionary, precision, missing
    # value): waits with its reason until a recomputation or a user corrects it.
    CORRECTION = "correction"
    SUPERSEDED = "superseded"  # a newer version was queued before this one was accepted


class RegistrationStatus(enum.StrEnum):
    NEW = "new"  # configured, not registered yet
    REGISTERED = "registered"
    FAILED = "failed"  # the last registration attempt was refused (see the log)


class UploadRegistration(Audited, TenantBase):
    """The enterprise's account on one monitoring platform."""

    __tablename__ = "upload_registrations"
    __table_args__ = (
        CheckConstraint("realtime_minutes BETWEEN 1 AND 60", name="realtime_minutes"),
        CheckConstraint(
            "status IN ('new', 'registered', 'failed')",
            name="status",
        ),
    )

    # Secrets never enter the audit log; the worker's bookkeeping would only flood it.
    __audit_exclude__ = frozenset(
        {
            "secret_key",
            "pin",
            "client_p12",
            "client_p12_password",
            "access_key",
            "access_key_expires_at",
            "backoff_until",
            "consecutive_failures",
            "realtime_queued_to",
            "checked_at",
            "updated_at",
        }
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile: Mapped[str] = mapped_column(String(32), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    enterprise_code: Mapped[str] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(String(6))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    realtime_minutes: Mapped[int] = mapped_column(SmallInteger, default=15)
    status: Mapped[str] = mapped_column(String(16), default=RegistrationStatus.NEW)
    device_id: Mapped[str | None] = mapped_column(String(64))
    secret_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed
    pin: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed; bearer profiles
    client_p12: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed; mtls profiles
    client_p12_password: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed
    server_ca_pem: Mapped[str | None] = mapped_column(Text)  # trust anchor, if not public
    urls: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    upload_time: Mapped[str | None] = mapped_column(String(8))
    reg_version: Mapped[str | None] = mapped_column(String(32))
    dic_version: Mapped[str | None] = mapped_column(String(32))  # the complete one in use
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    access_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed
    access_key_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # After a failed send: no data request before this (exponential, capped).
    backoff_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Real-time items are queued up to here (exclusive); the next cycle goes on from it.
    realtime_queued_to: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class DictionaryVersion(TenantBase):
    """One downloaded version of a platform's dictionaries (complete when all 17 are in)."""

    __tablename__ = "upload_dictionary_versions"

    registration_id: Mapped[int] = mapped_column(
        ForeignKey("upload_registrations.id"), primary_key=True
    )
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    downloaded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    items: Mapped[int] = mapped_column(SmallInteger)  # how many of the 17 were downloaded
    entries: Mapped[int] = mapped_column(Integer)
    complete: Mapped[bool] = mapped_column(Boolean)


class DictionaryEntry(TenantBase):
    """One row of one dictionary (item 1..17) in one version."""

    __tablename__ = "upload_dictionary_entries"
    __table_args__ = (
        # A process unit's code repeats under different processes: parent is part of the key.
        UniqueConstraint("registration_id", "version", "item", "parent", "code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("upload_registrations.id"))
    version: Mapped[str] = mapped_column(String(32))
    item: Mapped[int] = mapped_column(SmallInteger)
    code: Mapped[str] = mapped_column(String(32))
    parent: Mapped[str] = mapped_column(String(32), default="")
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(32))
    precision: Mapped[int | None] = mapped_column(SmallInteger)
    coefficient: Mapped[Decimal | None] = mapped_column(Numeric(18, 8))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class UploadCode(Audited, TenantBase):
    """A tenant figure mapped to a 16-digit combined code on one platform."""

    __tablename__ = "upload_codes"
    __table_args__ = (
        UniqueConstraint("registration_id", "code"),
        CheckConstraint("code ~ '^[0-9]{16}$'", name="code_digits"),
        CheckConstraint("scope BETWEEN 1 AND 4", name="scope"),
        CheckConstraint("input_type BETWEEN 1 AND 5", name="input_type"),
        CheckConstraint(
            "source IN ('category', 'point', 'comprehensive', 'output', 'output_value',"
            " 'value_added', 'unit_consumption')",
            name="source",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("upload_registrations.id"))
    code: Mapped[str] = mapped_column(String(16))  # digits only; the profile formats it
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[int] = mapped_column(SmallInteger)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"))
    source: Mapped[str] = mapped_column(String(24))
    energy_type: Mapped[str | None] = mapped_column(String(32))
    point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    input_type: Mapped[int] = mapped_column(SmallInteger, default=InputType.PRODUCTION_MONITORING)
    realtime: Mapped[bool] = mapped_column(Boolean, default=False)
    day: Mapped[bool] = mapped_column(Boolean, default=True)
    month: Mapped[bool] = mapped_column(Boolean, default=True)
    year: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class UploadItem(TenantBase):
    """One figure in the outbox: a (code, statType, period) at one version."""

    __tablename__ = "upload_items"
    __table_args__ = (
        UniqueConstraint("registration_id", "code", "stat_type", "period_start", "version"),
        Index(
            "ix_upload_items_registration_id_status", "registration_id", "status", "period_start"
        ),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'correction', 'superseded')", name="status"
        ),
        CheckConstraint("stat_type BETWEEN 0 AND 3", name="stat_type"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("upload_registrations.id"))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("upload_codes.id", ondelete="SET NULL"))
    code: Mapped[str] = mapped_column(String(16))  # as queued; a later mapping change keeps it
    stat_type: Mapped[int] = mapped_column(SmallInteger)
    period_start: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    value: Mapped[Decimal | None] = mapped_column(Numeric(24, 8))
    input_type: Mapped[int] = mapped_column(SmallInteger)
    scope: Mapped[int] = mapped_column(SmallInteger)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    flags: Mapped[int] = mapped_column(Integer, default=0)  # telemetry.intervals.Flag bits
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When it was due at the platform (period end for real-time items, the batch time
    # after the period for the others): timeliness is accepted_at <= due_at.
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UploadRequest(TenantBase):
    """One request to a platform and its answer (or the lack of one)."""

    __tablename__ = "upload_requests"
    __table_args__ = (Index("ix_upload_requests_registration_id_at", "registration_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("upload_registrations.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # register | version | dictionary | info | meters | data | access_key
    endpoint: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(500))
    manual: Mapped[bool] = mapped_column(Boolean, default=False)  # started by a user
    rows: Mapped[int] = mapped_column(Integer, default=0)
    item_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list)
    duration_ms: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(SmallInteger)
    # accepted | refused (the platform said no) | error (5xx, bad answer) | timeout | unreachable
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    response_code: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    # Short, with secrets removed: enough to see what was said.
    request_excerpt: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)


# --- control schema: what regulators see ----------------------------------------------


class UploadedFigure(ControlBase):
    """A figure a platform accepted, as it was sent (one row per version)."""

    __tablename__ = "uploaded_figures"
    __table_args__ = (
        Index("ix_uploaded_figures_tenant_id_period", "tenant_id", "stat_type", "period_start"),
    )

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    profile: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    stat_type: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[Decimal] = mapped_column(Numeric(24, 8))
    scope: Mapped[int] = mapped_column(SmallInteger)
    valid: Mapped[bool] = mapped_column(Boolean)
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UploadDayStats(ControlBase):
    """Upload completeness and timeliness of one tenant on one local day."""

    __tablename__ = "upload_day_stats"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    profile: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    expected: Mapped[int] = mapped_column(Integer)
    uploaded: Mapped[int] = mapped_column(Integer)
    on_time: Mapped[int] = mapped_column(Integer)
    failed_requests: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class UploadedSubmission(ControlBase):
    """Enterprise information or a meter ledger a platform accepted."""

    __tablename__ = "uploaded_submissions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    profile: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # info | meters
    payload: Mapped[Any] = mapped_column(JSON)
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
