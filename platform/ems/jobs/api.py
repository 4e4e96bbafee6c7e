"""Jobs API: ``/api/v1/tenants/<slug>/jobs/<id>`` (progress and outcome) and its file.

Every member may read the tenant's jobs (``tenant:read``): an export's file holds
the ledger they may read anyway, an import's outcome its rows and errors.
"""

from __future__ import annotations

from flask import Response

from ems.documents.web import BINARY_RESPONSE, file_response
from ems.jobs import services
from ems.jobs.models import Job
from ems.jobs.schemas import JobSchema
from ems.web.pipeline import db
from ems.web.tenancy import tenant_blueprint

blp = tenant_blueprint("jobs", __name__, description="Background jobs: progress, outcome, files")
# Ids are PostgreSQL integers: a larger one in a URL matches no route (404) instead of
# failing in the database (<int(max=...)> below).


@blp.route("/jobs/<int(max=2147483647):job_id>")
@blp.response(200, JobSchema)
def job(job_id: int) -> Job:
    """Show a job: status, progress, outcome (errors per row of a refused file)."""
    return services.access_job(db(), job_id)


@blp.route("/jobs/<int(max=2147483647):job_id>/file")
@blp.response(200, description="the file the job produced")
@blp.doc(responses=BINARY_RESPONSE)
def job_file(job_id: int) -> Response:
    """Download the file a finished export produced (404 until it is done)."""
    content, content_type, filename = services.job_file(db(), job_id)
    return file_response(content, content_type, filename)
