"""Tenant-schema table of organisation units.

A unit sits in one site, directly or under another unit of the same site. Its
kind fixes where it may sit (see ``services.ALLOWED_PARENTS``); its role says
how its energy counts in the enterprise's figures (GB/T 2589).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import TenantBase, UtcDateTime, utcnow


class UnitKind(enum.StrEnum):
    """The levels of the hierarchy below a site."""

    SUB_FACTORY = "sub_factory"  # 分厂
    WORKSHOP = "workshop"  # 车间
    PROCESS = "process"  # 生产工序
    PROCESS_UNIT = "process_unit"  # 工序单元


class UnitRole(enum.StrEnum):
    """The GB/T 2589 classes of energy use; living use is outside comprehensive consumption."""

    MAIN_PRODUCTION = "main_production"  # 主要生产系统
    AUXILIARY_PRODUCTION = "auxiliary_production"  # 辅助生产系统
    ANCILLARY_PRODUCTION = "ancillary_production"  # 附属生产系统
    LIVING = "living"  # 生活用能


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Unit(Audited, TenantBase):
    """A sub-factory, workshop, process or process unit of a site (用能单元).

    ``role`` is None when the unit inherits its parent's; ``inside_boundary``
    False puts the unit and everything under it outside the enterprise boundary
    (用能单位边界), e.g. a residential area or a leased-out building.
    """

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(_one_of("kind", UnitKind), name="kind"),
        CheckConstraint(f"role IS NULL OR {_one_of('role', UnitRole)}", name="role"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(24))
    process_code: Mapped[str | None] = mapped_column(String(16))
    inside_boundary: Mapped[bool] = mapped_column(Boolean, default=True)
    is_key_unit: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
