"""Tables of the energy feature: the shared catalogue (control) and a tenant's own choices."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import ControlBase, TenantBase, UtcDateTime, utcnow


class Basis(enum.StrEnum):
    """How secondary energy is converted: 当量值 (its own heat) or 等价值 (primary energy spent)."""

    EQUIVALENT = "equivalent"
    EQUAL_VALUE = "equal_value"


class Category(enum.StrEnum):
    """An energy proper, or an energy-carrying medium (耗能工质) such as water or compressed air."""

    ENERGY = "energy"
    MEDIUM = "medium"


class EnergyType(ControlBase):
    """One kind of energy or medium, with the unit it is usually metered in."""

    __tablename__ = "energy_types"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16))
    dimension: Mapped[str] = mapped_column(String(16))  # mass | volume | energy
    source: Mapped[str] = mapped_column(Text)


class CoalCoefficient(ControlBase):
    """A published standard coal coefficient, in force from ``valid_from`` until ``valid_to``.

    ``region_code`` is an administrative division (GB/T 2260) or NULL for the national value.
    Rows are never edited in place: a revision is a new row and an end date on the old one.
    """

    __tablename__ = "coal_coefficients"
    __table_args__ = (
        Index("ix_coal_coefficients_lookup", "energy_type", "basis", "region_code", "valid_from"),
        CheckConstraint("value > 0", name="value_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    energy_type: Mapped[str] = mapped_column(ForeignKey("energy_types.code"))
    region_code: Mapped[str | None] = mapped_column(String(6))
    basis: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Numeric())
    unit: Mapped[str] = mapped_column(String(24))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class CoefficientOverride(Audited, TenantBase):
    """A tenant's own coefficient (a measured calorific value, a provincial figure), with why."""

    __tablename__ = "coefficient_overrides"
    __table_args__ = (
        Index("ix_coefficient_overrides_lookup", "energy_type", "basis", "valid_from"),
        CheckConstraint("value > 0", name="value_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key into the control schema: the catalogue is checked by the service.
    energy_type: Mapped[str] = mapped_column(String(32))
    basis: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Numeric())
    unit: Mapped[str] = mapped_column(String(24))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class EnergySettings(Audited, TenantBase):
    """The tenant's energy accounting choices: one row (id 1), created by the migration."""

    __tablename__ = "energy_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    electricity_basis: Mapped[str] = mapped_column(String(16), default=Basis.EQUIVALENT)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
