"""Tables of the meter ledger (DB53/T 1026-2021 table A.1) and its records.

``instrument_classes`` is published data (JJF 1051-2009 names and codes) in the
control schema; everything else is the tenant's: the ledger row per instrument,
the history of its state, its verification and calibration records, the points
it feeds, and its physical replacements (换表).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import ControlBase, TenantBase, UtcDateTime, utcnow


class Level(enum.IntEnum):
    """Metering level (GB 17167): where in the plant's energy flow the instrument sits."""

    ENTERPRISE = 1  # 进出用能单位
    SUB_UNIT = 2  # 进出主要次级用能单位
    EQUIPMENT = 3  # 主要用能设备


class InstalledBy(enum.IntEnum):
    """安装方: who installed the instrument."""

    ENTERPRISE = 1  # 用能单位
    SUPPLIER = 2  # 供能单位
    THIRD_PARTY = 3  # 第三方


class ConnectedSystem(enum.IntEnum):
    """接入系统: whose system reads the instrument."""

    OWN = 1  # 本单位系统
    SUPPLIER = 2  # 供能单位系统


class MeterState(enum.StrEnum):
    """目前状态."""

    NORMAL = "normal"  # 正常
    FAULTY = "faulty"  # 故障
    OUT_OF_SERVICE = "out_of_service"  # 停用


class Result(enum.StrEnum):
    """检定/校准状态: the outcome of the last verification or calibration."""

    PASSED = "pass"  # 合格
    FAILED = "fail"  # 不合格


class VerificationKind(enum.StrEnum):
    """Legal verification against a regulation (检定) or calibration (校准)."""

    VERIFICATION = "verification"  # 检定
    CALIBRATION = "calibration"  # 校准


def _one_of(column: str, values: type[enum.Enum], nullable: bool = True) -> str:
    listed = ", ".join(repr(v.value) for v in values)
    check = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {check}" if nullable else check


class InstrumentClass(ControlBase):
    """A JJF 1051-2009 instrument name and, where a source gives it, its 7-digit code.

    Published data, loaded from CSV by a control migration with its source; a row
    whose code is not known to the repository carries the name only and says so
    in ``note``. Meters refer to ``code``.
    """

    __tablename__ = "instrument_classes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(7), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class Meter(Audited, TenantBase):
    """One energy metering instrument: a row of table A.1, plus what the platform needs.

    ``next_due_on`` is ``last_verified_on`` plus ``interval_months`` (clamped to the
    month's end) unless ``next_due_overridden``; ``state``/``state_since`` always
    equal the newest row of its state history.
    """

    __tablename__ = "meters"
    __table_args__ = (
        CheckConstraint(_one_of("level", Level, nullable=False), name="level"),
        CheckConstraint(_one_of("installed_by", InstalledBy), name="installed_by"),
        CheckConstraint(_one_of("connected_system", ConnectedSystem), name="connected_system"),
        CheckConstraint(_one_of("state", MeterState, nullable=False), name="state"),
        CheckConstraint(_one_of("verification_result", Result), name="verification_result"),
        CheckConstraint("interval_months IS NULL OR interval_months > 0", name="interval"),
        CheckConstraint("type_code IS NULL OR type_code ~ '^[0-9]{7}$'", name="type_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # 计量器具名称
    # 计量器具类型: checked against control.instrument_classes by the service (no
    # foreign key across schemas, like energy types).
    type_code: Mapped[str | None] = mapped_column(String(7), index=True)
    level: Mapped[int] = mapped_column(SmallInteger)  # 器具等级
    parameters: Mapped[str | None] = mapped_column(String(200))  # 计量相关参数
    model: Mapped[str | None] = mapped_column(String(200))  # 型号规格
    accuracy_class: Mapped[str | None] = mapped_column(String(32))  # 准确度等级
    measuring_range: Mapped[str | None] = mapped_column(String(100))  # 测量范围
    manufacturer: Mapped[str | None] = mapped_column(String(200))  # 生产厂家
    management_number: Mapped[str] = mapped_column(String(64), unique=True)  # 管理编号
    location: Mapped[str | None] = mapped_column(String(200))  # 安装使用地点
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    installed_by: Mapped[int | None] = mapped_column(SmallInteger)  # 安装方
    installed_on: Mapped[date | None] = mapped_column(Date)  # 安装时间
    connected_system: Mapped[int | None] = mapped_column(SmallInteger)  # 接入系统
    # The tenant's gateway that reads it (control.gateways id; checked by the service).
    gateway_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=MeterState.NORMAL)  # 目前状态
    state_since: Mapped[date | None] = mapped_column(Date)  # 状态发生时间
    verification_result: Mapped[str | None] = mapped_column(String(8))  # 检定/校准状态
    verification_body: Mapped[str | None] = mapped_column(String(200))  # 检定/校准机构
    interval_months: Mapped[int | None] = mapped_column(SmallInteger)  # 检定/校准周期
    last_verified_on: Mapped[date | None] = mapped_column(Date)  # 最近一次检定/校准时间
    next_due_on: Mapped[date | None] = mapped_column(Date, index=True)  # 下一次检定/校准时间
    next_due_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    not_verified_reason: Mapped[str | None] = mapped_column(Text)  # 未检定/校准原因
    energy_type: Mapped[str | None] = mapped_column(String(32))  # control.energy_types code
    ct_ratio: Mapped[Decimal | None] = mapped_column(Numeric())  # 电流互感器变比
    pt_ratio: Mapped[Decimal | None] = mapped_column(Numeric())  # 电压互感器变比
    factory_number: Mapped[str | None] = mapped_column(String(64))  # 出厂编号
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class MeterStateChange(Audited, TenantBase):
    """One entry of a meter's state history: from ``since`` on, it was ``state``."""

    __tablename__ = "meter_states"
    __table_args__ = (
        CheckConstraint(_one_of("state", MeterState, nullable=False), name="state"),
        Index("ix_meter_states_meter", "meter_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(254))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Verification(Audited, TenantBase):
    """A verification (检定) or calibration (校准) of a meter, with its certificate."""

    __tablename__ = "meter_verifications"
    __table_args__ = (
        CheckConstraint(_one_of("kind", VerificationKind, nullable=False), name="kind"),
        CheckConstraint(_one_of("result", Result, nullable=False), name="result"),
        Index("ix_meter_verifications_meter", "meter_id", "performed_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"))
    performed_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    result: Mapped[str] = mapped_column(String(8))
    body: Mapped[str | None] = mapped_column(String(200))
    certificate_number: Mapped[str | None] = mapped_column(String(64))
    next_due_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class MeterPoint(Audited, TenantBase):
    """A point fed by a meter. The point is the key: a point has at most one meter."""

    __tablename__ = "meter_points"

    point_id: Mapped[int] = mapped_column(
        ForeignKey("points.id", ondelete="CASCADE"), primary_key=True
    )
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # "auto": matched by the point's meter_code; "manual": linked through the API.
    linked_by: Mapped[str] = mapped_column(String(8))


class MeterExchange(Audited, TenantBase):
    """A physical replacement of a meter (换表): the ledger's side of the counter base change.

    The per-point counter bases are ``meter_replacements`` rows of the telemetry
    feature (``replacement_ids``), which the rollups read.
    """

    __tablename__ = "meter_exchanges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    old_factory_number: Mapped[str | None] = mapped_column(String(64))
    new_factory_number: Mapped[str | None] = mapped_column(String(64))
    old_model: Mapped[str | None] = mapped_column(String(200))
    new_model: Mapped[str | None] = mapped_column(String(200))
    replacement_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
