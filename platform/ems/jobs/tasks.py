"""The job actor: runs one job of the tenant its message carries (queue ``ems-jobs``).

Importing this module sets up the broker (``ems.workers.broker``); the web process
imports it only when it sends its first job (:func:`ems.jobs.services.send_to_worker`).
"""

from __future__ import annotations

import dramatiq

from ems.context import current_tenant
from ems.errors import EmsError
from ems.jobs import runner
from ems.workers import broker as _broker  # noqa: F401 - sets the broker before the actor exists
from ems.workers.runtime import database

QUEUE = "ems-jobs"
# Retries only for a message that came before its job's row was committed (see
# ems.jobs.services.send_after_commit): a job that fails is recorded as failed,
# and running a refused import again would refuse it again.
VISIBILITY_RETRIES = 5


def _not_visible_yet(retries: int, exception: BaseException) -> bool:
    return isinstance(exception, runner.JobNotVisible) and retries < VISIBILITY_RETRIES


@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=VISIBILITY_RETRIES,
    min_backoff=500,
    max_backoff=8000,
    retry_when=_not_visible_yet,
    time_limit=30 * 60 * 1000,
)
def run_job(job_id: int) -> None:
    """Run job ``job_id`` of the bound tenant; safe to run twice (a finished job is kept)."""
    tenant = current_tenant.get()
    if tenant is None:
        raise EmsError("a job message without a tenant; send it from a tenant context")
    runner.run_in_transaction(database(), tenant, job_id)
