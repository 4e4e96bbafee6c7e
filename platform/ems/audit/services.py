"""Writes the audit log from the ORM's own change tracking.

A listener on every session records each flushed change of an ``Audited``
object in the same transaction as the change, so a write and its audit entry
commit or roll back together. Nothing in a view or service has to remember to
log.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from ems.audit.models import Audited, AuditEntry
from ems.context import current_actor, current_request_id, current_tenant


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _columns(obj: Audited) -> list[str]:
    mapper = inspect(type(obj))
    return [c.key for c in mapper.column_attrs if c.key not in obj.__audit_exclude__]


def _changed(obj: Audited) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in _columns(obj):
        hist = state.attrs[key].history
        if hist.added or hist.deleted:
            before[key] = _jsonable(hist.deleted[0]) if hist.deleted else None
            after[key] = _jsonable(hist.added[0]) if hist.added else None
    return before, after


def _object_id(obj: Audited) -> str:
    # The identity key is assigned only after after_flush; the primary key
    # attributes already hold the values the INSERT produced.
    key = inspect(type(obj)).primary_key_from_instance(obj)
    return "/".join(str(part) for part in key)


def _tenant_id(obj: Audited) -> int | None:
    explicit = getattr(obj, "tenant_id", None)
    if isinstance(explicit, int):
        return explicit
    tenant = current_tenant.get()
    if type(obj).__table__.schema != "control" and tenant is not None:  # type: ignore[attr-defined]
        return tenant.id
    if type(obj).__tablename__ == "tenants":  # type: ignore[attr-defined]
        return getattr(obj, "id", None)
    return tenant.id if tenant is not None else None


def _entries(session: Session) -> list[dict[str, Any]]:
    actor = current_actor.get()
    base = {
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "request_id": current_request_id.get(),
    }
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if isinstance(obj, Audited):
            after = {k: _jsonable(getattr(obj, k)) for k in _columns(obj)}
            rows.append({**base, "action": "insert", "before": None, "after": after, "obj": obj})
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            before, after = _changed(obj)
            if after:
                rows.append(
                    {**base, "action": "update", "before": before, "after": after, "obj": obj}
                )
    for obj in session.deleted:
        if isinstance(obj, Audited):
            before = {k: _jsonable(getattr(obj, k)) for k in _columns(obj)}
            rows.append({**base, "action": "delete", "before": before, "after": None, "obj": obj})
    return rows


@event.listens_for(Session, "before_flush")
def _collect(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    # History is only complete before the flush; primary keys of new rows only after it.
    session.info["ems_audit_pending"] = _entries(session)


@event.listens_for(Session, "after_flush")
def _write(session: Session, flush_context: UOWTransaction) -> None:
    pending = session.info.pop("ems_audit_pending", [])
    if not pending:
        return
    rows = []
    for entry in pending:
        obj = entry.pop("obj")
        entry["object_type"] = type(obj).__tablename__
        entry["object_id"] = _object_id(obj)
        entry["tenant_id"] = _tenant_id(obj)
        if entry["action"] == "insert" and entry["after"] is not None:
            entry["after"] = {k: _jsonable(getattr(obj, k)) for k in _columns(obj)}
        entry["at"] = dt.datetime.now(dt.UTC)
        rows.append(entry)
    session.connection().execute(insert(AuditEntry), rows)
