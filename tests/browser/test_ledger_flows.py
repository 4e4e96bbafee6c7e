"""Ledger work in a real browser: create a meter, import a ledger file (a background job
run by a real Dramatiq worker over RabbitMQ), and a viewer who can only look."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD, World

METERS = "/t/alpha-works/meters"


@pytest.fixture
def forget_meters(database: Any, world: World) -> Iterator[list[str]]:
    """Management numbers a test creates; their meters are deleted afterwards."""
    from ems.meters.models import Meter

    numbers: list[str] = []
    yield numbers
    with database.transaction(world.tenants["alpha"].schema_name) as session:
        session.execute(delete(Meter).where(Meter.management_number.in_(numbers)))


@pytest.fixture
def jobs_worker(broker: Any) -> Iterator[None]:
    """A Dramatiq worker on the run's RabbitMQ vhost, running the portal's jobs."""
    import dramatiq

    import ems.jobs.tasks  # noqa: F401 - declares the actor the worker runs

    worker = dramatiq.Worker(broker, queues={"ems-jobs"}, worker_threads=1)
    worker.start()
    yield
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    stopper.join(timeout=30)


def _meter_in_db(database: Any, world: World, number: str) -> Any:
    from ems.meters.models import Meter

    with database.session(world.tenants["alpha"].schema_name) as session:
        return session.scalar(select(Meter).where(Meter.management_number == number))


def test_create_a_meter(
    new_page: Any, world: World, database: Any, forget_meters: list[str]
) -> None:
    number = f"BR-{uuid.uuid4().hex[:6].upper()}"
    forget_meters.append(number)
    page = new_page()
    log_in(page, world.users["alice"], PASSWORD)
    page.goto(METERS)
    page.get_by_test_id("new-meter").click()

    # First without a name: the server names the field, and nothing is written.
    page.get_by_test_id("meter-number").fill(number)
    page.get_by_test_id("meter-level").select_option(index=1)
    page.get_by_test_id("meter-submit").click()
    expect(page.get_by_test_id("error-name")).to_be_visible()
    assert _meter_in_db(database, world, number) is None

    page.get_by_test_id("meter-name").fill("浏览器测试电能表")
    page.get_by_test_id("meter-submit").click()
    expect(page.locator("h1")).to_contain_text(number)
    meter = _meter_in_db(database, world, number)
    assert meter is not None and meter.name == "浏览器测试电能表"

    page.goto(METERS)
    page.get_by_test_id("meter-search").fill(number)
    page.get_by_test_id("meter-search").press("Enter")
    expect(page.get_by_test_id("meters-table")).to_contain_text("浏览器测试电能表")


def test_import_a_ledger_file_as_a_job(
    new_page: Any, world: World, database: Any, forget_meters: list[str], jobs_worker: None
) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    numbers = [f"IMP-{tag}-1", f"IMP-{tag}-2"]
    forget_meters.extend(numbers)
    rows = [f"{n},导入电能表 {i},{i}" for i, n in enumerate(numbers, 1)]
    content = ("\ufeff管理编号,计量器具名称,器具等级\r\n" + "\r\n".join(rows) + "\r\n").encode()

    page = new_page()
    log_in(page, world.users["alice"], PASSWORD)
    page.goto(METERS)
    page.get_by_test_id("import-meters").click()
    page.get_by_test_id("import-file").set_input_files(
        {"name": "计量器具台账.csv", "mimeType": "text/csv", "buffer": content}
    )
    page.get_by_test_id("import-submit").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    # The page polls the job (htmx) until the worker has finished it.
    expect(page.get_by_test_id("job-status")).to_have_attribute(
        "data-status", "done", timeout=30_000
    )
    expect(page.get_by_test_id("job-result")).to_contain_text("2")
    for number in numbers:
        assert _meter_in_db(database, world, number) is not None, number


def test_a_viewer_has_no_edit_buttons_and_is_refused_when_posting(
    new_page: Any, world: World, database: Any
) -> None:
    page = new_page()
    log_in(page, world.users["vera"], PASSWORD)
    page.goto(METERS)
    expect(page.get_by_test_id("meters-table").or_(page.get_by_test_id("empty"))).to_be_visible()
    for testid in ("new-meter", "import-meters"):
        expect(page.get_by_test_id(testid)).to_have_count(0)
    # The only form a viewer gets is the export (reading); nothing that writes the ledger.
    actions = page.eval_on_selector_all(
        "main form[method=post]", "forms => forms.map(f => f.getAttribute('action'))"
    )
    assert all(action.endswith("/export") for action in actions), actions

    # Posting anyway, with a valid session and CSRF token, is refused by the server.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    number = f"VIEW-{uuid.uuid4().hex[:6]}"
    response = page.request.post(
        f"{METERS}/new",
        form={
            "csrf_token": token or "",
            "name": "不应写入",
            "management_number": number,
            "level": "1",
        },
    )
    assert response.status == 403
    assert _meter_in_db(database, world, number) is None
