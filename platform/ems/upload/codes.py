"""The 16-digit combined code (组合编码, NHJC-02) and the platform's code dictionaries.

Layout (shared/reference/upload-protocol.md), written 2-2-4-6-2 when hyphenated::

    digits  1-2   process (工序, dictionary 3; 00 = whole plant)
            3-4   process unit (dictionary 4, child of the process; 00 = all)
            5-6   key equipment class (dictionary 17; 00 = not equipment)
            7-8   equipment number within the class (00 when 5-6 are 00)
            9-10  collected data type (dictionary 7)
            11-14 energy / medium / product / indicator code (the dictionary the
                  profile's ``code_dictionaries`` names for the data type; 0000 =
                  comprehensive energy consumption, data types 01 and 02 only)
            15-16 data use (dictionary 14)

The dictionaries are the platform's, downloaded per registration and kept per version
(``upload_dictionary_entries``): nothing here knows a code, it only looks them up.
Everything here is pure apart from :meth:`Dictionary.load`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.errors import InvalidInput
from ems.upload.models import DictionaryEntry, Scope

COMPREHENSIVE = "0000"
COMPREHENSIVE_TYPES = frozenset({"01", "02"})
PARTS = ("process", "unit", "equipment_class", "equipment_number", "data_type", "item", "use")
_SLICES = {
    "process": (0, 2),
    "unit": (2, 4),
    "equipment_class": (4, 6),
    "equipment_number": (6, 8),
    "data_type": (8, 10),
    "item": (10, 14),
    "use": (14, 16),
}
_PLAIN = re.compile(r"[0-9]{16}")
_HYPHENATED = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})-([0-9]{6})-([0-9]{2})")
# Item index -> what the protocol calls the table (for messages).
ITEM_NAMES = {
    1: "administrative regions",
    2: "industry codes",
    3: "process codes",
    4: "process-unit codes",
    5: "equipment codes",
    6: "data sources",
    7: "data types",
    8: "energy types",
    9: "energy-carrying media",
    10: "non-energy products",
    11: "efficiency indicators",
    12: "business indicators",
    13: "other data",
    14: "energy uses",
    15: "meter types",
    16: "enterprise types",
    17: "key equipment classes",
}
PROCESSES, UNITS, DATA_TYPES, USES, EQUIPMENT_CLASSES = 3, 4, 7, 14, 17
# A parent that matches every process (the simulated platform's "00 全部" unit).
ANY_PARENT = "*"


def split(digits: str) -> dict[str, str]:
    """The seven parts of a 16-digit code, by name (see :data:`PARTS`)."""
    return {name: digits[low:high] for name, (low, high) in _SLICES.items()}


def normalise(text: str, field_name: str = "code") -> str:
    """16 digits from ``text`` given as 16 digits or hyphenated 2-2-4-6-2."""
    text = text.strip()
    if _PLAIN.fullmatch(text):
        return text
    found = _HYPHENATED.fullmatch(text)
    if found:
        return "".join(found.groups())
    message = "a combined code is 16 digits, or 2-2-4-6-2 digits with hyphens"
    raise InvalidInput(f"{field_name}: {message}", fields={field_name: [message]})


def scope_of(digits: str) -> int:
    """The scope the digits say: equipment, process unit, process or whole plant."""
    parts = split(digits)
    if parts["equipment_class"] != "00":
        return Scope.EQUIPMENT
    if parts["unit"] != "00":
        return Scope.PROCESS_UNIT
    if parts["process"] != "00":
        return Scope.PROCESS
    return Scope.PLANT


def structure_problems(digits: str) -> list[str]:
    """What is wrong with the digits whatever the dictionaries say."""
    parts = split(digits)
    problems = []
    if parts["unit"] != "00" and parts["process"] == "00":
        problems.append("digits 3-4: a process unit needs its process in digits 1-2")
    if parts["equipment_class"] == "00" and parts["equipment_number"] != "00":
        problems.append("digits 7-8: must be 00 when digits 5-6 (equipment class) are 00")
    if parts["item"] == COMPREHENSIVE and parts["data_type"] not in COMPREHENSIVE_TYPES:
        problems.append(
            "digits 11-14: 0000 (comprehensive energy consumption) is only for data types 01, 02"
        )
    return problems


@dataclass(frozen=True)
class Entry:
    """One dictionary row as the checks need it."""

    item: int
    code: str
    parent: str
    name: str
    unit: str | None
    precision: int | None


@dataclass
class Dictionary:
    """The entries of one registration's dictionary version, read once."""

    registration_id: int
    version: str
    entries: dict[tuple[int, str], list[Entry]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, registration_id: int, version: str) -> Dictionary:
        """Every entry of ``version`` (a few hundred rows), in one query."""
        stmt = select(
            DictionaryEntry.item,
            DictionaryEntry.code,
            DictionaryEntry.parent,
            DictionaryEntry.name,
            DictionaryEntry.unit,
            DictionaryEntry.precision,
        ).where(
            DictionaryEntry.registration_id == registration_id,
            DictionaryEntry.version == version,
        )
        book = cls(registration_id, version)
        for item, code, parent, name, unit, precision in session.execute(stmt):
            entry = Entry(item, code, parent or "", name, unit, precision)
            book.entries.setdefault((item, code), []).append(entry)
        return book

    @property
    def empty(self) -> bool:
        """No entry at all: the version was never downloaded (or is not this one's)."""
        return not self.entries

    def lookup(self, item: int, code: str, parent: str | None = None) -> Entry | None:
        """The entry ``code`` of dictionary ``item`` (under ``parent`` when given)."""
        found = self.entries.get((item, code), [])
        if parent is None:
            return found[0] if found else None
        for entry in found:
            if entry.parent in (parent, ANY_PARENT, ""):
                return entry
        return None

    def _missing(self, digits: str, item: int, code: str, under: str = "") -> str:
        return (
            f"digits {digits}: {code} is not in dictionary {item} ({ITEM_NAMES[item]})"
            f"{under} of version {self.version}"
        )

    def check(self, digits: str, code_dictionaries: Mapping[str, int]) -> list[str]:
        """Every problem of ``digits`` against this version, in plain words (empty: valid)."""
        parts = split(digits)
        problems = structure_problems(digits)
        process, unit = parts["process"], parts["unit"]
        if process != "00" and self.lookup(PROCESSES, process) is None:
            problems.append(self._missing("1-2", PROCESSES, process))
        if unit != "00" and self.lookup(UNITS, unit, process) is None:
            problems.append(self._missing("3-4", UNITS, unit, f" under process {process}"))
        kind = parts["equipment_class"]
        if kind != "00" and self.lookup(EQUIPMENT_CLASSES, kind) is None:
            problems.append(self._missing("5-6", EQUIPMENT_CLASSES, kind))
        data_type = parts["data_type"]
        if self.lookup(DATA_TYPES, data_type) is None:
            problems.append(self._missing("9-10", DATA_TYPES, data_type))
        item = code_dictionaries.get(data_type)
        code = parts["item"]
        if item is None:
            problems.append(
                f"digits 11-14: the profile names no dictionary for data type {data_type}"
            )
        elif code != COMPREHENSIVE and self.lookup(item, code) is None:
            problems.append(self._missing("11-14", item, code))
        if self.lookup(USES, parts["use"]) is None:
            problems.append(self._missing("15-16", USES, parts["use"]))
        return problems

    def item_entry(self, digits: str, code_dictionaries: Mapping[str, int]) -> Entry | None:
        """The dictionary entry of digits 11-14 (None when there is none)."""
        parts = split(digits)
        item = code_dictionaries.get(parts["data_type"])
        return None if item is None else self.lookup(item, parts["item"])

    def precision_of(self, digits: str, code_dictionaries: Mapping[str, int]) -> int | None:
        """Decimal places the platform wants for the code's value (from digits 11-14)."""
        entry = self.item_entry(digits, code_dictionaries)
        return None if entry is None else entry.precision

    def unit_of(self, digits: str, code_dictionaries: Mapping[str, int]) -> str | None:
        """The unit the platform wants the code's value in (from digits 11-14).

        0000 without an entry of its own is comprehensive consumption: tce by definition.
        """
        entry = self.item_entry(digits, code_dictionaries)
        if entry is None:
            return "tce" if split(digits)["item"] == COMPREHENSIVE else None
        return entry.unit
