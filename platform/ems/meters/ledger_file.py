"""The meter ledger as a file: table A.1 of DB53/T 1026-2021, XLSX or CSV.

Columns 1-22 are the standard's, in its order and with its headings; the
platform's own follow (energy type, CT/PT ratio, factory number, site, unit,
gateway). Numbered enumerations (器具等级, 安装方, 接入系统) are written as their
number, as the provincial platforms' dictionaries have them, and read as the
number or the word; 目前状态 and 检定/校准状态 are written as the standard's
words. 序号 is the row's position on export and is ignored on import.

Import creates or updates by 管理编号 and is all or nothing: every row is parsed
(:func:`ems.tabular.read_table`) and checked against the catalogue, the sites,
units and gateways before anything is written; a bad file answers 422 with a
``rows[N].field`` key per bad cell, N the spreadsheet's row number. A column
absent from the file leaves that field of an existing meter as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ems import tabular
from ems.energy.models import EnergyType
from ems.meters import points, services
from ems.meters.models import Meter
from ems.meters.schemas import MAX_INTERVAL_MONTHS, MAX_RATIO
from ems.org.models import Unit
from ems.sites.models import Site

TITLE = "能源计量器具台账"


def _numbered(words: Mapping[int, str]) -> tuple[tabular.Parser, tabular.Formatter]:
    """A numbered enumeration: read as the number or the word, written as the number."""
    parse_word, _ = tabular.choice({str(n): word for n, word in words.items()})

    def parse(value: Any) -> int:
        return int(parse_word(value))

    return parse, int


def _words(words: Mapping[str, str]) -> tuple[tabular.Parser, tabular.Formatter]:
    return tabular.choice(words)


_INTERVAL = re.compile(r"^(\d+)\s*(个月|月|年)$")


def _interval(value: Any) -> int:
    """Months: a number, or text such as 12个月 or 1年."""
    if isinstance(value, str) and (found := _INTERVAL.match(value.strip())):
        months = int(found.group(1)) * (12 if found.group(2) == "年" else 1)
    else:
        months = tabular.integer()(value)
    if not 1 <= months <= MAX_INTERVAL_MONTHS:
        raise tabular.CellError(f"1 to {MAX_INTERVAL_MONTHS} months")
    return months


def _ratio(value: Any) -> Decimal:
    """A transformer ratio: a number (40) or primary/secondary (200/5)."""
    if isinstance(value, str) and "/" in value:
        primary, _, secondary = value.partition("/")
        high: Decimal = tabular.number(positive=True)(primary)
        low: Decimal = tabular.number(positive=True)(secondary)
        out = high / low
    else:
        out = tabular.number(positive=True)(value)
    if out > MAX_RATIO:
        raise tabular.CellError(f"at most {MAX_RATIO}")
    return out


def _type_code(value: Any) -> str:
    code: str = tabular.text(7)(value)
    if not re.fullmatch(r"\d{7}", code):
        raise tabular.CellError(f"a 7-digit JJF 1051 code, got {code!r}")
    return code


LEVEL = _numbered({1: "一级", 2: "二级", 3: "三级"})
INSTALLED_BY = _numbered({1: "用能单位", 2: "供能单位", 3: "第三方"})
CONNECTED = _numbered({1: "本单位系统", 2: "供能单位系统"})
STATE = _words({"normal": "正常", "faulty": "故障", "out_of_service": "停用"})
RESULT = _words({"pass": "合格", "fail": "不合格"})
C = tabular.Column

COLUMNS = (
    C("seq", "序号", "No.", tabular.text(20)),
    # Required of a new meter, checked per row: a file updating existing meters
    # may leave these columns out.
    C("name", "计量器具名称", "Instrument name", tabular.text(200)),
    C("type_code", "计量器具类型", "Instrument type (JJF 1051 code)", _type_code),
    C("level", "器具等级", "Metering level", *LEVEL),
    C("parameters", "计量相关参数", "Measured parameters", tabular.text(200)),
    C("model", "型号规格", "Model and specification", tabular.text(200)),
    C("accuracy_class", "准确度等级", "Accuracy class", tabular.text(32)),
    C("measuring_range", "测量范围", "Measuring range", tabular.text(100)),
    C("manufacturer", "生产厂家", "Manufacturer", tabular.text(200)),
    C("management_number", "管理编号", "Management number", tabular.text(64), required=True),
    C("location", "安装使用地点", "Installation location", tabular.text(200)),
    C("installed_by", "安装方", "Installed by", *INSTALLED_BY),
    C("installed_on", "安装时间", "Installation date", tabular.day),
    C("connected_system", "接入系统", "Connected system", *CONNECTED),
    C(
        "state",
        "目前状态",
        "State",
        *STATE,
        aliases=("目前状态(正常/故障/停用)", "目前状态（正常/故障/停用）"),
    ),
    C("state_since", "状态发生时间", "State since", tabular.day),
    C("verification_result", "检定/校准状态", "Verification result", *RESULT),
    C("verification_body", "检定/校准机构", "Verifying body", tabular.text(200)),
    C("interval_months", "检定/校准周期", "Interval (months)", _interval),
    C("last_verified_on", "最近一次检定/校准时间", "Last verified", tabular.day),
    C("next_due_on", "下一次检定/校准时间", "Next due", tabular.day),
    C("not_verified_reason", "未检定/校准原因", "Reason not verified", tabular.text(500)),
    # The platform's own columns, after the standard's.
    C("energy_type", "能源种类", "Energy type", tabular.text(64)),
    C("ct_ratio", "电流互感器变比", "CT ratio", _ratio),
    C("pt_ratio", "电压互感器变比", "PT ratio", _ratio),
    C("factory_number", "出厂编号", "Factory number", tabular.text(64)),
    C("site_code", "所属厂区", "Site code", tabular.text(32)),
    C("unit_code", "所属用能单元", "Unit code", tabular.text(32)),
    C("gateway_id", "接入网关", "Gateway", tabular.text(64)),
)
HEADINGS = {column.key: column.heading for column in COLUMNS}
# A reference that does not resolve is reported on the file's column, not the stored field.
FILE_FIELD = {"site_id": "site_code", "unit_id": "unit_code"}


@dataclass
class ImportOutcome:
    """What an import did (or, on a dry run, would do)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    linked_points: int = 0
    dry_run: bool = False


def _resolve_places(
    refs: services.References, record: dict[str, Any], values: dict[str, Any]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for code_key, id_key, lookup in (
        ("site_code", "site_id", refs.site_by_code),
        ("unit_code", "unit_id", refs.unit_by_code),
    ):
        if code_key not in record:
            continue
        code = record[code_key]
        row = lookup(code) if code is not None else None
        if code is not None and row is None:
            found[code_key] = f"no {code_key.split('_')[0]} with code {code!r}"
        values[id_key] = row.id if row is not None else None
    return found


def _checked(
    session: Session, records: list[tuple[int, dict[str, Any]]], problems: tabular.Problems
) -> list[tuple[dict[str, Any], Meter | None]]:
    """Each row's values and the meter it updates (None: a new one); all or nothing."""
    refs = services.References(session)
    existing = {m.management_number: m for m in session.scalars(select(Meter))}
    first_row: dict[str, int] = {}
    planned: list[tuple[dict[str, Any], Meter | None]] = []
    for row, record in records:
        number = record.get("management_number")
        if number is None:
            continue  # already reported: the key column is required
        if number in first_row:
            problems.add(
                row,
                "management_number",
                f"repeats row {first_row[number]}",
                HEADINGS["management_number"],
            )
        first_row.setdefault(number, row)
        data = {k: v for k, v in record.items() if k in services.FIELDS}
        found = _resolve_places(refs, record, data)
        if data.get("unit_id") is not None and "site_id" not in data:
            data["site_id"] = None  # the site follows the unit named
        meter = existing.get(number)
        for key, why in services.prepared(refs, data, meter)[1].items():
            found.setdefault(FILE_FIELD.get(key, key), why)
        for key, why in found.items():
            if f"rows[{row}].{key}" not in problems.fields:  # a bad cell is reported once
                problems.add(row, key, why, HEADINGS.get(key, key))
        planned.append((data, meter))
    problems.raise_if_any("the meter ledger")
    return planned


def import_ledger(session: Session, content: bytes, filename: str) -> ImportOutcome:
    """Create or update the meters of a ledger file (caller commits, or rolls back a dry run)."""
    problems = tabular.Problems()
    records = tabular.read_table(
        content, filename, COLUMNS, what="the meter ledger", problems=problems
    )
    planned = _checked(session, records, problems)
    outcome = ImportOutcome(rows=len(planned))
    refs = services.References(session)
    for data, meter in planned:
        if meter is None:
            services.save_meter(session, data, refs=refs, reason="导入 imported", link=False)
            outcome.created += 1
            continue
        before = {name: getattr(meter, name) for name in services.FIELDS}
        services.save_meter(session, data, meter, refs=refs, reason="导入 imported", link=False)
        changed = any(getattr(meter, name) != before[name] for name in services.FIELDS)
        outcome.updated += changed
        outcome.unchanged += not changed
    outcome.linked_points = points.auto_link(session)
    return outcome


def ledger_rows(session: Session, stmt: Select[Any]) -> Iterator[dict[str, Any]]:
    """The meters of ``stmt`` as file records, 序号 counting from 1."""
    energy = dict(session.execute(select(EnergyType.code, EnergyType.name_zh)).all())
    sites = dict(session.execute(select(Site.id, Site.code)).all())
    units = dict(session.execute(select(Unit.id, Unit.code)).all())
    meters: Iterator[Meter] = iter(session.scalars(stmt))
    for seq, meter in enumerate(meters, start=1):
        record: dict[str, Any] = {name: getattr(meter, name) for name in services.FIELDS}
        record.update(
            seq=seq,
            energy_type=energy.get(meter.energy_type or "", meter.energy_type),
            site_code=sites.get(meter.site_id) if meter.site_id else None,
            unit_code=units.get(meter.unit_id) if meter.unit_id else None,
        )
        yield record


def export_ledger(session: Session, stmt: Select[Any], fmt: str) -> tuple[bytes, str]:
    """The ledger file and its content type."""
    return tabular.export(ledger_rows(session, stmt), COLUMNS, fmt=fmt, title=TITLE)
