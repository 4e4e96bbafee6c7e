"""What the job and ledger page tests share: the jobs the pages start (instead of RabbitMQ),
running them with the job's plain body, and posting files like a browser."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

JOB_URL = re.compile(r"/t/([a-z0-9-]+)/jobs/(\d+)$")


def tag() -> str:
    return uuid.uuid4().hex[:8].upper()


def meter_csv(rows: list[list[str]]) -> bytes:
    """A meter ledger file with the table A.1 headings the tests use."""
    lines = ["管理编号,计量器具名称,器具等级,能源种类,目前状态"]
    lines += [",".join(row) for row in rows]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


@pytest.fixture(autouse=True)
def sent(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int]]:
    """The jobs the app hands over, instead of sending them to RabbitMQ."""
    from ems.jobs.web import DISPATCH

    jobs: list[tuple[Any, int]] = []
    monkeypatch.setitem(
        app.extensions, DISPATCH, lambda tenant, job_id: jobs.append((tenant, job_id))
    )
    return jobs


def run_sent(database: Any, sent: list[tuple[Any, int]]) -> None:
    """Run every job sent so far with the job's body, as a worker would (then forget them)."""
    from ems.context import current_tenant
    from ems.jobs import runner

    for tenant, job_id in sent:
        token = current_tenant.set(tenant)
        try:
            with database.transaction(tenant.schema_name) as session:
                runner.run(session, job_id)
        finally:
            current_tenant.reset(token)
    sent.clear()


def job_id_of(response: Any) -> int:
    """The job a page redirected to."""
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    found = JOB_URL.search(response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(2))


def upload_file(client: Any, url: str, content: bytes, name: str, **fields: str) -> Any:
    """Post a ledger file with the form's CSRF token."""
    data: dict[str, Any] = {"file": (io.BytesIO(content), name), **fields}
    data["csrf_token"] = client.token(url)
    return client.http.post(url, data=data, content_type="multipart/form-data")


def job_row(database: Any, schema: str, job_id: int) -> Any:
    from ems.jobs.models import Job

    with database.session(schema) as session:
        return session.get(Job, job_id)


def meter_numbers(database: Any, schema: str, numbers: list[str]) -> list[str]:
    from ems.meters.models import Meter

    with database.session(schema) as session:
        stmt = select(Meter.management_number).where(Meter.management_number.in_(numbers))
        return sorted(session.scalars(stmt))
