"""The job page: a progress bar the page polls every second, then the outcome (counts,
errors per row of a refused file, the file of an export)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Response

from ems.db import utcnow
from ems.documents.web import file_response
from ems.jobs import services
from ems.jobs.ledgers import LEDGERS
from ems.jobs.models import Job, JobStatus
from ems.portal.i18n import current_language, mark
from ems.portal.listing import as_message_id
from ems.portal.web import page, pages_blueprint
from ems.web.pipeline import db

blp = pages_blueprint("jobs_pages", __name__)
# Ids are PostgreSQL integers: a larger one in a URL matches no route (404) instead of
# failing in the database (<int(max=...)> below).
POLL_SECONDS = 1


def poll_seconds(job: Job) -> int:
    """Every second while a job is young, then less often (a stuck queue is not hammered)."""
    age = (utcnow() - job.created_at).total_seconds()
    return POLL_SECONDS if age < 60 else 5 if age < 600 else 30


# A job queued longer than this is probably waiting for a worker that is not running.
WORKER_HINT_AFTER = timedelta(seconds=60)
_ROW_ERROR = re.compile(r"^rows\[(\d+)\]\.(.+)$")

TITLES = {
    ("ledger_import", "meters"): mark("Meter ledger import"),
    ("ledger_export", "meters"): mark("Meter ledger export"),
    ("ledger_import", "personnel"): mark("Personnel ledger import"),
    ("ledger_export", "personnel"): mark("Personnel ledger export"),
    ("ledger_import", "equipment"): mark("Key equipment ledger import"),
    ("ledger_export", "equipment"): mark("Key equipment ledger export"),
}
STATUSES = {
    JobStatus.QUEUED: mark("Queued"),
    JobStatus.RUNNING: mark("Running"),
    JobStatus.DONE: mark("Done"),
    JobStatus.FAILED: mark("Failed"),
}
# The counts an outcome may hold, in the order shown.
COUNTS = {
    "rows": mark("Rows in the file"),
    "created": mark("Created"),
    "updated": mark("Updated"),
    "unchanged": mark("Unchanged"),
    "linked_points": mark("Points linked"),
}
BACK = {
    "meters": ("meters_pages.index", mark("Back to the meter ledger")),
    "personnel": ("personnel_pages.index", mark("Back to the personnel ledger")),
    "equipment": ("equipment_pages.index", mark("Back to the key equipment ledger")),
}
# Progress messages the runner writes (ems.jobs.ledgers, ems.jobs.runner).
PROGRESS = (mark("Checking and writing the rows"), mark("Writing the file"), mark("Completed"))


def _headings(job: Job) -> dict[str, str]:
    """Field key -> the column heading as the file has it, in the page's language."""
    ledger = LEDGERS.get(str(job.params.get("ledger")))
    if ledger is None:
        return {}
    chinese = current_language() == "zh"
    return {c.key: c.heading if chinese else c.heading_en for c in ledger.columns(db())}


def row_errors(job: Job) -> tuple[list[dict[str, Any]], list[tuple[str, list[str]]]]:
    """A refused file's errors: per cell (row, column, messages) by row, and the others."""
    errors: dict[str, list[str]] = (job.result or {}).get("errors") or {}
    headings = _headings(job)
    cells: list[dict[str, Any]] = []
    other: list[tuple[str, list[str]]] = []
    for key, raw in errors.items():
        messages = [as_message_id(m) for m in raw]
        found = _ROW_ERROR.match(key)
        if found is None:
            other.append((headings.get(key, key), messages))
            continue
        field = found.group(2)
        cells.append(
            {"row": int(found.group(1)), "column": headings.get(field, field), "messages": messages}
        )
    cells.sort(key=lambda cell: cell["row"])
    return cells, other


def _context(job_id: int) -> dict[str, Any]:
    job = services.access_job(db(), job_id)
    cells, other = row_errors(job)
    ledger = str(job.params.get("ledger", ""))
    waiting = job.status == JobStatus.QUEUED and utcnow() - job.created_at > WORKER_HINT_AFTER
    return {
        "job": job,
        "title": TITLES.get((job.kind, ledger), mark("Job")),
        "statuses": STATUSES,
        "counts": COUNTS,
        "cells": cells,
        "other_errors": other,
        "back": BACK.get(ledger),
        "poll": poll_seconds(job),
        "waiting_for_worker": waiting,
    }


@blp.get("/jobs/<id:job_id>")
def show(job_id: int) -> Any:
    """A job's page: progress while it runs, then what it did."""
    return page("jobs/job.html", **_context(job_id))


@blp.get("/jobs/<id:job_id>/status")
def status(job_id: int) -> Any:
    """The job's status panel alone (htmx polls it until the job is finished)."""
    return page("jobs/_status.html", **_context(job_id))


@blp.get("/jobs/<id:job_id>/file")
def download(job_id: int) -> Response:
    """The file an export produced."""
    content, content_type, filename = services.job_file(db(), job_id)
    return file_response(content, content_type, filename)
