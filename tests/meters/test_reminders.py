"""Calibration reminders: meters falling due within the lead time produce exactly one
reminder each (however often, however concurrently the job runs); settings, the routes,
acknowledgement and the notifier's bookkeeping."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import assert_error
from tests.meters.conftest import Fresh, make_meter

TODAY = date(2026, 3, 1)


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def run(database: Any, schema: str, today: date = TODAY) -> list[tuple[int, date]]:
    """One run of the reminder job; the new reminders' (meter, due)."""
    from ems.reminders import run as run_reminders

    with database.transaction(schema) as s:
        return [(r.subject_id, r.due) for r in run_reminders(s, today)]


def stored(database: Any, schema: str) -> list[tuple[str, str, int, date]]:
    from ems.reminders.models import Reminder

    with database.session(schema) as s:
        rows = s.execute(
            select(Reminder.kind, Reminder.subject_type, Reminder.subject_id, Reminder.due)
        )
        return sorted(tuple(r) for r in rows.all())


@pytest.fixture
def ledger(fresh: Fresh) -> dict[str, int]:
    """Meters around a 30-day window from TODAY."""
    admin, base = fresh.client("tenant_admin"), fresh.base
    made = {
        "soon": make_meter(admin, base, next_due_on=day(10)),
        "edge": make_meter(admin, base, next_due_on=day(30)),  # the last day inside
        "later": make_meter(admin, base, next_due_on=day(31)),
        "overdue": make_meter(admin, base, last_verified_on="2025-02-20", interval_months=12),
        "retired": make_meter(admin, base, next_due_on=day(5), state="out_of_service"),
        "unknown": make_meter(admin, base),
    }
    assert made["overdue"]["next_due_on"] == "2026-02-20"
    return {name: meter["id"] for name, meter in made.items()}


def test_each_meter_due_within_the_lead_time_gets_exactly_one_reminder(
    database: Any, fresh: Fresh, ledger: dict[str, int]
) -> None:
    new = run(database, fresh.schema)
    expected = sorted(
        [
            (ledger["overdue"], date(2026, 2, 20)),
            (ledger["soon"], TODAY + timedelta(days=10)),
            (ledger["edge"], TODAY + timedelta(days=30)),
        ],
        key=lambda pair: pair[1],
    )
    assert new == expected
    assert run(database, fresh.schema) == []  # run twice: still one each
    assert run(database, fresh.schema, TODAY + timedelta(days=1)) == [
        (ledger["later"], TODAY + timedelta(days=31))  # the window moved by a day
    ]
    assert stored(database, fresh.schema) == sorted(
        ("calibration_due", "meter", meter_id, due)
        for meter_id, due in [*expected, (ledger["later"], TODAY + timedelta(days=31))]
    )


def test_concurrent_runs_create_each_reminder_once(
    database: Any, fresh: Fresh, ledger: dict[str, int]
) -> None:
    from ems.reminders import run as run_reminders

    barrier = threading.Barrier(4)
    created: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with database.transaction(fresh.schema) as s:
                barrier.wait(timeout=10)
                created.extend(r.subject_id for r in run_reminders(s, TODAY))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(created) == sorted([ledger["soon"], ledger["edge"], ledger["overdue"]])
    assert len(stored(database, fresh.schema)) == 3


def test_a_new_verification_moves_the_due_date(
    database: Any, fresh: Fresh, ledger: dict[str, int]
) -> None:
    admin, base = fresh.client("tenant_admin"), fresh.base
    run(database, fresh.schema)
    url = f"{base}/meters/{ledger['soon']}"
    r = admin.put(
        url,
        json={"name": "电能表", "level": 1, "management_number": "SOON", "interval_months": 12},
        headers={"If-Match": admin.get(url).headers["ETag"]},
    )
    assert r.status_code == 200, r.get_json()
    # Verified: due a year on, outside the window, so no new reminder.
    record = {"performed_on": day(-1), "result": "pass"}
    assert admin.post(f"{url}/verifications", json=record).status_code == 201
    assert run(database, fresh.schema) == []
    # A short-dated certificate: the new date is inside the window, one new reminder.
    record = {"performed_on": day(0), "result": "pass", "next_due_on": day(20)}
    assert admin.post(f"{url}/verifications", json=record).status_code == 201
    assert run(database, fresh.schema) == [(ledger["soon"], TODAY + timedelta(days=20))]
    dues = [
        due for _, _, meter_id, due in stored(database, fresh.schema) if meter_id == ledger["soon"]
    ]
    assert dues == [TODAY + timedelta(days=10), TODAY + timedelta(days=20)]


def test_lead_time_is_configurable(database: Any, fresh: Fresh, ledger: dict[str, int]) -> None:
    admin, base = fresh.client("tenant_admin"), fresh.base
    settings = admin.get(f"{base}/reminder-settings").get_json()
    assert {"kind": "calibration_due", "lead_days": 30, "customised": False} in settings
    body = {"settings": [{"kind": "calibration_due", "lead_days": 5}]}
    r = admin.put(f"{base}/reminder-settings", json=body)
    assert r.status_code == 200, r.get_json()
    assert {"kind": "calibration_due", "lead_days": 5, "customised": True} in r.get_json()
    assert {meter for meter, _ in run(database, fresh.schema)} == {ledger["overdue"]}
    summary = admin.get(f"{base}/meters/summary").get_json()
    assert summary["verification"]["lead_days"] == 5
    for bad, field in (
        ({"settings": [{"kind": "nope", "lead_days": 5}]}, "settings.0.kind"),
        ({"settings": [{"kind": "calibration_due", "lead_days": 400}]}, "settings.0.lead_days"),
        ({"settings": [{"kind": "calibration_due", "lead_days": -1}]}, "settings.0.lead_days"),
        ({"settings": []}, "settings"),
    ):
        error = assert_error(admin.put(f"{base}/reminder-settings", json=bad), 422)
        assert field in error["fields"], error
    for role in ("operator", "viewer"):
        assert_error(fresh.client(role).put(f"{base}/reminder-settings", json=body), 403)


def test_reminders_are_listed_and_acknowledged(
    database: Any, fresh: Fresh, ledger: dict[str, int]
) -> None:
    run(database, fresh.schema)
    base, viewer = fresh.base, fresh.client("viewer")
    listed = viewer.get(f"{base}/reminders?kind=calibration_due").get_json()
    assert [r["subject_id"] for r in listed] == [ledger["overdue"], ledger["soon"], ledger["edge"]]
    assert "检定/校准到期" in listed[0]["title"] and listed[0]["acknowledged_at"] is None
    one = listed[1]
    url = f"{base}/reminders/{one['id']}/acknowledge"
    assert_error(viewer.post(url), 403, "forbidden")
    r = fresh.client("operator").post(url)
    assert r.status_code == 200, r.get_json()
    done = r.get_json()
    assert done["acknowledged_by"] == fresh.users["operator"] and done["acknowledged_at"]
    again = fresh.client("tenant_admin").post(url).get_json()
    assert (again["acknowledged_by"], again["acknowledged_at"]) == (
        done["acknowledged_by"],
        done["acknowledged_at"],
    )
    open_ = viewer.get(f"{base}/reminders?acknowledged=false").get_json()
    assert one["id"] not in [r["id"] for r in open_] and len(open_) == 2
    by_meter = viewer.get(f"{base}/reminders?subject_type=meter&subject_id={ledger['edge']}")
    assert [r["due"] for r in by_meter.get_json()] == [day(30)]
    window = viewer.get(f"{base}/reminders?due_from={day(0)}&due_to={day(15)}").get_json()
    assert [r["subject_id"] for r in window] == [ledger["soon"]]
    assert_error(fresh.client("operator").post(f"{base}/reminders/999999/acknowledge"), 404)


class FakeNotifier:
    """Stands in for an e-mail or SMS gateway: records what it was given, fails on request."""

    def __init__(self, fail_for: set[int] | None = None) -> None:
        self.sent: list[int] = []
        self.fail_for = fail_for or set()

    def notify(self, tenant: Any, reminder: Any) -> None:
        from ems.reminders.notify import NotificationFailed

        if reminder.subject_id in self.fail_for:
            raise NotificationFailed("gateway refused")
        self.sent.append(reminder.subject_id)


@pytest.fixture(params=["fake", "log"])
def notifier(request: pytest.FixtureRequest) -> Any:
    """The fake and the default notifier pass the same conformance test."""
    from ems.reminders.notify import LogNotifier

    return FakeNotifier() if request.param == "fake" else LogNotifier()


def test_notifiers_conform(
    database: Any, fresh: Fresh, ledger: dict[str, int], notifier: Any
) -> None:
    from ems.context import TenantRef
    from ems.reminders.models import Reminder
    from ems.reminders.notify import Notifier, deliver

    run(database, fresh.schema)
    protocol: Notifier = notifier  # structurally a Notifier (checked by mypy)
    tenant = TenantRef(fresh.tenant_id, fresh.slug, fresh.schema)
    with database.transaction(fresh.schema) as s:
        assert deliver(s, tenant, protocol) == 3
    with database.transaction(fresh.schema) as s:
        assert deliver(s, tenant, protocol) == 0  # nothing pending any more
        assert all(r.notified_at is not None for r in s.scalars(select(Reminder)))


def test_a_failed_delivery_stays_pending(
    database: Any, fresh: Fresh, ledger: dict[str, int]
) -> None:
    from ems.context import TenantRef
    from ems.reminders.models import Reminder
    from ems.reminders.notify import current_notifier, deliver, set_notifier

    run(database, fresh.schema)
    tenant = TenantRef(fresh.tenant_id, fresh.slug, fresh.schema)
    failing = FakeNotifier(fail_for={ledger["soon"]})
    previous = set_notifier(failing)
    try:
        assert current_notifier() is failing
        with database.transaction(fresh.schema) as s:
            assert deliver(s, tenant) == 2
        assert sorted(failing.sent) == sorted([ledger["edge"], ledger["overdue"]])
        failing.fail_for.clear()
        with database.transaction(fresh.schema) as s:
            assert deliver(s, tenant) == 1
        assert failing.sent[-1] == ledger["soon"]
    finally:
        set_notifier(previous)
    with database.session(fresh.schema) as s:
        assert all(r.notified_at is not None for r in s.scalars(select(Reminder)))


def test_deleting_a_meter_removes_its_reminders(
    database: Any, fresh: Fresh, ledger: dict[str, int]
) -> None:
    run(database, fresh.schema)
    admin, url = fresh.client("tenant_admin"), f"{fresh.base}/meters/{ledger['soon']}"
    r = admin.delete(url, headers={"If-Match": admin.get(url).headers["ETag"]})
    assert r.status_code == 204
    assert ledger["soon"] not in [meter for _, _, meter, _ in stored(database, fresh.schema)]
    assert len(stored(database, fresh.schema)) == 2
