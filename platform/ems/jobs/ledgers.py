"""Ledger imports and exports as jobs, through the very functions the ledgers' APIs call.

A job names its ledger in ``params["ledger"]``; an export also its ``format``
(csv or xlsx) and, for the meters, the list's filters (``query``, as the API's
query string). An import may be a ``dry_run``: checked and counted, nothing kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ems import tabular
from ems.context import current_tenant
from ems.equipment import ledger as equipment_ledger
from ems.equipment import services as equipment_services
from ems.errors import InvalidInput
from ems.jobs.models import Job
from ems.jobs.services import Outcome, Progress
from ems.meters import ledger_file as meter_ledger
from ems.meters import services as meter_services
from ems.meters.schemas import MeterQuerySchema
from ems.personnel import ledger as personnel_ledger
from ems.personnel import services as personnel_services
from ems_tenants.models import Tenant

FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class Ledger:
    """How a job reads, writes and names one ledger."""

    name: str
    rows: Callable[[Mapping[str, Any]], Select[Any]]  # the rows an export holds
    export: Callable[[Session, Mapping[str, Any], str], tuple[bytes, str]]
    import_file: Callable[[Session, bytes, str], Any]  # answers the API's import result
    columns: Callable[[Session], list[tabular.Column]]  # for headings of row errors
    file_stem: str


def _meter_query(params: Mapping[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = MeterQuerySchema().load(params.get("query") or {})
    return loaded


def _meters_export(session: Session, params: Mapping[str, Any], fmt: str) -> tuple[bytes, str]:
    stmt = meter_services.list_query(_meter_query(params))
    return meter_ledger.export_ledger(session, stmt, fmt)


def _equipment_export(session: Session, params: Mapping[str, Any], fmt: str) -> tuple[bytes, str]:
    return equipment_ledger.export(session, fmt, extended=bool(params.get("extended")))


LEDGERS: Mapping[str, Ledger] = {
    "meters": Ledger(
        "meters",
        lambda params: meter_services.list_query(_meter_query(params)),
        _meters_export,
        meter_ledger.import_ledger,
        lambda _session: list(meter_ledger.COLUMNS),
        "meter-ledger",
    ),
    "personnel": Ledger(
        "personnel",
        lambda _params: personnel_services.list_query({}),
        lambda session, _params, fmt: personnel_ledger.export(session, fmt),
        personnel_ledger.import_file,
        lambda _session: list(personnel_ledger.COLUMNS),
        "计量人员-A2",
    ),
    "equipment": Ledger(
        "equipment",
        lambda _params: equipment_services.list_query({}),
        _equipment_export,
        equipment_ledger.import_file,
        lambda session: equipment_ledger.columns(session, extended=True),
        "重点用能设备-A3",
    ),
}


def ledger_of(job: Job) -> Ledger:
    """The ledger a job works on."""
    ledger = LEDGERS.get(str(job.params.get("ledger")))
    if ledger is None:
        raise InvalidInput("unknown ledger", fields={"ledger": [", ".join(LEDGERS)]})
    return ledger


def _local_today(session: Session) -> date:
    tenant = current_tenant.get()
    row = session.get(Tenant, tenant.id) if tenant is not None else None
    zone = ZoneInfo(row.timezone if row is not None else "Asia/Shanghai")
    return datetime.now(zone).date()


def run_import(session: Session, job: Job, progress: Progress) -> Outcome:
    """Import the job's file: every row written, or none and the rows' errors raised."""
    ledger = ledger_of(job)
    progress(0, None, "Checking and writing the rows")
    outcome = ledger.import_file(session, job.input_file or b"", job.input_filename or "")
    result = dataclasses.asdict(outcome)
    dry_run = bool(job.params.get("dry_run"))
    if dry_run:
        result["dry_run"] = True
    return Outcome(result=result, rows=int(result.get("rows", 0)), discard=dry_run)


def run_export(session: Session, job: Job, progress: Progress) -> Outcome:
    """Write the ledger (the meters: as filtered) to a file the job keeps."""
    ledger = ledger_of(job)
    fmt = str(job.params.get("format", "xlsx"))
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}", fields={"format": list(FORMATS)})
    stmt = ledger.rows(job.params)
    rows = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    progress(0, rows, "Writing the file")
    content, content_type = ledger.export(session, job.params, fmt)
    filename = f"{ledger.file_stem}-{_local_today(session).isoformat()}.{fmt}"
    return Outcome(result={"rows": rows}, rows=rows, file=(filename, content_type, content))
