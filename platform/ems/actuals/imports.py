"""Import of product output from a spreadsheet (CSV or XLSX): every row is checked first, and
nothing is written unless every row passes.

The file is read by :mod:`ems.tabular` (the ledgers' reader): a heading row, then one record
per row; headings in Chinese, English or as the field names; CSV in UTF-8 or GB 18030.
Errors are keyed ``rows[N].field`` with N the row as the spreadsheet shows it (the heading is
row 1). A row for a product and exactly the period of an existing record replaces it
(re-importing a corrected month); one that only overlaps an existing record, or another row
of the file, is an error.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems import tabular
from ems.actuals.manual import check_period
from ems.actuals.models import OutputSource, Product, ProductOutput
from ems.actuals.production import (
    MAX_PERIOD_DAYS,
    create_output,
    overlapping_output,
    update_output,
)
from ems.errors import InvalidInput

MAX_QUANTITY = Decimal(10) ** 12
MAX_PLACES = 6
WHAT = "the output file"


def _quantity(value: Any) -> Decimal:
    amount: Decimal = tabular.number(minimum=Decimal(0))(value)
    if amount > MAX_QUANTITY:
        raise tabular.CellError(f"at most {MAX_QUANTITY}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PLACES:
        raise tabular.CellError(f"at most {MAX_PLACES} decimal places")
    return amount


COLUMNS = (
    tabular.Column("product_code", "产品代码", "Product code", tabular.text(32), required=True),
    tabular.Column("period_from", "起始日期", "From", tabular.day, required=True),
    tabular.Column(
        "period_to",
        "截止日期(不含)",
        "To (exclusive)",
        tabular.day,
        required=True,
        aliases=("截止日期",),
    ),
    tabular.Column("quantity", "合格产品产量", "Qualified output", _quantity, required=True),
    tabular.Column("note", "备注", "Note", tabular.text(2000)),
)
HEADINGS = {column.key: column.heading for column in COLUMNS}


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote."""

    created: int
    replaced: int


@dataclass
class _Row:
    number: int
    product: Product
    period_from: date
    period_to: date
    quantity: Decimal
    note: str | None


def _checked(
    session: Session, number: int, record: dict[str, Any], problems: tabular.Problems
) -> _Row | None:
    """The row if every cell and reference is right; else its problems are recorded."""
    product: Product | None = None
    code = record.get("product_code")
    if code:
        product = session.scalar(select(Product).where(Product.code == code))
        if product is None:
            problems.add(number, "product_code", "no such product", HEADINGS["product_code"])
        elif product.point_id is not None:
            why = f"its output is read from point {product.point_id}"
            problems.add(number, "product_code", why, HEADINGS["product_code"])
    start, end = record.get("period_from"), record.get("period_to")
    if start is not None and end is not None:
        try:
            check_period(start, end, MAX_PERIOD_DAYS)
        except InvalidInput as problem:
            for key, messages in problem.fields.items():
                problems.add(number, key, "; ".join(messages), HEADINGS.get(key, key))
    if product is None or any(key.startswith(f"rows[{number}].") for key in problems.fields):
        return None
    return _Row(
        number,
        product,
        record["period_from"],
        record["period_to"],
        record["quantity"],
        record.get("note") or None,
    )


def _overlaps_in_file(rows: list[_Row], problems: tabular.Problems) -> None:
    by_product: dict[int, list[_Row]] = {}
    for row in rows:
        by_product.setdefault(row.product.id, []).append(row)
    for group in by_product.values():
        group.sort(key=lambda r: (r.period_from, r.period_to))
        for before, after in itertools.pairwise(group):
            if after.period_from < before.period_to:
                why = f"overlaps row {before.number} of the same product"
                problems.add(after.number, "period_from", why, HEADINGS["period_from"])


def parse(session: Session, content: bytes, filename: str) -> list[_Row]:
    """Every row of the file, checked; raises InvalidInput naming each bad row and column."""
    problems = tabular.Problems()
    records = tabular.read_table(content, filename, COLUMNS, what=WHAT, problems=problems)
    rows = [row for n, r in records if (row := _checked(session, n, r, problems)) is not None]
    if not records:
        raise InvalidInput(f"{WHAT} has no data rows", fields={"file": ["no data rows"]})
    _overlaps_in_file(rows, problems)
    problems.raise_if_any(WHAT)
    return rows


def import_outputs(session: Session, content: bytes, filename: str) -> ImportResult:
    """Import product output, all or nothing (the caller's transaction)."""
    rows = parse(session, content, filename)
    problems = tabular.Problems()
    replace: list[tuple[_Row, ProductOutput]] = []
    for row in rows:
        clash = overlapping_output(session, row.product.id, row.period_from, row.period_to, None)
        if clash is None:
            continue
        if (clash.period_from, clash.period_to) == (row.period_from, row.period_to):
            replace.append((row, clash))
        else:
            why = f"overlaps output {clash.id} ({clash.period_from} to {clash.period_to})"
            problems.add(row.number, "period_from", why, HEADINGS["period_from"])
    problems.raise_if_any(WHAT)
    # Every row passed, so these writes cannot fail on input; if the database refuses
    # anything, the request answers an error and its transaction rolls back whole.
    replaced = {row.number for row, _ in replace}
    for row, existing in replace:
        update_output(session, existing, _values(row), OutputSource.IMPORTED)
    for row in rows:
        if row.number not in replaced:
            create_output(session, _values(row), OutputSource.IMPORTED)
    return ImportResult(created=len(rows) - len(replace), replaced=len(replace))


def _values(row: _Row) -> dict[str, Any]:
    return {
        "product_id": row.product.id,
        "period_from": row.period_from,
        "period_to": row.period_to,
        "quantity": row.quantity,
        "note": row.note,
    }
