"""Tenant tables of the actuals feature: shifts, manual entries, products, output and value.

Every table is ``Audited``; manual entries additionally keep every version as its own row,
so a figure can be traced to what was entered, by whom, when and why, even after corrections.
Quantities are exact ``numeric``; periods are local calendar days ``[period_from, period_to)``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import TenantBase, UtcDateTime, utcnow

MINUTES_PER_DAY = 1440


class OutputSource(enum.StrEnum):
    """How an output figure reached the platform."""

    ENTERED = "entered"
    IMPORTED = "imported"


class ValueKind(enum.StrEnum):
    """工业总产值 (gross industrial output value) or 工业增加值 (industrial value added)."""

    OUTPUT_VALUE = "output_value"
    VALUE_ADDED = "value_added"


class PriceBasis(enum.StrEnum):
    """现价 (current prices) or 不变价 (constant prices of a base year)."""

    CURRENT = "current"
    CONSTANT = "constant"


class Shift(Audited, TenantBase):
    """A shift of the working day (班次), in local wall-clock minutes.

    ``end_minute`` at or before ``start_minute`` means the shift ends the next day (a night
    shift 22:00-06:00); 1440 is 24:00. ``starts_previous_day``: the shift belongs to the
    production day after the one it starts on (a night shift booked to the next day).
    """

    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint(
            "start_minute BETWEEN 0 AND 1425 AND start_minute % 15 = 0", name="start_minute"
        ),
        CheckConstraint(
            "end_minute BETWEEN 15 AND 1440 AND end_minute % 15 = 0", name="end_minute"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)
    starts_previous_day: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ManualReading(Audited, TenantBase):
    """One version of a reading entered by hand for a point at ``ts``.

    Rows are only ever added: version 1 is the first entry at (point, ts), each correction
    adds the next version. ``previous_value``/``previous_quality`` hold what the entry
    replaced in ``readings`` (a metered value for a correction of one, else the prior version).
    """

    __tablename__ = "manual_readings"
    __table_args__ = (UniqueConstraint("point_id", "ts", "version"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("points.id"))
    ts: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float(precision=53))
    previous_value: Mapped[float | None] = mapped_column(Float(precision=53))
    previous_quality: Mapped[int | None] = mapped_column(SmallInteger)
    correction: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(254))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ManualQuantity(Audited, TenantBase):
    """A quantity of an energy type used over local days [period_from, period_to), entered by
    hand because no meter measures it (coal from the weighbridge book, diesel from fuel cards).

    It counts in the actuals of its energy type, spread evenly over its period by time.
    ``unit_id`` and ``item`` say where it was used, for the level/item model to come.
    """

    __tablename__ = "manual_quantities"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("period_to > period_from", name="period"),
        Index("ix_manual_quantities_period", "period_from", "period_to"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    energy_type: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(Numeric())
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    item: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(254))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ManualQuantityVersion(Audited, TenantBase):
    """Every version of a manual quantity, the current one included (append-only)."""

    __tablename__ = "manual_quantity_versions"
    __table_args__ = (UniqueConstraint("quantity_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quantity_id: Mapped[int] = mapped_column(ForeignKey("manual_quantities.id"))
    version: Mapped[int] = mapped_column(Integer)
    energy_type: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(Numeric())
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    item: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(254))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Product(Audited, TenantBase):
    """A product whose output is the denominator of unit-product consumption (产品).

    With ``point_id`` the output is read from that cumulative point's rollups; without it,
    output is entered or imported per period.
    """

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    point_id: Mapped[int | None] = mapped_column(ForeignKey("points.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ProductOutput(Audited, TenantBase):
    """Qualified output (合格产品产量) of a product over local days [period_from, period_to)."""

    __tablename__ = "product_outputs"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("period_to > period_from", name="period"),
        Index("ix_product_outputs_product_period", "product_id", "period_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Numeric())
    source: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class OutputValue(Audited, TenantBase):
    """Output value or value added of the enterprise over [period_from, period_to), in 10^4 CNY
    (万元), at current prices or at the constant prices of ``base_year``."""

    __tablename__ = "output_values"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("period_to > period_from", name="period"),
        CheckConstraint("kind IN ('output_value', 'value_added')", name="kind"),
        CheckConstraint("price_basis IN ('current', 'constant')", name="price_basis"),
        CheckConstraint(
            "(price_basis = 'constant') = (base_year IS NOT NULL)", name="base_year_if_constant"
        ),
        Index("ix_output_values_kind_period", "kind", "price_basis", "period_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    price_basis: Mapped[str] = mapped_column(String(16))
    base_year: Mapped[int | None] = mapped_column(SmallInteger)
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric())
    note: Mapped[str | None] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
