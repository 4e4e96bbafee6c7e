"""Long operations as jobs: a ledger import or export posted from a page becomes a job row,
handed to a worker once the request commits; the job page polls its progress, then shows
the counts, the refused cells by row and column, or the file to download.

RabbitMQ is outside these tests: the app's dispatcher is replaced by a list of the jobs
sent, and each test runs them with the job's plain body, ``ems.jobs.runner.run``.
(tests/test_workers.py sends one through Dramatiq and RabbitMQ for real.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import World
from tests.portal import job_helpers
from tests.portal.job_helpers import job_id_of, job_row, meter_csv, meter_numbers, run_sent, tag
from tests.portal.job_helpers import upload_file as upload

sent = job_helpers.sent  # autouse: the jobs the pages start are recorded, not sent

SLUG = "alpha-works"
PAGES = f"/t/{SLUG}"
API = f"/api/v1/tenants/{SLUG}"


@pytest.fixture
def alpha(world: World) -> str:
    schema: str = world.tenants["alpha"].schema_name
    return schema


def test_import_runs_as_a_job_and_the_page_shows_its_counts(
    pages_for: Any, client_for: Any, database: Any, sent: Any, alpha: str
) -> None:
    t = tag()
    client = pages_for("mona")
    content = meter_csv(
        [[f"{t}-1", "电能表", "1", "电力", "正常"], [f"{t}-2", "水表", "3", "", ""]]
    )
    job_id = job_id_of(upload(client, f"{PAGES}/meters/import", content, "ledger.csv"))
    assert [job for _, job in sent] == [job_id]
    waiting = client.text(f"{PAGES}/jobs/{job_id}")
    assert 'data-status="queued"' in waiting and "排队中" in waiting
    # Polled every second, as background traffic (it does not keep the session alive).
    assert f'hx-get="{PAGES}/jobs/{job_id}/status"' in waiting
    assert 'hx-trigger="every 1s"' in waiting and '"X-EMS-Background": "1"' in waiting
    assert '<div class="progress"' in waiting

    run_sent(database, sent)
    done = client.text(f"{PAGES}/jobs/{job_id}/status")
    assert 'data-status="done"' in done and "hx-trigger" not in done  # polling stops
    assert re.search(r'data-testid="job-created">2<', done)
    assert "文件已导入" in done
    assert meter_numbers(database, alpha, [f"{t}-1", f"{t}-2"]) == [f"{t}-1", f"{t}-2"]
    body = client_for("mona").get(f"{API}/jobs/{job_id}").get_json()
    assert body["status"] == "done" and body["kind"] == "ledger_import"
    assert body["result"]["created"] == 2 and body["done"] == body["total"] == 2
    assert body["input_filename"] == "ledger.csv" and body["created_by"] == "mona@example.com"


def test_refused_file_fails_the_job_names_each_cell_and_writes_nothing(
    pages_for: Any, client_for: Any, database: Any, sent: Any, alpha: str
) -> None:
    t = tag()
    client = pages_for("alice")
    content = meter_csv(
        [
            [f"{t}-1", "电能表", "1", "电力", "正常"],
            [f"{t}-2", "水表", "9", "", ""],
            [f"{t}-3", "", "", "", "坏了"],
        ]
    )
    job_id = job_id_of(upload(client, f"{PAGES}/meters/import", content, "bad.csv"))
    run_sent(database, sent)
    job = job_row(database, alpha, job_id)
    assert job.status == "failed"
    assert {"rows[3].level", "rows[4].state"} <= set(job.result["errors"])
    text = client.text(f"{PAGES}/jobs/{job_id}")
    assert 'data-status="failed"' in text and "未写入任何数据" in text
    # Each bad cell by its row and the column heading of table A.1.
    assert re.search(r'<tr data-row="3"><td class="num">3</td><th scope="row">器具等级</th>', text)
    assert re.search(r'<tr data-row="4"><td class="num">4</td><th scope="row">目前状态</th>', text)
    assert meter_numbers(database, alpha, [f"{t}-1", f"{t}-2", f"{t}-3"]) == []
    english = pages_for("alice", lang="en").text(f"{PAGES}/jobs/{job_id}")
    assert '<th scope="row">Metering level</th>' in english
    api = client_for("alice").get(f"{API}/jobs/{job_id}").get_json()
    assert api["status"] == "failed" and api["result"]["code"] == "invalid_input"


def test_a_dry_run_checks_and_counts_but_writes_nothing(
    pages_for: Any, database: Any, sent: Any, alpha: str
) -> None:
    t = tag()
    client = pages_for("alice")
    content = meter_csv([[f"{t}-1", "电能表", "1", "电力", "正常"]])
    response = upload(client, f"{PAGES}/meters/import", content, "check.csv", dry_run="1")
    job_id = job_id_of(response)
    run_sent(database, sent)
    text = client.text(f"{PAGES}/jobs/{job_id}")
    assert 'data-testid="job-dry-run"' in text and re.search(r'data-testid="job-created">1<', text)
    assert meter_numbers(database, alpha, [f"{t}-1"]) == []


def test_export_is_a_job_whose_file_downloads_and_imports_again(
    pages_for: Any, client_for: Any, database: Any, sent: Any, alpha: str
) -> None:
    t = tag()
    client = pages_for("alice")
    rows = [[f"{t}-{i}", f"电能表 {i}", "2", "电力", "故障"] for i in range(3)]
    job_id_of(upload(client, f"{PAGES}/meters/import", meter_csv(rows), "in.csv"))
    run_sent(database, sent)

    export = client.post(f"{PAGES}/meters/export", {"format": "xlsx", "q": t}, f"{PAGES}/meters")
    job_id = job_id_of(export)
    assert client.get(f"{PAGES}/jobs/{job_id}/file").status_code == 404  # not done yet
    run_sent(database, sent)
    text = client.text(f"{PAGES}/jobs/{job_id}")
    assert 'data-testid="job-download"' in text and re.search(r'data-testid="job-rows">3<', text)
    page_file = client.get(f"{PAGES}/jobs/{job_id}/file")
    assert page_file.status_code == 200
    assert page_file.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in page_file.headers["Content-Disposition"]
    api_file = client_for("alice").get(f"{API}/jobs/{job_id}/file")
    assert api_file.status_code == 200 and api_file.data == page_file.data

    again = upload(client, f"{PAGES}/meters/import", page_file.data, "meters.xlsx")
    reimport = job_id_of(again)
    run_sent(database, sent)
    result = job_row(database, alpha, reimport).result
    assert (result["rows"], result["created"], result["updated"], result["unchanged"]) == (
        3,
        0,
        0,
        3,
    )


def test_a_job_is_sent_only_once_its_request_has_committed(
    app: Any, pages_for: Any, database: Any, monkeypatch: pytest.MonkeyPatch, alpha: str
) -> None:
    from ems.jobs.models import Job
    from ems.jobs.web import DISPATCH

    seen: list[bool] = []

    def visible_from_elsewhere(tenant: Any, job_id: int) -> None:
        with database.session(tenant.schema_name) as other:
            seen.append(other.get(Job, job_id) is not None)

    monkeypatch.setitem(app.extensions, DISPATCH, visible_from_elsewhere)
    client = pages_for("alice")
    content = meter_csv([[f"{tag()}-1", "电能表", "1", "", ""]])
    job_id_of(upload(client, f"{PAGES}/meters/import", content, "x.csv"))
    assert seen == [True]
    # A refused request (no file) rolls back: no job, nothing sent.
    refused = upload(client, f"{PAGES}/meters/import", b"", "")
    assert refused.status_code == 422 and 'data-testid="error-file"' in refused.get_data(
        as_text=True
    )
    assert seen == [True]


def test_running_a_job_again_changes_nothing(
    pages_for: Any, database: Any, sent: Any, alpha: str, world: World
) -> None:
    from ems.context import TenantRef

    t = tag()
    client = pages_for("alice")
    job_id = job_id_of(
        upload(
            client, f"{PAGES}/meters/import", meter_csv([[f"{t}-1", "水表", "3", "", ""]]), "a.csv"
        )
    )
    tenant = sent[0][0]
    assert isinstance(tenant, TenantRef) and tenant.slug == SLUG
    run_sent(database, [(tenant, job_id)])
    first = job_row(database, alpha, job_id)
    run_sent(database, [(tenant, job_id)])  # a redelivered message
    second = job_row(database, alpha, job_id)
    assert (second.status, second.finished_at, second.result) == (
        first.status,
        first.finished_at,
        first.result,
    )
    assert meter_numbers(database, alpha, [f"{t}-1"]) == [f"{t}-1"]


def test_progress_is_visible_while_the_job_runs(
    pages_for: Any, database: Any, sent: Any, alpha: str
) -> None:
    from ems.jobs import runner

    client = pages_for("alice")
    export = client.post(f"{PAGES}/personnel/export", {"format": "csv"}, f"{PAGES}/personnel")
    job_id = job_id_of(export)
    # The worker's progress writer commits on its own, before the job's transaction does.
    runner.progress_writer(database, alpha, job_id)(0, None, "Writing the file")
    running = client.text(f"{PAGES}/jobs/{job_id}/status")
    assert 'data-status="running"' in running and "正在生成文件" in running
    assert "hx-trigger" in running and "repeating-linear-gradient" in running  # no total yet
    runner.progress_writer(database, alpha, job_id)(2, 4, "Writing the file")
    half = client.text(f"{PAGES}/jobs/{job_id}/status")
    assert 'aria-valuenow="50"' in half and "已处理 2 / 4 行" in half
    run_sent(database, sent)
    job = job_row(database, alpha, job_id)
    assert job.status == "done" and job.started_at is not None and job.output_filename


def test_an_unexpected_error_fails_the_job_instead_of_leaving_it_queued(
    pages_for: Any, database: Any, sent: Any, alpha: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ems.jobs import runner
    from ems.jobs.models import JobKind

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setitem(runner.HANDLERS, JobKind.LEDGER_EXPORT, broken)
    client = pages_for("alice")
    job_id = job_id_of(
        client.post(f"{PAGES}/equipment/export", {"format": "csv"}, f"{PAGES}/equipment")
    )
    tenant, _ = sent.pop()
    runner.run_in_transaction(database, tenant, job_id)
    job = job_row(database, alpha, job_id)
    assert job.status == "failed" and job.result == {"code": "internal_error"}
    assert "任务失败" in client.text(f"{PAGES}/jobs/{job_id}")


def test_every_member_reads_jobs_but_only_writers_import(
    pages_for: Any, database: Any, sent: Any
) -> None:
    client = pages_for("alice")
    job_id = job_id_of(client.post(f"{PAGES}/meters/export", {"format": "csv"}, f"{PAGES}/meters"))
    run_sent(database, sent)
    viewer = pages_for("vera")
    assert viewer.get(f"{PAGES}/jobs/{job_id}").status_code == 200
    assert viewer.get(f"{PAGES}/jobs/{job_id}/file").status_code == 200
    refused = upload(viewer, f"{PAGES}/meters/import", meter_csv([]), "v.csv")
    assert refused.status_code == 403
    assert sent == []
    # A viewer exports (a read, as GET .../meters/export is for the API).
    assert job_id_of(viewer.post(f"{PAGES}/meters/export", {"format": "csv"}, f"{PAGES}/meters"))


def test_another_tenants_job_is_not_found(
    pages_for: Any, client_for: Any, database: Any, sent: Any, world: World
) -> None:
    bob = pages_for("bob")
    secret = f"beta-{tag()}.csv"
    job_id = job_id_of(upload(bob, "/t/beta-works/meters/import", meter_csv([]), secret))
    sent.clear()
    alice = pages_for("alice")
    assert alice.get(f"/t/beta-works/jobs/{job_id}").status_code == 404
    assert client_for("alice").get(f"/api/v1/tenants/beta-works/jobs/{job_id}").status_code == 404
    mine = alice.get(f"{PAGES}/jobs/{job_id}")  # the same id in alpha is alpha's own, or none
    assert mine.status_code in (200, 404) and secret not in mine.get_data(as_text=True)
    assert client_for("alice").get(f"{API}/jobs/999999999").status_code == 404


def test_a_worker_runs_the_job_reporting_progress_and_who_asked(
    pages_for: Any, database: Any, sent: Any, alpha: str
) -> None:
    from ems.jobs import runner
    from ems.meters.models import Meter, MeterStateChange

    t = tag()
    client = pages_for("mona")
    content = meter_csv([[f"{t}-1", "电能表", "1", "电力", "故障"]])
    job_id = job_id_of(upload(client, f"{PAGES}/meters/import", content, "w.csv"))
    tenant, _ = sent.pop()
    # Progress is written in a transaction of its own while the job's stays open: this
    # must neither block on the job's row nor be undone by the job's outcome.
    runner.run_in_transaction(database, tenant, job_id)
    job = job_row(database, alpha, job_id)
    assert (job.status, job.done, job.total, job.message) == ("done", 1, 1, "Completed")
    with database.session(alpha) as session:
        meter = session.scalar(select(Meter).where(Meter.management_number == f"{t}-1"))
        assert meter is not None
        state = session.scalar(
            select(MeterStateChange).where(MeterStateChange.meter_id == meter.id)
        )
    assert state is not None and state.recorded_by == f"mona@example.com (job {job_id})"
