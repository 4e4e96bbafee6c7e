"""Metering network (GB/T 33656) and energy balance network (GB/T 28749) as one graph.

Nodes are where energy is bought, stored, converted, distributed, used or sent
out; flows are directed edges carrying one energy type; a flow's metering point
is the telemetry point that measures it (null: the meter is still missing). One
graph serves both diagrams: the metering network of an energy type is its flows
with their levels and meters, the balance network is the same flows arranged
by stage with quantities and losses. It is also what says which metered
quantity is a purchase, an export, a conversion input or a final use, so the
enterprise-level figures of DB53/T 1026 §4.2 (levels and items) and GB/T 2589
comprehensive consumption are computed from it (``ems.networks.figures``).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import ControlBase, TenantBase, UtcDateTime, utcnow


class NodeKind(enum.StrEnum):
    """What a node stands for."""

    SUPPLIER = "supplier"  # 外部供应: grid, gas company, coal supplier (outside the boundary)
    CUSTOMER = "customer"  # 外供 / 外销: who buys or receives energy (outside the boundary)
    STORAGE = "storage"  # 贮存: coal yard, oil tank
    CONVERSION = "conversion"  # 加工转换: boiler house, substation, compressor station
    DISTRIBUTION = "distribution"  # 输送分配: a bus, a pipe network
    UNIT = "unit"  # an organisation unit (ems.org), the energy it uses
    EQUIPMENT = "equipment"  # a key energy-using equipment
    RECOVERY = "recovery"  # 回收利用: waste heat and pressure


class Stage(enum.StrEnum):
    """The GB/T 28749 columns, left to right (recovery flows back)."""

    PURCHASE_STORAGE = "purchase_storage"  # 购入贮存
    CONVERSION = "conversion"  # 加工转换
    DISTRIBUTION = "distribution"  # 输送分配
    FINAL_USE = "final_use"  # 最终使用
    RECOVERY = "recovery"  # 回收利用
    EXPORT = "export"  # 外供

    @property
    def column(self) -> int:
        return _COLUMNS[self]


_COLUMNS = {
    Stage.PURCHASE_STORAGE: 0,
    Stage.CONVERSION: 1,
    Stage.RECOVERY: 1,
    Stage.DISTRIBUTION: 2,
    Stage.FINAL_USE: 3,
    Stage.EXPORT: 4,
}

# The stage a node of each kind is in unless it says otherwise (a unit may be a
# conversion unit, e.g. a boiler house that is also an organisation unit).
DEFAULT_STAGE = {
    NodeKind.SUPPLIER: Stage.PURCHASE_STORAGE,
    NodeKind.STORAGE: Stage.PURCHASE_STORAGE,
    NodeKind.CONVERSION: Stage.CONVERSION,
    NodeKind.DISTRIBUTION: Stage.DISTRIBUTION,
    NodeKind.UNIT: Stage.FINAL_USE,
    NodeKind.EQUIPMENT: Stage.FINAL_USE,
    NodeKind.RECOVERY: Stage.RECOVERY,
    NodeKind.CUSTOMER: Stage.EXPORT,
}
EXTERNAL_KINDS = frozenset({NodeKind.SUPPLIER, NodeKind.CUSTOMER})


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class NetworkNode(Audited, TenantBase):
    """A box of the diagrams. ``unit_id`` / ``equipment_id`` tie it to the ledgers.

    A node of kind ``unit`` whose unit lies outside the enterprise boundary
    (``ems.org`` ``inside_boundary``) counts as external, like a customer: what
    flows to it is energy supplied out of the enterprise.
    """

    __tablename__ = "network_nodes"
    __table_args__ = (
        CheckConstraint(_one_of("kind", NodeKind), name="kind"),
        CheckConstraint(_one_of("stage", Stage), name="stage"),
        CheckConstraint("kind <> 'unit' OR unit_id IS NOT NULL", name="unit_has_unit"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(24))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    equipment_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Layout: the column comes from the stage, the row from sort_order.
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class NetworkFlow(Audited, TenantBase):
    """A line of the diagrams: one energy type from one node to another.

    ``level`` is the GB 17167 metering level of the flow (1 enterprise in/out,
    2 main sub-unit in/out, 3 main equipment), null for a flow that no level
    requires to be metered. ``point_id`` is the cumulative point that meters it;
    a required flow without one is a missing meter (缺配). ``label`` is the
    diagram's instrument mark (category letter and serial, e.g. ``E-01``).
    """

    __tablename__ = "network_flows"
    __table_args__ = (
        UniqueConstraint("energy_type", "from_node_id", "to_node_id"),
        CheckConstraint("from_node_id <> to_node_id", name="not_a_loop"),
        CheckConstraint("level IS NULL OR level BETWEEN 1 AND 3", name="level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    energy_type: Mapped[str] = mapped_column(String(32))
    from_node_id: Mapped[int] = mapped_column(ForeignKey("network_nodes.id"), index=True)
    to_node_id: Mapped[int] = mapped_column(ForeignKey("network_nodes.id"), index=True)
    level: Mapped[int | None] = mapped_column(SmallInteger)
    metering_required: Mapped[bool] = mapped_column(Boolean, default=True)
    point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"), unique=True)
    label: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class MeteringRequirement(ControlBase):
    """GB 17167's required equipping rate and metering threshold for an energy type and level.

    Published data with its edition and source; an edition is in force from
    ``valid_from`` until ``valid_to``. When none is in force on a date the latest
    earlier edition is used and the answer says it is superseded.
    """

    __tablename__ = "metering_requirements"
    __table_args__ = (
        UniqueConstraint("standard", "edition", "energy_type", "level"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        CheckConstraint(
            "required_rate IS NULL OR required_rate BETWEEN 0 AND 100", name="rate_range"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    standard: Mapped[str] = mapped_column(String(32))
    edition: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(32))
    energy_type: Mapped[str] = mapped_column(ForeignKey("energy_types.code"))
    level: Mapped[int] = mapped_column(SmallInteger)
    required_rate: Mapped[Decimal | None] = mapped_column(Numeric())
    threshold: Mapped[Decimal | None] = mapped_column(Numeric())
    threshold_unit: Mapped[str | None] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
