"""The meter ledger: validation, next due dates, state history, verification records.

The session passed in is bound to the tenant; nothing here commits (the request,
the CLI or the actor does). Checks return every problem of a meter at once
(:func:`problems`), so that the API names each bad field and an import names
each bad cell of a row.

Next due date (下一次检定/校准时间): the last verification date plus the interval
in months, on the same day of the month or the month's last day when it has no
such day (2025-01-31 + 1 month = 2025-02-28). A date given that differs from the
derived one is an override and is kept as given; a date equal to the derived one,
or none, follows the last date and interval.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ems.context import current_actor, current_tenant
from ems.energy.models import EnergyType
from ems.errors import Conflict, EmsError, InvalidInput, NotFound
from ems.meters import points
from ems.meters.models import (
    InstrumentClass,
    Meter,
    MeterState,
    MeterStateChange,
    Verification,
)
from ems.meters.reminders import SUBJECT
from ems.org import services as org_services
from ems.org.models import Unit
from ems.reminders.models import Reminder
from ems.sites.models import Site
from ems_tenants.models import Gateway

# The editable fields of a meter, in the order of table A.1, then the platform's own.
FIELDS = (
    "name",
    "type_code",
    "level",
    "parameters",
    "model",
    "accuracy_class",
    "measuring_range",
    "manufacturer",
    "management_number",
    "location",
    "installed_by",
    "installed_on",
    "connected_system",
    "state",
    "state_since",
    "verification_result",
    "verification_body",
    "interval_months",
    "last_verified_on",
    "next_due_on",
    "not_verified_reason",
    "site_id",
    "unit_id",
    "gateway_id",
    "energy_type",
    "ct_ratio",
    "pt_ratio",
    "factory_number",
)
DEFAULTS: Mapping[str, Any] = {"state": MeterState.NORMAL.value}


def add_months(start: date, months: int) -> date:
    """``start`` plus whole months, clamped to the last day of the target month."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def derived_next_due(last: date | None, interval_months: int | None) -> date | None:
    """Last verification plus the interval, or None when either is unknown."""
    if last is None or interval_months is None:
        return None
    return add_months(last, interval_months)


def access_meter(session: Session, meter_id: int) -> Meter:
    """A meter of the session's tenant (another tenant's ids are not in this schema)."""
    meter = session.get(Meter, meter_id)
    if meter is None:
        raise NotFound("meter not found")
    return meter


def _actor() -> str:
    return current_actor.get().name


def list_query(query: Mapping[str, Any]) -> Select[Any]:
    """The ledger, filtered (level, state, codes, places, due date, name or number), by id."""
    stmt = select(Meter).order_by(Meter.id)
    for name in ("level", "state", "type_code", "energy_type", "site_id", "unit_id"):
        if name in query:
            stmt = stmt.where(getattr(Meter, name) == query[name])
    if "due_by" in query:
        stmt = stmt.where(Meter.next_due_on <= query["due_by"])
    if "q" in query:
        like = "%" + query["q"].replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        stmt = stmt.where(or_(Meter.name.ilike(like), Meter.management_number.ilike(like)))
    return stmt


# --- checks ---------------------------------------------------------------------------------


@dataclass
class References:
    """Looks up what meters refer to, each value once (an import checks thousands of rows)."""

    session: Session
    _cache: dict[tuple[str, Any], Any] = field(default_factory=dict)

    def _get(self, kind: str, key: Any, load: Any) -> Any:
        if (kind, key) not in self._cache:
            self._cache[(kind, key)] = load()
        return self._cache[(kind, key)]

    def instrument_class(self, code: str) -> InstrumentClass | None:
        stmt = select(InstrumentClass).where(InstrumentClass.code == code)
        found: InstrumentClass | None = self._get("class", code, lambda: self.session.scalar(stmt))
        return found

    def energy_type(self, code_or_name: str) -> EnergyType | None:
        """By code (``electricity``) or by Chinese name (``电力``)."""
        stmt = select(EnergyType).where(
            (EnergyType.code == code_or_name) | (EnergyType.name_zh == code_or_name)
        )
        found: EnergyType | None = self._get(
            "energy", code_or_name, lambda: self.session.scalars(stmt).first()
        )
        return found

    def site(self, site_id: int) -> Site | None:
        found: Site | None = self._get("site", site_id, lambda: self.session.get(Site, site_id))
        return found

    def unit(self, unit_id: int) -> Unit | None:
        found: Unit | None = self._get("unit", unit_id, lambda: self.session.get(Unit, unit_id))
        return found

    def site_by_code(self, code: str) -> Site | None:
        stmt = select(Site).where(Site.code == code)
        found: Site | None = self._get("site_code", code, lambda: self.session.scalar(stmt))
        return found

    def unit_by_code(self, code: str) -> Unit | None:
        stmt = select(Unit).where(Unit.code == code)
        found: Unit | None = self._get("unit_code", code, lambda: self.session.scalar(stmt))
        return found

    def gateway(self, gateway_id: str) -> Gateway | None:
        tenant = current_tenant.get()
        if tenant is None:
            raise EmsError("checking a meter's gateway needs a bound tenant")
        row: Gateway | None = self._get(
            "gateway", gateway_id, lambda: self.session.get(Gateway, gateway_id)
        )
        return row if row is not None and row.tenant_id == tenant.id else None


def problems(refs: References, values: dict[str, Any]) -> dict[str, str]:
    """Every bad field of a meter's values, field -> why (empty when all is well).

    Fills ``site_id`` from the unit when only the unit is given.
    """
    found: dict[str, str] = {}
    for required in ("name", "level"):
        if values.get(required) is None:
            found[required] = "is required"
    code = values.get("type_code")
    if code is not None and refs.instrument_class(code) is None:
        found["type_code"] = f"{code} is not a JJF 1051 code of the catalogue"
    energy = values.get("energy_type")
    if energy is not None:
        row = refs.energy_type(energy)
        if row is None:
            found["energy_type"] = f"{energy!r} is not in the energy type catalogue"
        else:
            values["energy_type"] = row.code
    if values.get("gateway_id") is not None and refs.gateway(values["gateway_id"]) is None:
        found["gateway_id"] = "no such gateway"
    if values.get("site_id") is not None and refs.site(values["site_id"]) is None:
        found["site_id"] = "no such site"
    if values.get("unit_id") is not None:
        unit = refs.unit(values["unit_id"])
        if unit is None:
            found["unit_id"] = "no such unit"
        elif values.get("site_id") is None:
            values["site_id"] = unit.site_id
        elif values["site_id"] != unit.site_id:
            found["unit_id"] = "the unit belongs to another site"
    next_due, last = values.get("next_due_on"), values.get("last_verified_on")
    if next_due is not None and last is not None and next_due <= last:
        found["next_due_on"] = "must be after the last verification/calibration"
    return found


def _raise(found: dict[str, str]) -> None:
    if found:
        first = next(iter(found))
        raise InvalidInput(
            f"{first}: {found[first]}", fields={name: [why] for name, why in found.items()}
        )


def _unique_number(session: Session, number: str, own_id: int | None) -> None:
    other = session.scalar(select(Meter.id).where(Meter.management_number == number))
    if other is not None and other != own_id:
        raise Conflict(
            "a meter with this management number exists",
            fields={"management_number": ["already in use"]},
        )


# --- writes ---------------------------------------------------------------------------------


def merged(data: Mapping[str, Any], meter: Meter | None) -> dict[str, Any]:
    """The meter's values after ``data``: a field absent from ``data`` keeps its value."""
    return {
        name: data[name]
        if name in data
        else (getattr(meter, name) if meter is not None else DEFAULTS.get(name))
        for name in FIELDS
    }


def _settle_next_due(values: dict[str, Any], meter: Meter | None, given: bool) -> None:
    derived = derived_next_due(values["last_verified_on"], values["interval_months"])
    if not given and meter is not None and meter.next_due_overridden:
        values["next_due_on"], values["next_due_overridden"] = meter.next_due_on, True
    elif given and values["next_due_on"] is not None and values["next_due_on"] != derived:
        values["next_due_overridden"] = True
    else:
        values["next_due_on"], values["next_due_overridden"] = derived, False


def _sync_state(session: Session, meter: Meter, reason: str | None) -> None:
    """Make the newest history row say what the meter says: append, or correct its date."""
    latest = session.scalar(
        select(MeterStateChange)
        .where(MeterStateChange.meter_id == meter.id)
        .order_by(MeterStateChange.id.desc())
        .limit(1)
    )
    if latest is not None and latest.state == meter.state:
        if latest.since != meter.state_since:
            latest.since = meter.state_since  # a corrected date, not a new state
        return
    session.add(
        MeterStateChange(
            meter_id=meter.id,
            state=meter.state,
            since=meter.state_since,
            reason=reason,
            recorded_by=_actor(),
        )
    )


def prepared(
    refs: References, data: Mapping[str, Any], meter: Meter | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The meter's values after ``data`` (next due date settled) and every bad field."""
    values = merged(data, meter)
    _settle_next_due(values, meter, "next_due_on" in data)
    return values, problems(refs, values)


def save_meter(
    session: Session,
    data: Mapping[str, Any],
    meter: Meter | None = None,
    *,
    refs: References | None = None,
    reason: str | None = None,
    link: bool = True,
) -> Meter:
    """Create a meter, or change one: fields absent from ``data`` keep their value.

    Raises InvalidInput naming every bad field, Conflict on a used management number.
    """
    values, found = prepared(refs or References(session), data, meter)
    _raise(found)
    _unique_number(session, values["management_number"], meter.id if meter else None)
    if meter is None:
        meter = Meter(**values)
        session.add(meter)
    else:
        for name, value in values.items():
            if getattr(meter, name) != value:
                setattr(meter, name, value)
    try:
        session.flush()
    except IntegrityError as exc:
        # Two writers took the same number at once; the unique index caught the second.
        if "management_number" not in str(exc.orig):
            raise
        raise Conflict(
            "a meter with this management number exists",
            fields={"management_number": ["already in use"]},
        ) from None
    _sync_state(session, meter, reason)
    if link:
        points.auto_link(session, [meter])
    session.flush()
    return meter


def delete_meter(session: Session, meter: Meter) -> None:
    """Remove a meter with its history, records, links and reminders (counter bases stay)."""
    session.execute(
        delete(Reminder).where(Reminder.subject_type == SUBJECT, Reminder.subject_id == meter.id)
    )
    session.delete(meter)
    session.flush()


def change_state(
    session: Session, meter: Meter, state: str, since: date, reason: str | None
) -> MeterStateChange:
    """Record that the meter is ``state`` from ``since`` on (a fault, a repair, retirement)."""
    if meter.state_since is not None and since < meter.state_since:
        raise InvalidInput(
            "a state cannot begin before the current one",
            fields={"since": [f"the current state began on {meter.state_since.isoformat()}"]},
        )
    meter.state, meter.state_since = state, since
    session.flush()
    entry = MeterStateChange(
        meter_id=meter.id, state=state, since=since, reason=reason, recorded_by=_actor()
    )
    session.add(entry)
    session.flush()
    return entry


def state_history(session: Session, meter: Meter) -> list[MeterStateChange]:
    """The meter's states, newest first."""
    return list(
        session.scalars(
            select(MeterStateChange)
            .where(MeterStateChange.meter_id == meter.id)
            .order_by(MeterStateChange.id.desc())
        )
    )


def add_verification(session: Session, meter: Meter, data: Mapping[str, Any]) -> Verification:
    """Record a verification or calibration; the newest one sets the meter's dates and result.

    Its next due date is the one given (an override) or the date plus the meter's
    interval. A record older than the meter's last date is history only.
    """
    performed = data["performed_on"]
    given = data.get("next_due_on")
    if given is not None and given <= performed:
        raise InvalidInput(
            "the next due date must follow the verification",
            fields={"next_due_on": ["must be after performed_on"]},
        )
    derived = derived_next_due(performed, meter.interval_months)
    record = Verification(
        meter_id=meter.id,
        performed_on=performed,
        kind=data["kind"],
        result=data["result"],
        body=data.get("body"),
        certificate_number=data.get("certificate_number"),
        next_due_on=given or derived,
        note=data.get("note"),
        recorded_by=_actor(),
    )
    session.add(record)
    if meter.last_verified_on is None or performed >= meter.last_verified_on:
        meter.last_verified_on = performed
        meter.verification_result = data["result"]
        if data.get("body") is not None:
            meter.verification_body = data["body"]
        meter.next_due_on = record.next_due_on
        meter.next_due_overridden = given is not None and given != derived
        meter.not_verified_reason = None  # it has been verified now
    session.flush()
    return record


def verifications(session: Session, meter: Meter) -> list[Verification]:
    """The meter's verification and calibration records, newest first."""
    return list(
        session.scalars(
            select(Verification)
            .where(Verification.meter_id == meter.id)
            .order_by(Verification.performed_on.desc(), Verification.id.desc())
        )
    )


# --- other features' deletions --------------------------------------------------------------


def meters_on_unit(session: Session, unit: Unit) -> str | None:
    """Why a unit cannot be deleted: meters are placed on it (a delete guard of ems.org)."""
    count = session.scalar(select(func.count()).where(Meter.unit_id == unit.id))
    return (
        f"the unit has {count} meters in the ledger; move or remove them first" if count else None
    )


def meters_on_site(session: Session, site: Site) -> str | None:
    """Why a site cannot be deleted: meters are placed on it."""
    count = session.scalar(select(func.count()).where(Meter.site_id == site.id))
    return (
        f"the site has {count} meters in the ledger; move or remove them first" if count else None
    )


org_services.register_delete_guard(meters_on_unit)
org_services.register_site_delete_guard(meters_on_site)
