"""Running a job: :func:`run` is the job's whole body, a plain function of a tenant session.

The worker's actor (``ems.jobs.tasks``) calls it inside its transaction; tests and
the in-process dispatcher call it directly. A job ends done or failed, never half:
its work runs in a savepoint that a refusal rolls back, and the job's outcome is
written in the same transaction as the work itself, so that both commit together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import func, text, update
from sqlalchemy.orm import Session

from ems.context import Actor, TenantRef, current_actor, current_tenant
from ems.db import Database, utcnow
from ems.errors import EmsError
from ems.jobs import ledgers
from ems.jobs.models import Job, JobKind, JobStatus
from ems.jobs.services import Dispatch, Outcome, Progress

log = logging.getLogger(__name__)


class JobNotVisible(EmsError):
    """The job's row is not (yet) visible: the message came before the sender's commit."""


Handler = Callable[[Session, Job, Progress], Outcome]
HANDLERS: dict[str, Handler] = {
    JobKind.LEDGER_IMPORT: ledgers.run_import,
    JobKind.LEDGER_EXPORT: ledgers.run_export,
}


def no_progress(done: int, total: int | None, message: str) -> None:
    """Progress nobody watches (a test running a job directly)."""


def run(session: Session, job_id: int, progress: Progress = no_progress) -> Job:
    """Run job ``job_id`` in ``session`` (the caller commits); answers the job, finished.

    Safe to run twice: a finished job is left as it is, and a job whose lock another
    worker holds is skipped. Progress goes through ``progress``, which writes in a
    transaction of its own: this session must therefore not write the job's row
    before the work is over (its row lock would block the progress writer).
    """
    tenant = current_tenant.get()
    if tenant is None:
        raise EmsError("running a job needs a bound tenant")
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotVisible(f"job {job_id} is not visible")
    if job.finished or not _locked(session, tenant, job_id):
        return job
    started = utcnow()
    with _acting_for(job):
        outcome, error = _work(session, job, progress)
    session.refresh(job)  # progress was written by another transaction
    job.started_at = job.started_at or started
    _finish(job, outcome, error)
    session.flush()
    return job


def _work(session: Session, job: Job, progress: Progress) -> tuple[Outcome | None, EmsError | None]:
    """The job's handler in a savepoint, rolled back on a refusal or a dry run."""
    savepoint = session.begin_nested()
    try:
        handler = HANDLERS.get(job.kind)
        if handler is None:
            raise EmsError(f"no handler for jobs of kind {job.kind!r}")
        outcome = handler(session, job, progress)
    except EmsError as refused:
        savepoint.rollback()
        return None, refused
    if outcome.discard:
        savepoint.rollback()
    else:
        savepoint.commit()
    return outcome, None


def _locked(session: Session, tenant: TenantRef, job_id: int) -> bool:
    """Take the job's lock for this transaction (False: another worker runs it)."""
    key = f"job:{tenant.schema_name}:{job_id}"
    got = session.execute(
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
    ).scalar()
    return bool(got)


@contextmanager
def _acting_for(job: Job) -> Iterator[None]:
    """Rows the job writes record who asked for it (the audit log, state histories)."""
    actor = current_actor.get()
    token = current_actor.set(
        Actor(kind=actor.kind, id=actor.id, name=f"{job.created_by} (job {job.id})"[:254])
    )
    try:
        yield
    finally:
        current_actor.reset(token)


def _finish(job: Job, outcome: Outcome | None, error: EmsError | None) -> None:
    job.finished_at = utcnow()
    if error is not None or outcome is None:
        job.status = JobStatus.FAILED
        job.message = error.message if error else "the job produced nothing"
        job.result = {"code": error.code if error else "internal_error"}
        if error is not None and error.fields:
            job.result["errors"] = error.fields
        return
    job.status = JobStatus.DONE
    job.done = job.total = outcome.rows
    job.message = "Completed"
    job.result = outcome.result
    if outcome.file is not None:
        job.output_filename, job.output_content_type, job.output_file = outcome.file


def give_up(session: Session, job_id: int, message: str) -> None:
    """Mark a job failed after an unexpected error rolled its transaction back."""
    job = session.get(Job, job_id)
    if job is not None and not job.finished:
        job.status = JobStatus.FAILED
        job.message = message
        job.result = {"code": "internal_error"}
        job.finished_at = utcnow()


def progress_writer(database: Database, schema: str, job_id: int) -> Progress:
    """Progress written in a transaction of its own, so the page sees it while the job runs."""

    def write(done: int, total: int | None, message: str) -> None:
        with database.transaction(schema) as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                .values(
                    status=JobStatus.RUNNING,
                    done=done,
                    total=total,
                    message=message,
                    started_at=func.coalesce(Job.started_at, utcnow()),
                )
            )

    return write


def run_in_transaction(database: Database, tenant: TenantRef, job_id: int) -> None:
    """Run a job in a transaction of its own, reporting progress, as a worker does."""
    token = current_tenant.set(tenant)
    try:
        with database.transaction(tenant.schema_name) as session:
            run(session, job_id, progress_writer(database, tenant.schema_name, job_id))
    except JobNotVisible:
        raise
    except Exception:  # any bug ends the job as failed, not queued for ever
        log.exception("job %s of %s stopped on an error", job_id, tenant.slug)
        with database.transaction(tenant.schema_name) as session:
            give_up(session, job_id, "the job stopped on an internal error; try again")
    except BaseException:
        # Dramatiq's time limit and shutdown interrupt with BaseException subclasses: the
        # progress writer has already saved "running", so end the job before passing it on.
        with database.transaction(tenant.schema_name) as session:
            give_up(session, job_id, "the job was stopped (time limit or shutdown); try again")
        raise
    finally:
        current_tenant.reset(token)


def in_thread(database: Database) -> Dispatch:
    """A dispatcher running each job in a thread of this process (development, browser
    tests): no broker, no worker, the same :func:`run`."""

    def dispatch(tenant: TenantRef, job_id: int) -> None:
        threading.Thread(
            target=run_in_transaction, args=(database, tenant, job_id), daemon=True
        ).start()

    return dispatch
