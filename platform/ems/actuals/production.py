"""Products, their output per period, and the enterprise's output value and value added.

These are the denominators of unit consumption (GB/T 2589: 单位产品综合能耗 over qualified
output, 单位产值综合能耗 over output value or value added). Periods of one product's
outputs (and of one kind and price basis of values) never overlap, so summing the entries
inside a report bucket never counts anything twice. The session is the tenant's; nothing
here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.actuals.manual import check_period, check_unit_id
from ems.actuals.models import (
    ManualQuantity,
    OutputSource,
    OutputValue,
    PriceBasis,
    Product,
    ProductOutput,
)
from ems.context import current_actor
from ems.energy.coefficients import UNITS
from ems.errors import Conflict, InvalidInput, NotFound
from ems.org.models import Unit
from ems.org.services import register_delete_guard
from ems.telemetry.models import Point, PointKind

PRODUCT_FIELDS = ("code", "name", "name_en", "unit", "unit_id", "point_id")
OUTPUT_FIELDS = ("product_id", "period_from", "period_to", "quantity", "note")
VALUE_FIELDS = ("kind", "price_basis", "base_year", "period_from", "period_to", "amount", "note")
# Output and value figures cover at most a year: the annual statistics report's period.
MAX_PERIOD_DAYS = 366


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields={field: [message]})


def same_measure(unit: str, other: str) -> bool:
    """Whether a quantity in ``unit`` can be expressed in ``other``."""
    if unit == other:
        return True
    return unit in UNITS and other in UNITS and UNITS[unit][0] == UNITS[other][0]


# --- products -----------------------------------------------------------------------------


def access_product(session: Session, product_id: int) -> Product:
    """A product of the session's tenant."""
    row = session.get(Product, product_id)
    if row is None:
        raise NotFound("product not found")
    return row


def _has_outputs(session: Session, product_id: int) -> bool:
    found = session.scalar(
        select(ProductOutput.id).where(ProductOutput.product_id == product_id).limit(1)
    )
    return found is not None


def _check_product(session: Session, values: Mapping[str, Any], own: Product | None) -> None:
    other = session.scalar(select(Product.id).where(Product.code == values["code"]))
    if other is not None and (own is None or other != own.id):
        raise Conflict("a product with this code exists", fields={"code": ["already in use"]})
    check_unit_id(session, values["unit_id"])
    point_id = values["point_id"]
    if point_id is None:
        return
    point = session.get(Point, point_id)
    if point is None:
        raise _invalid("point_id", "no such point")
    if point.kind != PointKind.CUMULATIVE:
        raise _invalid("point_id", "output is read from a cumulative point (a counter)")
    if not same_measure(point.unit, values["unit"]):
        raise _invalid("point_id", f"the point measures {point.unit}, not {values['unit']}")
    if own is not None and own.point_id is None and _has_outputs(session, own.id):
        raise _invalid("point_id", "the product has entered outputs; remove them first")


def create_product(session: Session, data: Mapping[str, Any]) -> Product:
    """Add a product."""
    values = {name: data.get(name) for name in PRODUCT_FIELDS}
    _check_product(session, values, None)
    row = Product(**values)
    session.add(row)
    session.flush()
    return row


def update_product(session: Session, row: Product, data: Mapping[str, Any]) -> Product:
    """Replace a product's fields."""
    values = {name: data.get(name) for name in PRODUCT_FIELDS}
    _check_product(session, values, row)
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    return row


def delete_product(session: Session, row: Product) -> None:
    """Remove a product that has no recorded output."""
    if _has_outputs(session, row.id):
        raise Conflict("the product has recorded outputs; remove them first")
    session.delete(row)
    session.flush()


# --- outputs ------------------------------------------------------------------------------


def access_output(session: Session, output_id: int) -> ProductOutput:
    """An output record of the session's tenant."""
    row = session.get(ProductOutput, output_id)
    if row is None:
        raise NotFound("output not found")
    return row


def overlapping_output(
    session: Session, product_id: int, start: date, end: date, own_id: int | None
) -> ProductOutput | None:
    """Another output record of the product whose period meets [start, end)."""
    stmt = select(ProductOutput).where(
        ProductOutput.product_id == product_id,
        ProductOutput.period_from < end,
        ProductOutput.period_to > start,
    )
    if own_id is not None:
        stmt = stmt.where(ProductOutput.id != own_id)
    return session.scalars(stmt.limit(1)).first()


def writable_product(session: Session, product_id: int) -> Product:
    """The product output is entered for: it must exist and not be read from a point."""
    product = session.get(Product, product_id)
    if product is None:
        raise _invalid("product_id", "no such product")
    if product.point_id is not None:
        raise _invalid("product_id", f"its output is read from point {product.point_id}")
    return product


def _check_output(session: Session, values: Mapping[str, Any], own_id: int | None) -> None:
    writable_product(session, values["product_id"])
    check_period(values["period_from"], values["period_to"], MAX_PERIOD_DAYS)
    clash = overlapping_output(
        session, values["product_id"], values["period_from"], values["period_to"], own_id
    )
    if clash is not None:
        message = f"overlaps output {clash.id} ({clash.period_from} to {clash.period_to})"
        raise Conflict(message, fields={"period_from": [message], "period_to": [message]})


def create_output(
    session: Session, data: Mapping[str, Any], source: str = OutputSource.ENTERED
) -> ProductOutput:
    """Record a product's output over local days [period_from, period_to)."""
    values = {name: data.get(name) for name in OUTPUT_FIELDS}
    _check_output(session, values, None)
    row = ProductOutput(**values, source=source, entered_by=current_actor.get().name)
    session.add(row)
    session.flush()
    return row


def update_output(
    session: Session, row: ProductOutput, data: Mapping[str, Any], source: str | None = None
) -> ProductOutput:
    """Replace an output record (the audit log keeps what it was)."""
    values = {name: data.get(name) for name in OUTPUT_FIELDS}
    _check_output(session, values, row.id)
    for name, value in values.items():
        setattr(row, name, value)
    row.entered_by = current_actor.get().name
    if source is not None:
        row.source = source
    session.flush()
    return row


# --- output value and value added ---------------------------------------------------------


def access_value(session: Session, value_id: int) -> OutputValue:
    """An output value record of the session's tenant."""
    row = session.get(OutputValue, value_id)
    if row is None:
        raise NotFound("output value not found")
    return row


def _check_value(session: Session, values: Mapping[str, Any], own_id: int | None) -> None:
    constant = values["price_basis"] == PriceBasis.CONSTANT
    if constant != (values["base_year"] is not None):
        raise _invalid("base_year", "required for constant prices, and only for them")
    check_period(values["period_from"], values["period_to"], MAX_PERIOD_DAYS)
    stmt = select(OutputValue).where(
        OutputValue.kind == values["kind"],
        OutputValue.price_basis == values["price_basis"],
        OutputValue.period_from < values["period_to"],
        OutputValue.period_to > values["period_from"],
    )
    if constant:
        stmt = stmt.where(OutputValue.base_year == values["base_year"])
    if own_id is not None:
        stmt = stmt.where(OutputValue.id != own_id)
    clash = session.scalars(stmt.limit(1)).first()
    if clash is not None:
        message = f"overlaps record {clash.id} ({clash.period_from} to {clash.period_to})"
        raise Conflict(message, fields={"period_from": [message], "period_to": [message]})


def create_value(session: Session, data: Mapping[str, Any]) -> OutputValue:
    """Record an output value or value added (10^4 CNY) over [period_from, period_to)."""
    values = {name: data.get(name) for name in VALUE_FIELDS}
    _check_value(session, values, None)
    row = OutputValue(**values, entered_by=current_actor.get().name)
    session.add(row)
    session.flush()
    return row


def update_value(session: Session, row: OutputValue, data: Mapping[str, Any]) -> OutputValue:
    """Replace an output value record."""
    values = {name: data.get(name) for name in VALUE_FIELDS}
    _check_value(session, values, row.id)
    for name, value in values.items():
        setattr(row, name, value)
    row.entered_by = current_actor.get().name
    session.flush()
    return row


@register_delete_guard
def _unit_in_use(session: Session, unit: Unit) -> str | None:
    """A unit that products or manual quantities name cannot be removed."""
    for model, what in ((Product, "products"), (ManualQuantity, "manual quantities")):
        if session.scalar(select(model.id).where(model.unit_id == unit.id).limit(1)) is not None:
            return f"{what} refer to the unit; change them first"
    return None
