"""Control-plane tables (schema ``control``), shared by every tenant."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ems.audit.models import Audited
from ems.db import ControlBase, UtcDateTime, utcnow


class TenantStatus(enum.StrEnum):
    """Life cycle of a tenant: pending -> active <-> suspended -> deleted."""

    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REJECTED = "rejected"
    DELETED = "deleted"


class Role(enum.StrEnum):
    """Roles a user holds in one tenant through a membership."""

    TENANT_ADMIN = "tenant_admin"
    ENERGY_MANAGER = "energy_manager"
    OPERATOR = "operator"
    VIEWER = "viewer"
    PROVIDER_ENGINEER = "provider_engineer"


class Plan(Audited, ControlBase):
    """A subscription plan and the limits it enforces."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    max_gateways: Mapped[int] = mapped_column(Integer)
    max_points: Mapped[int] = mapped_column(Integer)
    api_requests_per_minute: Mapped[int] = mapped_column(Integer)
    retention_days: Mapped[int] = mapped_column(Integer)
    storage_bytes: Mapped[int] = mapped_column(BigInteger)


class Tenant(Audited, ControlBase):
    """An enterprise (重点用能单位) subscribed to the platform."""

    __tablename__ = "tenants"
    __table_args__ = (
        # A deleted tenant keeps its registry row (for the audit trail) but
        # frees its credit code for a new subscription.
        Index(
            "uq_tenants_credit_code_live",
            "credit_code",
            unique=True,
            postgresql_where=text("status <> 'deleted'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    industry_code: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.PENDING)
    schema_name: Mapped[str | None] = mapped_column(String(63), unique=True)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    suspended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    plan: Mapped[Plan] = relationship(lazy="joined")


class ProviderOrganisation(Audited, ControlBase):
    """A service provider whose engineers operate several tenants' plants."""

    __tablename__ = "provider_organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class User(Audited, ControlBase):
    """A person who logs in to the portal."""

    __tablename__ = "users"
    __audit_exclude__ = frozenset({"password_hash"})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    # A regulator reads, within this administrative division, what enterprises uploaded.
    regulator_region: Mapped[str | None] = mapped_column(String(6))
    provider_org_id: Mapped[int | None] = mapped_column(ForeignKey("provider_organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Membership(Audited, ControlBase):
    """A user's role in one tenant."""

    __tablename__ = "memberships"
    __table_args__ = (Index("uq_memberships_user_tenant", "user_id", "tenant_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class OAuthClient(Audited, ControlBase):
    """An integration (carbon exchange, customer system) using client credentials."""

    __tablename__ = "oauth_clients"
    __audit_exclude__ = frozenset({"secret_hash"})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(Text)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SigningKey(ControlBase):
    """An RSA key that signs access tokens; the private half encrypted at rest."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[bytes] = mapped_column()
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TenantExport(ControlBase):
    """A complete archive of a tenant's data, taken before deletion or on request."""

    __tablename__ = "tenant_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    row_counts: Mapped[dict[str, int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TenantUsage(ControlBase):
    """Measured use of plan resources, refreshed by a periodic worker job."""

    __tablename__ = "tenant_usage"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AdminDivision(ControlBase):
    """Administrative division codes (GB/T 2260): government data, versioned with its source."""

    __tablename__ = "admin_divisions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    version: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)


class GatewayStatus(enum.StrEnum):
    """A gateway is active until revoked; a revoked gateway can no longer connect or publish."""

    ACTIVE = "active"
    REVOKED = "revoked"


class Gateway(Audited, ControlBase):
    """A plant gateway (edge agent): its broker credentials and its signing key.

    The id is also the broker username and the ``{gateway}`` of every topic, so
    the broker's ACL (one section per username) confines a gateway to its own
    topics, and the registry maps those topics to exactly one tenant.
    """

    __tablename__ = "gateways"
    __audit_exclude__ = frozenset({"password_hash"})

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    site_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=GatewayStatus.ACTIVE)
    password_hash: Mapped[str] = mapped_column(String(200))
    # Raw 32-byte Ed25519 public keys, base64. The previous key stays valid for a
    # grace period after a rotation, so batches signed just before it still verify.
    public_key: Mapped[str] = mapped_column(String(64))
    previous_public_key: Mapped[str | None] = mapped_column(String(64))
    previous_key_valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    tenant: Mapped[Tenant] = relationship(lazy="joined")


class DataCentre(ControlBase):
    """A data centre's ingest identity: the Ed25519 key that signs acks and commands.

    Gateways hold the public half (``data_centres[].key`` in their config). The
    private half is encrypted at rest with the platform secret.
    """

    __tablename__ = "data_centres"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[bytes] = mapped_column()
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class IngestReject(ControlBase):
    """A message the ingest could not attribute to any tenant (unknown gateway, bad topic).

    Kept with its reason and (the first 64 KiB of) its payload: nothing is
    silently dropped, not even garbage.
    """

    __tablename__ = "ingest_rejects"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    topic: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column()
    payload_size: Mapped[int] = mapped_column(Integer)
