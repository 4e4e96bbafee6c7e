"""Table A.2 as a file: export, and import that creates or updates people, all or nothing.

Which person a row is: the one holding its 证书编号 (certificate number); a row
without one, or whose number nobody holds yet, is the one person *without* a
certificate number who has the row's 姓名 and 联系电话 (name and phone). Anything
else is a new person. So a re-imported export updates everyone in place, and a
person who has since obtained a certificate keeps their row. Two rows of one file
naming the same person, or a row matching several people, refuse the file.
序号 is the row number: written on export, ignored on import.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems import tabular
from ems.personnel.models import Person
from ems.personnel.schemas import PHONE
from ems.personnel.services import FIELDS

SEX_PARSE, SEX_WRITE = tabular.choice({"male": "男", "female": "女"})
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
WHAT = "the personnel file"


def _pattern(max_length: int, pattern: re.Pattern[str], what: str) -> tabular.Parser:
    text = tabular.text(max_length)

    def parse(value: Any) -> str:
        out = str(text(value))
        if not pattern.match(out):
            raise tabular.CellError(f"not {what}: {out!r}")
        return out

    return parse


def _column(
    key: str, heading: str, english: str, parse: tabular.Parser, **kw: Any
) -> tabular.Column:
    return tabular.Column(key, heading, english, parse, **kw)


COLUMNS = [
    _column("seq", "序号", "No.", tabular.text(16)),
    _column("name", "姓名", "Name", tabular.text(50), required=True),
    _column("sex", "性别", "Sex", SEX_PARSE, format=SEX_WRITE),
    _column("department", "工作部门", "Department", tabular.text(100)),
    _column("position", "职位或岗位", "Position", tabular.text(100)),
    _column("professional_title", "职称", "Professional title", tabular.text(50)),
    _column("education", "最高学历", "Highest education", tabular.text(50)),
    _column("school", "毕业院校", "School", tabular.text(100)),
    _column("qualification", "计量专业取证", "Metrology qualification", tabular.text(200)),
    _column("certificate_number", "证书编号", "Certificate number", tabular.text(64)),
    _column("training", "专业培训", "Training", tabular.text(500)),
    _column("training_body", "培训机构", "Training body", tabular.text(200)),
    _column("phone", "联系电话", "Phone", _pattern(32, re.compile(PHONE), "a phone number")),
    _column("email", "邮箱", "E-mail", _pattern(254, EMAIL, "an e-mail address")),
    _column("remarks", "备注", "Remarks", tabular.text(1000)),
]
HEADINGS = {c.key: c.heading for c in COLUMNS}


def export(session: Session, fmt: str) -> tuple[bytes, str]:
    """The whole ledger as ``fmt`` (csv or xlsx), in the order people were entered."""

    def records() -> Iterator[dict[str, Any]]:
        for seq, person in enumerate(session.scalars(select(Person).order_by(Person.id)), 1):
            yield {"seq": seq, **{k: getattr(person, k) for k in FIELDS}}

    return tabular.export(records(), COLUMNS, fmt=fmt, title="计量人员 A.2")


@dataclass
class ImportResult:
    """What an import did."""

    created: int
    updated: int
    rows: int


class _Matcher:
    """Finds the existing person a row is (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        people = list(session.scalars(select(Person)))
        self.by_certificate = {p.certificate_number: p for p in people if p.certificate_number}
        self.by_contact: dict[tuple[str, str | None], list[Person]] = {}
        for p in people:
            if not p.certificate_number:
                self.by_contact.setdefault((p.name, p.phone), []).append(p)

    def match(self, record: dict[str, Any]) -> Person | None:
        number = record.get("certificate_number")
        if number and number in self.by_certificate:
            return self.by_certificate[number]
        candidates = self.by_contact.get((record["name"], record.get("phone")), [])
        if len(candidates) > 1:
            raise tabular.CellError(
                f"{len(candidates)} people are named {record['name']!r} with this phone and "
                "no certificate number; tell them apart in the ledger first"
            )
        return candidates[0] if candidates else None


def import_file(session: Session, data: bytes, filename: str) -> ImportResult:
    """Create or update every person of the file, or nothing (errors name row and column)."""
    records = tabular.read_table(data, filename, COLUMNS, what=WHAT)
    matcher = _Matcher(session)
    problems = tabular.Problems()
    plan: list[tuple[Person | None, dict[str, Any]]] = []
    claimed: dict[int, int] = {}
    numbers: dict[str, int] = {}
    for row, record in records:
        number = record.get("certificate_number")
        if number and number in numbers:
            problems.add(row, "certificate_number", f"repeats row {numbers[number]}", "证书编号")
            continue
        if number:
            numbers[number] = row
        try:
            person = matcher.match(record)
        except tabular.CellError as exc:
            problems.add(row, "name", str(exc), "姓名")
            continue
        if person is not None:
            if person.id in claimed:
                problems.add(row, "name", f"the same person as row {claimed[person.id]}", "姓名")
                continue
            claimed[person.id] = row
        plan.append((person, record))
    problems.raise_if_any(WHAT)
    return _apply(session, plan, len(records))


def _apply(
    session: Session, plan: list[tuple[Person | None, dict[str, Any]]], rows: int
) -> ImportResult:
    created = updated = 0
    for person, record in plan:
        values = {k: v for k, v in record.items() if k in FIELDS}
        if person is None:
            session.add(Person(**{k: values.get(k) for k in FIELDS}))
            created += 1
        else:
            # A column absent from the file leaves that field as it was.
            for key, value in values.items():
                setattr(person, key, value)
            updated += 1
    session.flush()
    return ImportResult(created=created, updated=updated, rows=rows)
