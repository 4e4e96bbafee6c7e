"""The mapping of the tenant's figures to combined codes (``upload_codes``), checked.

A mapping says which 16-digit code a figure is uploaded under, at which scope, and
where its value comes from (:class:`~ems.upload.models.Source` and its reference:
an energy type, a point or a product). It is checked against the code's own digits
(the scope they imply), the references (they exist, the source takes them), and the
registration's current dictionary version when one was downloaded. Without one, a
mapping is accepted and the coverage report (:mod:`ems.upload.coverage`) flags it.

The session is the tenant's; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.actuals.models import Product
from ems.energy.models import EnergyType
from ems.equipment.models import Equipment
from ems.errors import Conflict, InvalidInput, NotFound
from ems.org.models import Unit
from ems.telemetry.models import Point
from ems.upload import codes, profiles
from ems.upload.models import Scope, Source, UploadCode, UploadRegistration

CODE_FIELDS = (
    "code",
    "name",
    "scope",
    "unit_id",
    "equipment_id",
    "source",
    "energy_type",
    "point_id",
    "product_id",
    "input_type",
    "realtime",
    "day",
    "month",
    "year",
    "enabled",
)
# The reference each source takes (the others take none).
REFERENCES: Mapping[str, str] = {
    Source.CATEGORY: "energy_type",
    Source.POINT: "point_id",
    Source.OUTPUT: "product_id",
    Source.UNIT_CONSUMPTION: "product_id",
}
# Figures of the whole plant: uploaded under a whole-plant code only.
PLANT_SOURCES = frozenset(
    {Source.CATEGORY, Source.COMPREHENSIVE, Source.OUTPUT_VALUE, Source.VALUE_ADDED}
)
# Sources with 15-minute data (rollups); the others are figures of days and longer.
REALTIME_SOURCES = frozenset({Source.CATEGORY, Source.POINT})
SCOPE_NAMES = {
    Scope.PLANT: "whole plant",
    Scope.PROCESS: "process",
    Scope.PROCESS_UNIT: "process unit",
    Scope.EQUIPMENT: "key equipment",
}
_DEFAULTS = {
    "input_type": 2,
    "realtime": False,
    "day": True,
    "month": True,
    "year": True,
    "enabled": True,
}


def access_registration(session: Session, registration_id: int) -> UploadRegistration:
    """A registration of the session's tenant (another tenant's is simply not there)."""
    row = session.get(UploadRegistration, registration_id)
    if row is None:
        raise NotFound(f"upload registration {registration_id} not found")
    return row


def access_code(session: Session, code_id: int) -> UploadCode:
    """A mapped code of the session's tenant."""
    row = session.get(UploadCode, code_id)
    if row is None:
        raise NotFound(f"upload code {code_id} not found")
    return row


def code_dictionaries(registration: UploadRegistration) -> Mapping[str, int]:
    """Which dictionary holds digits 11-14 per data type, by the registration's profile."""
    try:
        return profiles.get(registration.profile).code_dictionaries
    except KeyError:
        return {}


def current_dictionary(
    session: Session, registration: UploadRegistration
) -> codes.Dictionary | None:
    """The registration's dictionary version in use, None before any was downloaded."""
    if registration.dic_version is None:
        return None
    found = codes.Dictionary.load(session, registration.id, registration.dic_version)
    return None if found.empty else found


class _Problems:
    """Every bad field of one write, collected so the answer names them all at once."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def raise_any(self) -> None:
        if self.fields:
            summary = "; ".join(f"{k}: {', '.join(v)}" for k, v in self.fields.items())
            raise InvalidInput(summary, fields=self.fields)


def _check_scope(session: Session, values: dict[str, Any], problems: _Problems) -> None:
    implied = codes.scope_of(values["code"])
    if values["scope"] is None:
        values["scope"] = implied
    elif values["scope"] != implied:
        problems.add(
            "scope",
            f"the code's digits say scope {implied} ({SCOPE_NAMES[Scope(implied)]}), "
            f"not {values['scope']}",
        )
    scope = values["scope"]
    if values["unit_id"] is None and scope in (Scope.PROCESS, Scope.PROCESS_UNIT):
        problems.add("unit_id", "required for a process or process-unit code")
    elif values["unit_id"] is not None and scope == Scope.PLANT:
        problems.add("unit_id", "a whole-plant code names no unit")
    elif values["unit_id"] is not None and session.get(Unit, values["unit_id"]) is None:
        problems.add("unit_id", f"no unit {values['unit_id']}")
    if values["equipment_id"] is None and scope == Scope.EQUIPMENT:
        problems.add("equipment_id", "required for a key-equipment code")
    elif values["equipment_id"] is not None and scope != Scope.EQUIPMENT:
        problems.add("equipment_id", "only a key-equipment code (scope 4) names equipment")
    elif (
        values["equipment_id"] is not None
        and session.get(Equipment, values["equipment_id"]) is None
    ):
        problems.add("equipment_id", f"no equipment {values['equipment_id']}")


_KINDS: Mapping[str, type] = {"energy_type": EnergyType, "point_id": Point, "product_id": Product}
_WHAT = {"energy_type": "energy type", "point_id": "point", "product_id": "product"}


def _check_source(session: Session, values: dict[str, Any], problems: _Problems) -> None:
    source = values["source"]
    wanted = REFERENCES.get(source)
    for name, model in _KINDS.items():
        value = values[name]
        if name == wanted and value is None:
            problems.add(name, f"required for source {source}")
        elif name != wanted and value is not None:
            takes = [str(s) for s, ref in REFERENCES.items() if ref == name]
            problems.add(name, f"only for source {' or '.join(takes)}, not {source}")
        elif value is not None and session.get(model, value) is None:
            problems.add(name, f"no {_WHAT[name]} {value!r}")
    if values["realtime"] and source not in REALTIME_SOURCES:
        problems.add("realtime", f"source {source} has no 15-minute data (only category, point)")
    if source in PLANT_SOURCES and values["scope"] != Scope.PLANT:
        problems.add("source", f"source {source} is a whole-plant figure: scope 1 only")
    item = codes.split(values["code"])["item"]
    if item == codes.COMPREHENSIVE and source != Source.COMPREHENSIVE:
        problems.add("source", "code 0000 is comprehensive consumption: source comprehensive")
    elif source == Source.COMPREHENSIVE and item != codes.COMPREHENSIVE:
        problems.add("source", "comprehensive consumption is code 0000 in digits 11-14")


def _clean(
    session: Session, registration: UploadRegistration, data: Mapping[str, Any], own_id: int | None
) -> dict[str, Any]:
    values = {name: data.get(name) for name in CODE_FIELDS}
    for name, default in _DEFAULTS.items():
        if values[name] is None:
            values[name] = default
    digits = values["code"] = codes.normalise(str(values["code"] or ""))
    problems = _Problems()
    dictionary = current_dictionary(session, registration)
    if dictionary is None:
        found = codes.structure_problems(digits)
    else:
        found = dictionary.check(digits, code_dictionaries(registration))
    for problem in found:
        problems.add("code", problem)
    _check_scope(session, values, problems)
    _check_source(session, values, problems)
    problems.raise_any()
    clash = session.scalar(
        select(UploadCode.id).where(
            UploadCode.registration_id == registration.id, UploadCode.code == values["code"]
        )
    )
    if clash is not None and clash != own_id:
        raise Conflict(
            f"code {values['code']} is already mapped on this registration",
            fields={"code": ["already mapped"]},
        )
    return values


def create_code(
    session: Session, registration: UploadRegistration, data: Mapping[str, Any]
) -> UploadCode:
    """Map a figure to a code of ``registration``."""
    row = UploadCode(registration_id=registration.id, **_clean(session, registration, data, None))
    session.add(row)
    session.flush()
    return row


def update_code(session: Session, row: UploadCode, data: Mapping[str, Any]) -> UploadCode:
    """Replace a mapping's fields (its registration stays)."""
    registration = access_registration(session, row.registration_id)
    for name, value in _clean(session, registration, data, row.id).items():
        setattr(row, name, value)
    session.flush()
    return row


def delete_code(session: Session, row: UploadCode) -> None:
    """Remove a mapping. Its queued items stay (they keep the code's digits; ``code_id``
    becomes NULL), so nothing queued is dropped."""
    session.delete(row)
    session.flush()
