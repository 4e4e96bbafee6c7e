"""Tenant-schema tables of the data path: points, raw readings, quarantine, real-time values.

``readings`` is partitioned by month on ``ts`` (the partitions are created by
the ingest and the maintenance job, and dropped whole for retention); its key
is (point, ts), which makes every write idempotent: a batch delivered twice
stores its readings once.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import TenantBase, UtcDateTime, utcnow


class Quality(enum.IntEnum):
    """Quality flag of a stored reading (also on interval values)."""

    VALID = 0
    ESTIMATED = 1
    SUSPECT = 2
    MANUAL = 3


class PointKind(enum.StrEnum):
    """A cumulative counter (energy, volume) or an instantaneous value (power, flow...)."""

    CUMULATIVE = "cumulative"
    INSTANTANEOUS = "instantaneous"


class Point(Audited, TenantBase):
    """A measured quantity of a gateway, named on the wire by ``code``.

    The limits are the business layer of validation: a reading outside
    [``min_value``, ``max_value``] is quarantined, not stored.
    """

    __tablename__ = "points"
    __table_args__ = (UniqueConstraint("gateway_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    meter_code: Mapped[str | None] = mapped_column(String(64))
    energy_type: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16))
    interval_s: Mapped[int] = mapped_column(Integer, default=900)
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    rollover_max: Mapped[float | None] = mapped_column(Float)
    fill_gaps: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether the point's consumption counts in its energy category's total (a
    # sub-meter below a main meter would otherwise be counted twice).
    in_category_total: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Reading(TenantBase):
    """One raw reading. Written only by the ingest (COPY, then insert with conflict skip)."""

    __tablename__ = "readings"
    __table_args__ = {"postgresql_partition_by": "RANGE (ts)"}  # noqa: RUF012

    point: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    value: Mapped[float] = mapped_column(Float(precision=53))
    quality: Mapped[int] = mapped_column(SmallInteger, default=Quality.VALID)


class LatestValue(TenantBase):
    """The real-time value of a point, upserted in the ingest's transaction."""

    __tablename__ = "latest_values"

    point: Mapped[int] = mapped_column(
        ForeignKey("points.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    value: Mapped[float] = mapped_column(Float(precision=53))
    quality: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Layer(enum.StrEnum):
    """The three layers of validation (construction code): which one refused a message."""

    NETWORK = "network"  # identity, signature, replay
    COMMUNICATION = "communication"  # format
    BUSINESS = "business"  # known point, value range, clock skew, conflicting duplicate


class QuarantineEntry(TenantBase):
    """What failed validation, with its reason: a whole payload, or one reading of a batch."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    gateway_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    layer: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    point_code: Mapped[str | None] = mapped_column(String(64))
    ts: Mapped[datetime | None] = mapped_column(UtcDateTime())
    value: Mapped[float | None] = mapped_column(Float(precision=53))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload_size: Mapped[int | None] = mapped_column(Integer)


class DirtyRange(TenantBase):
    """Readings committed for these points between from_ts and to_ts: rollups to recompute."""

    __tablename__ = "dirty_ranges"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    points: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    from_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    to_ts: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class GatewayState(TenantBase):
    """What the cloud last heard from a gateway (status message, last batch)."""

    __tablename__ = "gateway_state"

    gateway_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(16))
    state_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_batch_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    config_version: Mapped[str | None] = mapped_column(String(32))
    # Received, resends included: counting only new rows per gateway would cost a
    # RETURNING over every flush; reconciliation reports what was stored.
    readings_total: Mapped[int] = mapped_column(BigInteger, default=0)


class GatewayEvent(TenantBase):
    """A fault or alarm a gateway reported; idempotent on (gateway, at, kind, where)."""

    __tablename__ = "gateway_events"
    __table_args__ = (
        Index(
            "uq_gateway_events_identity",
            "gateway_id",
            "at",
            "kind",
            "bus",
            "meter",
            "point",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    bus: Mapped[str | None] = mapped_column(String(64))
    meter: Mapped[str | None] = mapped_column(String(64))
    point: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class GatewayLedger(TenantBase):
    """A gateway's completeness ledger for one UTC day (the latest ``at_ms`` wins)."""

    __tablename__ = "gateway_ledgers"

    gateway_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class GatewayCommand(TenantBase):
    """A command sent to a gateway (signed by this data centre) and the gateway's reply."""

    __tablename__ = "gateway_commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the wire's UUID
    gateway_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    requested_by: Mapped[str] = mapped_column(String(200))
    reply_ok: Mapped[bool | None] = mapped_column(Boolean)
    reply_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reply_error: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Reconciliation(TenantBase):
    """One point's UTC day: the gateway's ledger against what was stored (see reconcile)."""

    __tablename__ = "reconciliations"

    gateway_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    point_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    settled: Mapped[bool] = mapped_column(Boolean)
    ledger_at_ms: Mapped[int | None] = mapped_column(BigInteger)
    agent_count: Mapped[int | None] = mapped_column(BigInteger)
    agent_gaps: Mapped[int | None] = mapped_column(BigInteger)
    agent_digest: Mapped[str | None] = mapped_column(String(16))
    stored_count: Mapped[int] = mapped_column(BigInteger)
    stored_digest: Mapped[str] = mapped_column(String(16))
    duplicates: Mapped[int] = mapped_column(BigInteger)
    quarantined: Mapped[int] = mapped_column(BigInteger)
    lost: Mapped[int] = mapped_column(BigInteger)
    phantom: Mapped[int] = mapped_column(BigInteger)
    mismatched: Mapped[bool] = mapped_column(Boolean)
    expected: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())
