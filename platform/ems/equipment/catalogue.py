"""The shared code tables the equipment ledger refers to: classes, monitoring items, energy
types. Read from the control schema; a tenant cannot change them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.energy.models import EnergyType
from ems.equipment.models import EquipmentClass, MonitoringItem
from ems.errors import InvalidInput


def classes(session: Session) -> list[EquipmentClass]:
    """Every equipment class, in the standard's order."""
    return list(
        session.scalars(
            select(EquipmentClass).order_by(EquipmentClass.sort_order, EquipmentClass.code)
        )
    )


def items_of(session: Session, class_code: str) -> list[MonitoringItem]:
    """The monitoring items table 4.5.3 lists for a class (none for classes it omits)."""
    return list(
        session.scalars(
            select(MonitoringItem)
            .where(MonitoringItem.class_code == class_code)
            .order_by(MonitoringItem.sort_order, MonitoringItem.code)
        )
    )


def check_class(session: Session, code: str, field: str = "class_code") -> EquipmentClass:
    """The class ``code``; an unknown one names ``field``."""
    row = session.get(EquipmentClass, code)
    if row is None:
        raise InvalidInput(
            f"unknown equipment class {code!r}",
            fields={field: ["not an equipment class; see GET /equipment-classes"]},
        )
    return row


def check_energy_types(session: Session, codes: list[str], field: str = "energy_types") -> None:
    """Every code is in the energy catalogue, and none repeats."""
    known = set(session.scalars(select(EnergyType.code).where(EnergyType.code.in_(codes))))
    for index, code in enumerate(codes):
        if code not in known:
            raise InvalidInput(
                f"unknown energy type {code!r}",
                fields={f"{field}.{index}": ["not in the energy catalogue (GET /energy-types)"]},
            )
    if len(set(codes)) != len(codes):
        raise InvalidInput("an energy type repeats", fields={field: ["each type once"]})


@dataclass(frozen=True)
class Names:
    """Words a ledger file may use for classes and energy types, and the words written back."""

    class_by_word: Mapping[str, str]
    class_word: Mapping[str, str]
    energy_by_word: Mapping[str, str]
    energy_word: Mapping[str, str]


def names(session: Session) -> Names:
    """Chinese names, codes and aliases of classes; Chinese names and codes of energy types."""
    class_by_word: dict[str, str] = {}
    class_word: dict[str, str] = {}
    for row in classes(session):
        class_word[row.code] = row.name_zh
        for word in (row.code, row.name_zh, row.name_en, *(row.aliases or "").split("|")):
            if word:
                class_by_word.setdefault(word.strip().lower(), row.code)
    energy_by_word: dict[str, str] = {}
    energy_word: dict[str, str] = {}
    for kind in session.scalars(select(EnergyType).order_by(EnergyType.code)):
        energy_word[kind.code] = kind.name_zh
        energy_by_word[kind.code.lower()] = kind.code
        energy_by_word[kind.name_zh.lower()] = kind.code
    return Names(class_by_word, class_word, energy_by_word, energy_word)
