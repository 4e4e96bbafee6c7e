"""Table A.3 as a file: export, and import that creates or updates equipment, all or nothing.

A row is the equipment whose 设备编号 (number) it carries; a number the ledger does
not know is new equipment. Cells as the standard's template has them:

- 所属部门: text, kept as written; when it is exactly the code or the name of one
  organisation unit, the equipment is also linked to that unit.
- 设备分类: the class's Chinese name, code or a common alias (空压机); written back
  as the Chinese name.
- 能源种类: one or several energy types by Chinese name or code, separated by 、 , ;
  or /; written back as Chinese names joined by 、.
- 能源消耗量或功率, 配套机电设备功率: a number and its unit (``75 kW``, ``4 t/h``); a
  bare number stays a bare number.
- 是否特种设备: 是 / 否.

序号 is the row number: written on export, ignored on import. A column absent
from the file leaves that field of existing equipment as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems import tabular
from ems.equipment import catalogue
from ems.equipment.models import Equipment
from ems.equipment.schemas import MAX_EFFICIENCY, MAX_QUANTITY, UNIT
from ems.equipment.services import FIELDS
from ems.org.models import Unit

WHAT = "the equipment file"
_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*)$")
_UNIT = re.compile(UNIT)
_SEPARATORS = re.compile(r"\s*[、,，;；/]\s*")


@dataclass(frozen=True)
class Quantity:
    """A number with the unit written beside it (None for a bare number)."""

    value: Decimal
    unit: str | None


def quantity(value: Any) -> Quantity:
    """``75 kW``, ``4t/h``, ``2.5`` (a numeric cell is a bare number)."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Quantity(tabular.number(minimum=Decimal(0))(value), None)
    match = _QUANTITY.match(tabular.text(40)(value))
    if match is None:
        raise tabular.CellError("a number and its unit, e.g. 75 kW")
    amount = tabular.number(minimum=Decimal(0))(match.group(1))
    unit = match.group(2).strip() or None
    if amount > MAX_QUANTITY:
        raise tabular.CellError(f"at most {MAX_QUANTITY}")
    if unit is not None and not _UNIT.match(unit):
        raise tabular.CellError(f"{unit!r} is not a unit (at most 16 characters, e.g. kW, t/h)")
    return Quantity(amount, unit)


def write_quantity(value: Quantity) -> Any:
    return value.value if value.unit is None else f"{value.value} {value.unit}"


def _efficiency(value: Any) -> Decimal:
    out: Decimal = tabular.number(positive=True)(value)
    if out > MAX_EFFICIENCY:
        raise tabular.CellError(f"a ratio (0.85 for 85 %), at most {MAX_EFFICIENCY}")
    return out


def columns(session: Session, *, extended: bool = False) -> list[tabular.Column]:
    """The A.3 columns (and, ``extended``, the extra ones), with the tenant's code tables."""
    names = catalogue.names(session)

    def equipment_class(value: Any) -> str:
        word = tabular.text(64)(value)
        code = names.class_by_word.get(word.lower())
        if code is None:
            choices = "、".join(names.class_word.values())
            raise tabular.CellError(f"one of {choices}; got {word!r}")
        return code

    def energy_types(value: Any) -> list[str]:
        out: list[str] = []
        for word in _SEPARATORS.split(tabular.text(400)(value)):
            code = names.energy_by_word.get(word.lower()) if word else None
            if code is None:
                raise tabular.CellError(f"unknown energy type {word!r} (see GET /energy-types)")
            if code in out:
                raise tabular.CellError(f"{word!r} is named twice")
            out.append(code)
        return out

    def C(key: str, zh: str, en: str, parse: tabular.Parser, **kw: Any) -> tabular.Column:
        return tabular.Column(key, zh, en, parse, **kw)

    found = [
        C("seq", "序号", "No.", tabular.text(16)),
        C("department", "所属部门", "Department", tabular.text(100)),
        C("name", "设备名称", "Equipment name", tabular.text(100), required=True),
        C("number", "设备编号", "Equipment number", tabular.text(64), required=True),
        C("model", "型号规格", "Model", tabular.text(100)),
        C("location", "安装地点", "Location", tabular.text(200)),
        C(
            "class_code",
            "设备分类",
            "Equipment class",
            equipment_class,
            format=lambda code: names.class_word.get(code, code),
            required=True,
        ),
        C(
            "energy_types",
            "能源种类",
            "Energy types",
            energy_types,
            format=lambda codes: "、".join(names.energy_word.get(c, c) for c in codes) or None,
        ),
        C("rating", "能源消耗量或功率", "Consumption or power", quantity, format=write_quantity),
        C(
            "special",
            "是否特种设备",
            "Special equipment",
            tabular.yes_no,
            format=tabular.write_yes_no,
        ),
        C("attached_model", "配套机电设备型号", "Attached equipment model", tabular.text(100)),
        C(
            "attached_power",
            "配套机电设备功率",
            "Attached equipment power",
            quantity,
            format=write_quantity,
        ),
        C("remarks", "备注", "Remarks", tabular.text(1000)),
    ]
    if extended:
        found += [
            C("manufacturer", "生产厂家", "Manufacturer", tabular.text(200)),
            C("design_efficiency", "设计效率", "Design efficiency", _efficiency),
            C("target_efficiency", "目标效率", "Target efficiency", _efficiency),
        ]
    return found


def _record(row: Equipment, seq: int) -> dict[str, Any]:
    record: dict[str, Any] = {k: getattr(row, k) for k in FIELDS}
    record["seq"] = seq
    record["energy_types"] = row.energy_types or None
    for key, value, unit in (
        ("rating", row.rating_value, row.rating_unit),
        ("attached_power", row.attached_power_value, row.attached_power_unit),
    ):
        record[key] = None if value is None else Quantity(value, unit)
    return record


def export(session: Session, fmt: str, *, extended: bool = False) -> tuple[bytes, str]:
    """The whole ledger as ``fmt`` (csv or xlsx), in the order equipment was entered."""
    cols = columns(session, extended=extended)

    def records() -> Iterator[dict[str, Any]]:
        for seq, row in enumerate(session.scalars(select(Equipment).order_by(Equipment.id)), 1):
            yield _record(row, seq)

    return tabular.export(records(), cols, fmt=fmt, title="重点用能设备 A.3")


@dataclass
class ImportResult:
    """What an import did."""

    created: int
    updated: int
    rows: int


def _fields(
    record: Mapping[str, Any], units: Mapping[str, int], row: Equipment | None
) -> dict[str, Any]:
    """The model fields a parsed row sets (only those whose column the file has)."""
    values = {k: v for k, v in record.items() if k in FIELDS}
    if "energy_types" in record:
        values["energy_types"] = record["energy_types"] or []
    for key, value_field, unit_field in (
        ("rating", "rating_value", "rating_unit"),
        ("attached_power", "attached_power_value", "attached_power_unit"),
    ):
        if key in record:
            amount: Quantity | None = record[key]
            values[value_field] = amount.value if amount else None
            values[unit_field] = amount.unit if amount else None
    if "department" in record:
        department = record["department"]
        if department in units:
            values["unit_id"] = units[department]
        elif row is None or row.department != department:
            # A department no unit is named after; unchanged text keeps a link set by hand.
            values["unit_id"] = None
    return values


def _unit_words(session: Session) -> dict[str, int]:
    """Unit codes and names that name exactly one unit."""
    seen: dict[str, set[int]] = {}
    for unit in session.scalars(select(Unit)):
        for word in {unit.code, unit.name}:
            seen.setdefault(word, set()).add(unit.id)
    return {word: next(iter(ids)) for word, ids in seen.items() if len(ids) == 1}


def import_file(session: Session, data: bytes, filename: str) -> ImportResult:
    """Create or update every equipment row of the file, or nothing (errors: row and column)."""
    cols = columns(session, extended=True)
    records = tabular.read_table(data, filename, cols, what=WHAT)
    problems = tabular.Problems()
    numbers: dict[str, int] = {}
    for line, record in records:
        number = record.get("number")
        if number in numbers:
            problems.add(line, "number", f"repeats row {numbers[number]}", "设备编号")
        elif number:
            numbers[number] = line
    problems.raise_if_any(WHAT)
    existing = {e.number: e for e in session.scalars(select(Equipment))}
    units = _unit_words(session)
    created = updated = 0
    for _, record in records:
        row = existing.get(record["number"])
        values = _fields(record, units, row)
        if row is None:
            session.add(Equipment(**{"energy_types": [], **values}))
            created += 1
        else:
            for key, value in values.items():
                setattr(row, key, value)
            updated += 1
    session.flush()
    return ImportResult(created=created, updated=updated, rows=len(records))
