"""Starting a job from a request: its row in the request's transaction, its message once
that transaction commits (decision 0021: long operations run as jobs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from flask import current_app

from ems.jobs import services
from ems.jobs.models import Job, JobKind
from ems.web.pipeline import db

# ``app.extensions[DISPATCH]`` replaces the Dramatiq dispatcher: tests record the jobs
# sent, development and browser tests may run them in a thread (ems.jobs.runner.in_thread).
DISPATCH = "ems_jobs_dispatch"


def dispatcher() -> services.Dispatch:
    """How this app hands jobs over (a Dramatiq worker unless replaced)."""
    return cast(services.Dispatch, current_app.extensions.get(DISPATCH, services.send_to_worker))


def start(
    kind: JobKind, params: Mapping[str, Any], input_file: tuple[str, bytes] | None = None
) -> Job:
    """A queued job of the request's tenant, sent to a worker when the request commits."""
    session = db()
    job = services.create_job(session, kind, params, input_file=input_file)
    services.send_after_commit(session, job, dispatcher())
    return job


def start_import(ledger: str, input_file: tuple[str, bytes], *, dry_run: bool = False) -> Job:
    """Import a ledger file as a job (``dry_run``: check and count only)."""
    return start(JobKind.LEDGER_IMPORT, {"ledger": ledger, "dry_run": dry_run}, input_file)


def start_export(ledger: str, fmt: str, **params: Any) -> Job:
    """Export a ledger as a job (the meters: ``query`` holds the list's filters)."""
    return start(JobKind.LEDGER_EXPORT, {"ledger": ledger, "format": fmt, **params})
