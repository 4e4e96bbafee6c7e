"""What a review of the portal found, held: odd page numbers and file names, a session
that ends during a poll, polling's own budget, a suspended plant, a job stopped by its
time limit, the newest values read without loading every point."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from tests.conftest import World
from tests.portal import job_helpers
from tests.portal.job_helpers import job_id_of, job_row, meter_csv, tag, upload_file

sent = job_helpers.sent  # autouse: the jobs the pages start are recorded, not sent

PAGES = "/t/alpha-works"


@pytest.mark.parametrize("number", ["²", "٣", "１"])
def test_a_page_number_that_is_a_digit_but_not_ascii_shows_the_first_page(
    pages_for: Any, number: str
) -> None:
    alice, reggie = pages_for("alice"), pages_for("reggie")
    for client, url in (
        (alice, f"{PAGES}/meters"),
        (alice, f"{PAGES}/personnel"),
        (alice, f"{PAGES}/equipment"),
        (reggie, "/regulator/"),
    ):
        assert client.get(f"{url}?page={number}").status_code == 200, url


def test_a_ledger_file_with_a_very_long_name_is_imported_under_a_shorter_one(
    pages_for: Any, database: Any, world: World, sent: list[Any]
) -> None:
    name = "计量器具台账" * 40 + "\x01.csv"  # 245 characters and a control one
    content = meter_csv([[f"LONG-{tag()}", "电能表", "1"]])
    response = upload_file(pages_for("alice"), f"{PAGES}/meters/import", content, name)
    job = job_row(database, world.tenants["alpha"].schema_name, job_id_of(response))
    assert job.input_filename.endswith(".csv") and len(job.input_filename) == 200
    assert "\x01" not in job.input_filename
    sent.clear()
    from ems.jobs.models import Job

    with database.transaction(world.tenants["alpha"].schema_name) as session:
        session.execute(delete(Job).where(Job.id == job.id))


def test_a_poll_after_the_session_ended_sends_the_user_back_to_the_page(
    pages_for: Any, app: Any
) -> None:
    client = pages_for("alice")
    with client.http.session_transaction() as session:
        session["seen_at"] = time.time() - app.extensions["ems"].settings.session_idle - 1
    response = client.get(
        f"{PAGES}/dashboard/realtime",
        headers={
            "HX-Request": "true",
            "X-EMS-Background": "1",
            "HX-Current-URL": "http://127.0.0.1:8000/t/alpha-works/?tab=1",
        },
    )
    assert response.status_code == 401
    # The page the poll came from (its path and query), not the fragment it polled.
    assert response.headers["HX-Redirect"] == "/login?next=/t/alpha-works/?tab%3D1&expired=1"


def test_a_poll_naming_another_site_goes_back_to_the_start(pages_for: Any, app: Any) -> None:
    client = pages_for("alice")
    with client.http.session_transaction() as session:
        session.clear()
    response = client.get(
        f"{PAGES}/dashboard/realtime",
        headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example//x"},
    )
    assert response.headers["HX-Redirect"] == "/login?next=/"


def test_polling_counts_against_its_own_budget_not_the_plans(app: Any, world: World) -> None:
    from ems.auth.permissions import Principal
    from ems.web import tenancy

    tenant = world.tenants["alpha"]
    user = Principal(kind="user", id="1", name="a")
    client = Principal(kind="client", id="c", name="erp")
    with app.test_request_context(headers={"X-EMS-Background": "1"}):
        assert tenancy._budget(tenant, user) == (
            f"tenant:{tenant.id}:background",
            tenancy.BACKGROUND_PER_MINUTE,
        )
        # An integration cannot escape the plan's limit by sending the header.
        assert tenancy._budget(tenant, client)[0] == f"tenant:{tenant.id}"
    with app.test_request_context():
        assert tenancy._budget(tenant, user)[0] == f"tenant:{tenant.id}"


def test_a_suspended_plant_shows_its_state_not_its_figures(
    pages_for: Any, database: Any, world: World
) -> None:
    from ems_tenants import services

    with database.transaction() as session:
        services.suspend(session, services.get_tenant(session, "gamma-works"))
    try:
        text = pages_for("pat").text("/provider/")
        assert 'data-testid="suspended-gamma-works"' in text
        assert 'data-testid="gateways-gamma-works"' not in text
        assert 'data-testid="gateways-alpha-works"' in text
    finally:
        with database.transaction() as session:
            services.resume(session, services.get_tenant(session, "gamma-works"))


def test_a_job_stopped_by_its_time_limit_ends_failed_not_running(
    database: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dramatiq.middleware import TimeLimitExceeded

    from ems.context import TenantRef, current_tenant
    from ems.jobs import runner, services
    from ems.jobs.models import Job, JobKind

    alpha = world.tenants["alpha"]
    ref = TenantRef(alpha.id, alpha.slug, alpha.schema_name)
    token = current_tenant.set(ref)
    try:
        with database.transaction(alpha.schema_name) as session:
            job_id = services.create_job(
                session, JobKind.LEDGER_EXPORT, {"ledger": "meters", "format": "csv"}
            ).id
    finally:
        current_tenant.reset(token)

    def interrupted(*_: Any, **__: Any) -> Any:
        raise TimeLimitExceeded()

    monkeypatch.setattr(runner, "run", interrupted)
    with pytest.raises(TimeLimitExceeded):
        runner.run_in_transaction(database, ref, job_id)
    job = job_row(database, alpha.schema_name, job_id)
    assert job.status == "failed" and "time limit" in job.message
    with database.transaction(alpha.schema_name) as session:
        session.execute(delete(Job).where(Job.id == job_id))


def test_the_newest_values_are_read_without_the_others(database: Any, world: World) -> None:
    from ems.overview.services import latest_values
    from ems.telemetry.models import LatestValue, Point

    schema = world.tenants["beta"].schema_name
    now = datetime.now(UTC)
    with database.transaction(schema) as session:
        points = [
            Point(
                gateway_id="gw-new",
                code=f"N{i}",
                name=f"N{i}",
                energy_type="electricity",
                kind="instantaneous",
                unit="kW",
            )
            for i in range(5)
        ]
        session.add_all(points)
        session.flush()
        for i, point in enumerate(points):
            session.add(
                LatestValue(
                    point=point.id,
                    ts=now - timedelta(minutes=i),
                    value=i,
                    quality=0,
                    received_at=now,
                )
            )
        ids = [p.id for p in points]
    try:
        with database.session(schema) as session:
            newest = latest_values(session, newest=2)
        assert [row["code"] for row in newest] == ["N0", "N1"]
    finally:
        with database.transaction(schema) as session:
            session.execute(delete(LatestValue).where(LatestValue.point.in_(ids)))
            session.execute(delete(Point).where(Point.id.in_(ids)))
