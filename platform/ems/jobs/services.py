"""Jobs: created in the caller's transaction, handed to a worker once it commits, and read.

Nothing here commits. The request (or actor) that creates a job commits it with
the rest of its work; only then is the job sent to a worker (see
:func:`send_after_commit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from ems.context import TenantRef, current_actor, current_tenant
from ems.errors import EmsError, NotFound
from ems.jobs.models import Job, JobKind, JobStatus

log = logging.getLogger(__name__)

# Sends job ``id`` of a tenant to whatever runs jobs (a Dramatiq worker in production).
Dispatch = Callable[[TenantRef, int], None]
# (done, total or None when not known yet, what is happening: an English message id).
Progress = Callable[[int, int | None, str], None]


@dataclass
class Outcome:
    """What a job's work produced."""

    result: dict[str, Any]
    rows: int = 0
    file: tuple[str, str, bytes] | None = None  # filename, content type, bytes
    discard: bool = False  # a dry run: report, but write nothing


def access_job(session: Session, job_id: int) -> Job:
    """A job of the session's tenant (another tenant's ids are not in this schema)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("job not found")
    return job


def job_file(session: Session, job_id: int) -> tuple[bytes, str, str]:
    """The file a finished job produced: (bytes, content type, filename)."""
    job = access_job(session, job_id)
    if job.status != JobStatus.DONE or job.output_file is None:
        raise NotFound("this job has no file (yet)")
    return (
        job.output_file,
        job.output_content_type or "application/octet-stream",
        (job.output_filename or f"job-{job.id}"),
    )


def create_job(
    session: Session,
    kind: JobKind,
    params: Mapping[str, Any],
    *,
    input_file: tuple[str, bytes] | None = None,
) -> Job:
    """A queued job (input file: its name and bytes), flushed so that it has its id."""
    job = Job(
        kind=kind,
        params=dict(params),
        status=JobStatus.QUEUED,
        done=0,
        created_by=current_actor.get().name,
    )
    if input_file is not None:
        job.input_filename, job.input_file = input_file
    session.add(job)
    session.flush()
    return job


def send_after_commit(session: Session, job: Job, dispatch: Dispatch) -> None:
    """Send ``job`` to a worker once ``session`` commits; never if it rolls back."""
    # Why after the commit: the job row is written in the caller's transaction (a request
    # commits after its view returns). Sent earlier, a quick worker could look for a row it
    # cannot see yet, and a request that fails and rolls back would leave a message for a
    # job that never existed. after_commit fires only for a commit that succeeded. (The
    # actor still retries a few times when the row is not visible, should a message ever
    # arrive first; see ems.jobs.tasks.)
    tenant = current_tenant.get()
    if tenant is None:
        raise EmsError("a job needs a bound tenant")
    job_id = job.id

    def send(_session: Session) -> None:
        try:
            dispatch(tenant, job_id)
        except Exception:
            # The broker being down must not turn a committed request into an error page;
            # the job stays queued and its page says so.
            log.exception("job %s of %s could not be sent to a worker", job_id, tenant.slug)

    event.listen(session, "after_commit", send, once=True)


def send_to_worker(tenant: TenantRef, job_id: int) -> None:
    """Enqueue the job on RabbitMQ for a Dramatiq worker (queue ``ems-jobs``)."""
    # Imported here, not at the top: importing the actor connects the broker, which a
    # web process needs only once it sends its first job.
    from ems.jobs.tasks import run_job

    token = current_tenant.set(tenant)  # the tenant middleware puts it into the message
    try:
        run_job.send(job_id)
    finally:
        current_tenant.reset(token)
