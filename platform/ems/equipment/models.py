"""Tables of the equipment feature.

Control schema (published data, loaded from CSV by control migration 0006): the
equipment classes and the monitoring items of the construction code's table 4.5.3.
Tenant schema: the ledger (table A.3), which tenant points serve which monitoring
item, inspection records, and efficiency definitions and period records.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import ControlBase, TenantBase, UtcDateTime, utcnow


class EquipmentClass(ControlBase):
    """A class of key energy-using equipment (设备分类), e.g. boiler, pump, transformer."""

    __tablename__ = "equipment_classes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    group_zh: Mapped[str | None] = mapped_column(String(64))  # 热电联产机组, 可再生能源发电机组
    group_en: Mapped[str | None] = mapped_column(String(64))
    aliases: Mapped[str | None] = mapped_column(String(200))  # other names, "|"-separated
    sort_order: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)


class MonitoringItem(ControlBase):
    """One row of table 4.5.3: what to monitor on a class, and whether to indicate (指示),
    totalise (积算) and record (记录) it."""

    __tablename__ = "equipment_monitoring_items"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)  # <class>.<item>
    class_code: Mapped[str] = mapped_column(ForeignKey("equipment_classes.code"), index=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(100))
    indicate: Mapped[bool] = mapped_column(Boolean)
    totalise: Mapped[bool] = mapped_column(Boolean)
    record: Mapped[bool] = mapped_column(Boolean)
    applies_to_zh: Mapped[str | None] = mapped_column(String(64))  # e.g. 热水锅炉 only
    applies_to_en: Mapped[str | None] = mapped_column(String(64))
    sort_order: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)


class RunningState(enum.StrEnum):
    """An inspection's finding (运行 / 停机 / 备用 / 故障)."""

    RUNNING = "running"
    STOPPED = "stopped"
    STANDBY = "standby"
    FAULT = "fault"


class TermRole(enum.StrEnum):
    """How a quantity enters an efficiency: energy in, energy out, or material recorded."""

    INPUT = "input"
    OUTPUT = "output"
    MATERIAL = "material"


class PeriodSource(enum.StrEnum):
    """Where a period record's quantities came from."""

    ENTERED = "entered"
    COMPUTED = "computed"  # from the daily rollups of the bound cumulative points


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Equipment(Audited, TenantBase):
    """One row of table A.3, plus what running state and efficiency need.

    ``department`` is the text of 所属部门 as the ledger has it; ``unit_id`` links the
    organisation unit when there is one (an import matches the text to a unit's code or
    name). Quantities keep their unit as written (``75`` ``kW``, ``4`` ``t/h``).
    """

    __tablename__ = "equipment"
    __table_args__ = (
        CheckConstraint("state_threshold IS NULL OR state_threshold >= 0", name="threshold"),
        CheckConstraint("design_efficiency IS NULL OR design_efficiency > 0", name="design"),
        CheckConstraint("target_efficiency IS NULL OR target_efficiency > 0", name="target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    department: Mapped[str | None] = mapped_column(String(100))  # 所属部门
    name: Mapped[str] = mapped_column(String(100))  # 设备名称
    number: Mapped[str] = mapped_column(String(64), unique=True)  # 设备编号
    model: Mapped[str | None] = mapped_column(String(100))  # 型号规格
    location: Mapped[str | None] = mapped_column(String(200))  # 安装地点
    class_code: Mapped[str] = mapped_column(String(32), index=True)  # 设备分类
    energy_types: Mapped[list[str]] = mapped_column(ARRAY(String(32)))  # 能源种类
    rating_value: Mapped[Decimal | None] = mapped_column(Numeric())  # 能源消耗量或功率
    rating_unit: Mapped[str | None] = mapped_column(String(16))
    special: Mapped[bool | None] = mapped_column(Boolean)  # 是否特种设备
    attached_model: Mapped[str | None] = mapped_column(String(100))  # 配套机电设备型号
    attached_power_value: Mapped[Decimal | None] = mapped_column(Numeric())  # 配套机电设备功率
    attached_power_unit: Mapped[str | None] = mapped_column(String(16))
    remarks: Mapped[str | None] = mapped_column(String(1000))  # 备注
    manufacturer: Mapped[str | None] = mapped_column(String(200))  # 生产厂家 (§4.6)
    state_point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id", ondelete="SET NULL"))
    state_threshold: Mapped[float | None] = mapped_column(Float)
    design_efficiency: Mapped[Decimal | None] = mapped_column(Numeric())
    target_efficiency: Mapped[Decimal | None] = mapped_column(Numeric())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class MonitoringBinding(Audited, TenantBase):
    """A point serving a monitoring item of an equipment, or the item declared not
    applicable to it (a steam boiler has no circulating-water flow)."""

    __tablename__ = "equipment_monitoring"
    __table_args__ = (
        CheckConstraint("(point_id IS NULL) = not_applicable", name="point_or_waived"),
        Index(
            "uq_equipment_monitoring_binding",
            "equipment_id",
            "item_code",
            "point_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"))
    item_code: Mapped[str] = mapped_column(String(64))
    point_id: Mapped[int | None] = mapped_column(
        ForeignKey("points.id", ondelete="CASCADE"), index=True
    )
    not_applicable: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(200))


class Inspection(Audited, TenantBase):
    """A patrol record (巡检记录): state found, process parameters, energy use."""

    __tablename__ = "equipment_inspections"
    __table_args__ = (
        CheckConstraint(_one_of("state", RunningState), name="state"),
        Index("ix_equipment_inspections_equipment_at", "equipment_id", "inspected_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"))
    inspected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(16))
    # {name: {"value": "1.25", "unit": "MPa"}}; values as decimal strings, never rounded.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    energy_note: Mapped[str | None] = mapped_column(String(1000))
    inspector: Mapped[str] = mapped_column(String(100))
    recorded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class EfficiencyTerm(Audited, TenantBase):
    """One quantity of an equipment's efficiency definition, optionally fed by a
    cumulative point. ``energy_content`` (e.g. ``20.908`` ``MJ/kg``, a fuel's net
    calorific value or steam's enthalpy rise) turns a mass or volume into energy."""

    __tablename__ = "equipment_efficiency_terms"
    __table_args__ = (CheckConstraint(_one_of("role", TermRole), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(
        ForeignKey("equipment.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(8))
    label: Mapped[str] = mapped_column(String(100))
    energy_type: Mapped[str | None] = mapped_column(String(32))
    point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id", ondelete="SET NULL"))
    unit: Mapped[str] = mapped_column(String(16))
    energy_content: Mapped[Decimal | None] = mapped_column(Numeric())
    energy_content_unit: Mapped[str | None] = mapped_column(String(24))


class EfficiencyPeriod(Audited, TenantBase):
    """Input and output quantities of one period [period_from, period_to) of local days.

    ``quantities`` holds ``{"inputs": [...], "outputs": [...], "materials": [...]}``,
    each entry ``{label, energy_type, quantity, unit, energy_content,
    energy_content_unit}`` with decimals as strings. The efficiency itself is
    computed when read, so a corrected quantity corrects it.
    """

    __tablename__ = "equipment_efficiency_periods"
    __table_args__ = (
        CheckConstraint("period_to > period_from", name="period"),
        CheckConstraint(_one_of("source", PeriodSource), name="source"),
        UniqueConstraint("equipment_id", "period_from", "period_to"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    quantities: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(1000))
    recorded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
