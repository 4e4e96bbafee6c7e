"""The code dictionaries the simulated platform serves, and the combined-code check against them.

The starting tables are ``data/dictionaries.json``: SIMULATED test dictionaries, invented in the
shape of the real ones (GB/T 37947 item numbering), not the official code tables.

A :class:`Dictionaries` value is never changed in place: a change builds a new one, so a request
can check every row of its batch against one consistent version without holding the lock.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ems_provsim.errors import Refusal

DATA_FILE = Path(__file__).with_name("data") / "dictionaries.json"
ITEMS = range(1, 18)

_HYPHENATED = re.compile(r"(\d{2})-(\d{2})-(\d{4})-(\d{6})-(\d{2})")
_PLAIN = re.compile(r"\d{16}")

Entry = dict[str, Any]


@dataclass(frozen=True)
class Dictionaries:
    """One version of all 17 items, with the lookups the code check needs."""

    version: int
    items: dict[int, list[Entry]]
    _codes: dict[int, set[str]] = field(init=False, repr=False, compare=False)
    _units: set[tuple[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = {item: {str(e["code"]) for e in self.items.get(item, [])} for item in ITEMS}
        units = {(str(e.get("parent")), str(e["code"])) for e in self.items.get(4, [])}
        object.__setattr__(self, "_codes", codes)
        object.__setattr__(self, "_units", units)

    def has(self, item: int, code: str) -> bool:
        """Whether ``code`` is in dictionary ``item``."""
        return code in self._codes.get(item, set())

    def entry(self, item: int, code: str) -> Entry | None:
        """The first entry of ``item`` with that code."""
        return next((e for e in self.items.get(item, []) if e["code"] == code), None)

    def has_unit(self, process: str, unit: str) -> bool:
        """Whether process unit ``unit`` belongs to process ``process`` (item 4's parent)."""
        return (process, unit) in self._units

    def changed(self, changes: Mapping[str, Any] | None) -> Dictionaries:
        """The next version, with ``changes`` applied (see :func:`apply_changes`)."""
        return Dictionaries(self.version + 1, apply_changes(self.items, changes or {}))


def load_dictionaries(path: Path = DATA_FILE) -> Dictionaries:
    """The starting tables from the data file."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = {int(item): entries for item, entries in raw["items"].items()}
    return Dictionaries(int(raw["dicVersion"]), items)


def _entry_key(item: int, entry: Mapping[str, Any]) -> tuple[str, str]:
    # Item 4's codes repeat under different processes: a unit is its parent plus its code.
    return (str(entry.get("parent", "")) if item == 4 else "", str(entry["code"]))


def apply_changes(
    items: dict[int, list[Entry]], changes: Mapping[str, Any]
) -> dict[int, list[Entry]]:
    """A copy of ``items`` changed by ``{item: [entries], "remove": {item: [codes]}}``.

    Items may be ints or digit strings (a JSON body has only strings); entries replace the one
    with the same code (and, in item 4, the same parent).
    """
    result = copy.deepcopy(items)
    for raw_item, entries in changes.items():
        if raw_item == "remove":
            continue
        item = _item_number(raw_item)
        current = result.setdefault(item, [])
        for new in entries:
            if not isinstance(new, Mapping) or "code" not in new:
                raise ValueError(f"item {item}: every entry needs a code")
            key = _entry_key(item, new)
            current[:] = [e for e in current if _entry_key(item, e) != key]
            current.append(dict(new))
    for raw_item, codes in dict(changes.get("remove", {})).items():
        item = _item_number(raw_item)
        drop = {str(code) for code in codes}
        result[item] = [e for e in result.get(item, []) if str(e["code"]) not in drop]
    return result


def _item_number(raw: object) -> int:
    item = int(str(raw))
    if item not in ITEMS:
        raise ValueError(f"no dictionary item {raw!r} (1..17)")
    return item


@dataclass(frozen=True)
class CodeCheck:
    """What the code check found: the 16 digits and the entry of digits 11-14 (for precision)."""

    digits: str
    entry: Entry


def check_code(
    code: object, code_format: str, code_dictionaries: Mapping[str, int], dicts: Dictionaries
) -> CodeCheck:
    """Check a combined code (组合编码) field by field; :class:`Refusal` names what is wrong.

    Layout (digits): 1-2 process (item 3), 3-4 process unit (item 4, "00" = all), 5-6 key
    equipment class (item 17), 7-8 equipment number ("00" when 5-6 is "00"), 9-10 data type
    (item 7), 11-14 energy/medium/product/indicator (the item ``code_dictionaries`` names for
    9-10), 15-16 use (item 14).
    """
    if not isinstance(code, str):
        raise Refusal(f"数据编码格式错误：{code}")
    if code_format == "hyphenated":
        if not _HYPHENATED.fullmatch(code):
            raise Refusal(f"数据编码格式错误：{code}")
        digits = code.replace("-", "")
    else:
        if not _PLAIN.fullmatch(code):
            raise Refusal(f"数据编码格式错误：{code}")
        digits = code
    process, unit, equipment, number = digits[0:2], digits[2:4], digits[4:6], digits[6:8]
    data_type, subject, use = digits[8:10], digits[10:14], digits[14:16]
    subject_item = code_dictionaries.get(data_type)
    entry = dicts.entry(subject_item, subject) if subject_item is not None else None
    known = (
        dicts.has(3, process)
        and (unit == "00" or dicts.has_unit(process, unit))
        and dicts.has(17, equipment)
        and (equipment != "00" or number == "00")
        and dicts.has(7, data_type)
        and entry is not None
        and dicts.has(14, use)
    )
    if not known or entry is None:
        raise Refusal(f"数据编码不存在：{code}")
    return CodeCheck(digits, entry)
