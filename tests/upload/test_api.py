"""The upload API: profiles, registrations, the actions that talk to a platform, manual upload.

Requests run in their own sessions and commit in tenant alpha, where a profile can be
registered once: the ``alpha_upload`` fixture removes every registration a test created
(and the log, outbox, dictionary and statistics rows hanging on it) afterwards. The
platform is the simulated one (:mod:`ems_provsim`), or a port nothing listens on.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select

from ems.upload.models import (
    DictionaryEntry,
    DictionaryVersion,
    UploadCode,
    UploadDayStats,
    UploadedSubmission,
    UploadItem,
    UploadRegistration,
    UploadRequest,
)
from ems_provsim.server import Simulator
from tests.conftest import assert_error

BASE = "/api/v1/tenants/alpha-works"
REGISTRATIONS = f"{BASE}/upload/registrations"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there
PIN = "204816"
SECRETS = ("pin", "client_p12_base64", "client_p12_password", "secret_key", "access_key")


@pytest.fixture(autouse=True)
def alpha_upload(database: Any, world: Any) -> Iterator[None]:
    """Remove every upload row the test left in alpha (and alpha's control copies)."""
    schema = world.tenants["alpha"].schema_name
    tenant_id = world.tenants["alpha"].id
    with database.session(schema) as s:
        kept = set(s.scalars(select(UploadRegistration.id)))
        submissions = set(
            s.scalars(
                select(UploadedSubmission.id).where(UploadedSubmission.tenant_id == tenant_id)
            )
        )
        day_stats = {
            (row.profile, row.day): row
            for row in s.scalars(
                select(UploadDayStats).where(UploadDayStats.tenant_id == tenant_id)
            )
        }
        s.expunge_all()
    yield
    with database.transaction(schema) as s:
        made = [i for i in s.scalars(select(UploadRegistration.id)) if i not in kept]
        if made:
            for model in (UploadRequest, UploadItem, UploadCode, DictionaryEntry):
                s.execute(delete(model).where(model.registration_id.in_(made)))
            s.execute(delete(DictionaryVersion).where(DictionaryVersion.registration_id.in_(made)))
            s.execute(delete(UploadRegistration).where(UploadRegistration.id.in_(made)))
        s.execute(
            delete(UploadedSubmission).where(
                UploadedSubmission.tenant_id == tenant_id,
                UploadedSubmission.id.not_in(submissions or {0}),
            )
        )
        for row in s.scalars(select(UploadDayStats).where(UploadDayStats.tenant_id == tenant_id)):
            before = day_stats.get((row.profile, row.day))
            if before is None:
                s.delete(row)
            else:
                for name in ("expected", "uploaded", "on_time", "failed_requests", "computed_at"):
                    setattr(row, name, getattr(before, name))


@pytest.fixture
def alice(client_for: Any) -> Any:
    return client_for("alice")


@pytest.fixture
def simulator(world: Any) -> Iterator[Simulator]:
    """The national platform, with alpha's account open."""
    tenant = world.tenants["alpha"]
    sim = Simulator("national").start()
    sim.provision(tenant.credit_code, tenant.region_code)
    yield sim
    sim.stop()


def create(client: Any, **body: Any) -> dict[str, Any]:
    body = {"profile": "national", "base_url": UNREACHABLE, **body}
    response = client.post(REGISTRATIONS, json=body)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def stored(database: Any, world: Any, registration_id: int) -> UploadRegistration | None:
    with database.session(world.tenants["alpha"].schema_name) as s:
        row = s.get(UploadRegistration, registration_id)
        if row is not None:
            s.expunge(row)
        return row


def logged(client: Any, registration_id: int) -> list[dict[str, Any]]:
    response = client.get(
        f"{BASE}/upload/requests",
        query_string={"registration_id": registration_id, "page_size": 100},
    )
    assert response.status_code == 200, response.get_json()
    rows: list[dict[str, Any]] = response.get_json()
    return rows


# --- profiles ------------------------------------------------------------------------------


def test_the_four_shipped_profiles_are_listed(client_for: Any) -> None:
    response = client_for("vera").get(f"{BASE}/upload/profiles")
    assert response.status_code == 200
    shipped = {p["code"]: p for p in response.get_json()}
    assert set(shipped) == {"national", "anhui", "shandong", "yunnan"}
    assert shipped["yunnan"]["name"].startswith("云南省")
    assert shipped["anhui"]["name"].startswith("安徽省")
    assert shipped["national"]["name"].startswith("国家")
    assert shipped["yunnan"]["auth"] == "bearer" and shipped["yunnan"]["success_code"] == "200"
    assert shipped["anhui"]["auth"] == "mtls"
    assert all(p["realtime_minutes"] in (15, 30, 60) for p in shipped.values())


# --- registrations: create, read, change, remove -------------------------------------------


def test_create_defaults_to_the_tenant_and_never_echoes_secrets(
    alice: Any, world: Any, database: Any
) -> None:
    tenant = world.tenants["alpha"]
    made = alice.post(
        REGISTRATIONS, json={"profile": "yunnan", "base_url": "https://yn.example.cn/", "pin": PIN}
    )
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["enterprise_code"] == tenant.credit_code
    assert body["region_code"] == tenant.region_code
    assert body["base_url"] == "https://yn.example.cn"  # the trailing slash is dropped
    assert body["status"] == "new" and body["device_id"] is None
    assert body["realtime_minutes"] == 15  # the profile's
    assert (body["has_pin"], body["has_secret_key"], body["has_client_certificate"]) == (
        True,
        False,
        False,
    )
    assert not set(SECRETS) & set(body)
    assert PIN not in made.get_data(as_text=True)
    row = stored(database, world, body["id"])
    assert row is not None and row.pin is not None and PIN.encode() not in row.pin  # sealed

    shown = alice.get(f"{REGISTRATIONS}/{body['id']}")
    assert shown.status_code == 200 and shown.headers.get("ETag")
    assert PIN not in shown.get_data(as_text=True)
    listed = alice.get(REGISTRATIONS).get_json()
    assert body["id"] in [r["id"] for r in listed]
    assert PIN not in alice.get(REGISTRATIONS).get_data(as_text=True)


def test_create_with_own_codes_and_a_certificate(alice: Any) -> None:
    p12 = b"\x30\x82 not really a PKCS#12 file"
    body = create(
        alice,
        profile="anhui",
        enterprise_code="91330000573973053F",
        region_code="530102",
        realtime_minutes=60,
        client_p12_base64=base64.b64encode(p12).decode(),
        client_p12_password="p12-password",
    )
    assert body["enterprise_code"] == "91330000573973053F"
    assert body["region_code"] == "530102"
    assert body["realtime_minutes"] == 60
    assert body["has_client_certificate"] is True
    assert "p12-password" not in str(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"profile": "hainan"}, "profile"),
        ({"profile": None}, "profile"),
        ({"base_url": "ftp://platform.example.cn"}, "base_url"),
        ({"base_url": "platform.example.cn"}, "base_url"),
        ({"base_url": "https://x.cn/" + "a" * 500}, "base_url"),
        ({"enterprise_code": "91530100MA6K1X2Y3"}, "enterprise_code"),  # 17 characters
        ({"enterprise_code": "91530100MA6K1X2Y3I"}, "enterprise_code"),  # I is not used
        ({"enterprise_code": "91530100ma6k1x2y3a"}, "enterprise_code"),
        ({"region_code": "53010"}, "region_code"),
        ({"region_code": "53010A"}, "region_code"),
        ({"realtime_minutes": 20}, "realtime_minutes"),
        ({"realtime_minutes": "often"}, "realtime_minutes"),
        ({"pin": "12"}, "pin"),
        ({"pin": "12ab56"}, "pin"),
        ({"pin": "２０４８１６"}, "pin"),  # full-width digits
        ({"pin": "204816\n"}, "pin"),
        ({"region_code": "５３０１００"}, "region_code"),
        ({"region_code": "530100\n"}, "region_code"),
        ({"enterprise_code": "91530100MA6K1X2Y3W\n"}, "enterprise_code"),
        ({"enterprise_code": "91530100MA6K1X2Y3B"}, "enterprise_code"),  # wrong check character
        ({"enabled": "maybe"}, "enabled"),
        ({"client_p12_password": "x" * 201}, "client_p12_password"),
        ({"colour": "blue"}, "colour"),
        ({"profile": "yunnan"}, "pin"),  # bearer: the PIN it issued is needed
        ({"profile": "anhui"}, "client_p12_base64"),  # mTLS: a client certificate is needed
        ({"profile": "anhui", "client_p12_base64": "not base64!"}, "client_p12_base64"),
    ],
)
def test_bad_registration_is_refused_naming_the_field(
    alice: Any, database: Any, world: Any, body: dict[str, Any], field: str
) -> None:
    request = {"profile": "national", "base_url": "https://platform.example.cn", **body}
    error = assert_error(alice.post(REGISTRATIONS, json=request), 422, "invalid_input")
    assert field in error["fields"], error
    with database.session(world.tenants["alpha"].schema_name) as s:
        assert s.scalar(select(UploadRegistration).filter_by(profile=request["profile"])) is None


def test_missing_profile_and_base_url_are_named(alice: Any) -> None:
    error = assert_error(alice.post(REGISTRATIONS, json={}), 422, "invalid_input")
    assert {"profile", "base_url"} <= set(error["fields"])


def test_a_second_registration_of_a_profile_conflicts(
    alice: Any, database: Any, world: Any
) -> None:
    first = create(alice)
    again = alice.post(REGISTRATIONS, json={"profile": "national", "base_url": "https://b.cn"})
    error = assert_error(again, 409, "conflict")
    assert "national" in error["message"]
    with database.session(world.tenants["alpha"].schema_name) as s:
        rows = s.scalars(select(UploadRegistration).filter_by(profile="national")).all()
        assert [r.id for r in rows] == [first["id"]]
        assert rows[0].base_url == UNREACHABLE


def test_change_needs_the_current_etag(alice: Any) -> None:
    made = create(alice)
    url = f"{REGISTRATIONS}/{made['id']}"
    etag = alice.get(url).headers["ETag"]
    change = {"profile": "national", "base_url": "https://new.example.cn", "enabled": False}

    assert_error(alice.put(url, json=change), 428, "precondition_required")
    assert_error(alice.put(url, json=change, headers={"If-Match": '"stale"'}), 412)
    assert alice.get(url).get_json()["base_url"] == UNREACHABLE

    changed = alice.put(url, json=change, headers={"If-Match": etag})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["base_url"] == "https://new.example.cn"
    assert changed.get_json()["enabled"] is False
    assert changed.headers["ETag"] != etag
    assert_error(alice.put(url, json=change, headers={"If-Match": etag}), 412)  # stale now


def test_the_profile_cannot_change(alice: Any) -> None:
    made = create(alice)
    url = f"{REGISTRATIONS}/{made['id']}"
    etag = alice.get(url).headers["ETag"]
    body = {"profile": "shandong", "base_url": "https://sd.example.cn"}
    error = assert_error(alice.put(url, json=body, headers={"If-Match": etag}), 422)
    assert "profile" in error["fields"]
    after = alice.get(url)
    assert after.get_json()["profile"] == "national"
    assert after.get_json()["base_url"] == UNREACHABLE
    assert after.headers["ETag"] == etag


def test_a_refused_change_writes_nothing(alice: Any, database: Any, world: Any) -> None:
    made = create(alice, profile="anhui", client_p12_base64=base64.b64encode(b"cert").decode())
    url = f"{REGISTRATIONS}/{made['id']}"
    etag = alice.get(url).headers["ETag"]
    body = {
        "profile": "anhui",
        "base_url": "https://elsewhere.example.cn",
        "region_code": "530102",
        "client_p12_base64": "%%% not base64",
    }
    error = assert_error(alice.put(url, json=body, headers={"If-Match": etag}), 422)
    assert "client_p12_base64" in error["fields"]
    row = stored(database, world, made["id"])
    assert row is not None
    assert (row.base_url, row.region_code) == (UNREACHABLE, world.tenants["alpha"].region_code)
    assert alice.get(url).headers["ETag"] == etag


def test_remove_needs_the_current_etag(alice: Any, database: Any, world: Any) -> None:
    made = create(alice)
    url = f"{REGISTRATIONS}/{made['id']}"
    assert_error(alice.delete(url), 428, "precondition_required")
    assert_error(alice.delete(url, headers={"If-Match": '"stale"'}), 412)
    assert stored(database, world, made["id"]) is not None
    etag = alice.get(url).headers["ETag"]
    assert alice.delete(url, headers={"If-Match": etag}).status_code == 204
    assert stored(database, world, made["id"]) is None
    assert_error(alice.get(url), 404, "not_found")


def test_missing_registration_is_not_found(alice: Any) -> None:
    url = f"{REGISTRATIONS}/987654321"
    assert_error(alice.get(url), 404, "not_found")
    assert_error(alice.post(f"{url}/register"), 404)
    assert_error(alice.post(f"{url}/version-check"), 404)
    assert_error(alice.get(f"{url}/dictionaries"), 404)
    assert_error(alice.get(f"{url}/dictionary-versions"), 404)


# --- who may do what -----------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_write(client_for: Any, alice: Any) -> None:
    made = create(alice)
    url = f"{REGISTRATIONS}/{made['id']}"
    etag = alice.get(url).headers["ETag"]
    vera = client_for("vera")
    assert vera.get(url).status_code == 200
    assert vera.get(REGISTRATIONS).status_code == 200
    body = {"profile": "shandong", "base_url": "https://sd.example.cn"}
    assert_error(vera.post(REGISTRATIONS, json=body), 403, "forbidden")
    assert_error(vera.put(url, json=body, headers={"If-Match": etag}), 403, "forbidden")
    assert_error(vera.delete(url, headers={"If-Match": etag}), 403, "forbidden")
    assert_error(vera.post(f"{url}/register"), 403, "forbidden")
    assert_error(vera.post(f"{url}/version-check"), 403, "forbidden")
    assert_error(vera.post(f"{url}/submissions", json={"kind": "info"}), 403, "forbidden")
    assert_error(vera.post(f"{url}/upload", json={}), 403, "forbidden")
    assert_error(vera.post(f"{BASE}/upload/items/1/release"), 403, "forbidden")
    assert alice.get(url).headers["ETag"] == etag


def test_an_operator_cannot_set_up_accounts(client_for: Any, alice: Any) -> None:
    made = create(alice)
    oscar = client_for("oscar")
    body = {"profile": "shandong", "base_url": "https://sd.example.cn"}
    assert_error(oscar.post(REGISTRATIONS, json=body), 403, "forbidden")
    assert_error(oscar.post(f"{REGISTRATIONS}/{made['id']}/register"), 403, "forbidden")


def test_another_tenant_admin_cannot_see_alphas_accounts(client_for: Any, alice: Any) -> None:
    made = create(alice)
    bob = client_for("bob")
    assert_error(bob.get(f"{REGISTRATIONS}/{made['id']}"), 404)
    assert_error(bob.get(f"/api/v1/tenants/beta-works/upload/registrations/{made['id']}"), 404)


# --- register, version check, dictionaries -------------------------------------------------


def test_register_with_the_simulated_platform(
    alice: Any, simulator: Simulator, world: Any, database: Any
) -> None:
    tenant = world.tenants["alpha"]
    made = create(alice, base_url=simulator.base_url)
    url = f"{REGISTRATIONS}/{made['id']}"

    answer = alice.post(f"{url}/register")

    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    account = simulator.account(tenant.credit_code)
    assert account is not None and account.device_id and account.secret_key
    assert result["ok"] is True
    assert [e["endpoint"] for e in result["exchanges"]] == ["register"]
    assert result["exchanges"][0]["outcome"] == "accepted"
    reg = result["registration"]
    assert reg["status"] == "registered"
    assert reg["device_id"] == account.device_id
    assert reg["has_secret_key"] is True
    assert set(reg["urls"]) == {"version", "data", "info", "meters", "dictionary"}
    assert reg["registered_at"] is not None
    assert reg["dic_version"] is None
    assert account.secret_key not in answer.get_data(as_text=True)
    row = stored(database, world, made["id"])
    assert row is not None and row.secret_key is not None
    assert account.secret_key.encode() not in row.secret_key  # sealed at rest

    log = logged(alice, made["id"])
    assert [(r["endpoint"], r["outcome"], r["manual"]) for r in log] == [
        ("register", "accepted", True)
    ]
    assert log[0]["http_status"] == 200 and log[0]["response_code"] == "0"
    assert log[0]["url"] == simulator.register_url
    assert account.secret_key not in (log[0]["response_excerpt"] or "")
    assert tenant.credit_code in (log[0]["request_excerpt"] or "")
    assert [r["endpoint"] for r in simulator.requests()] == ["register"]


def test_register_with_an_unreachable_platform_is_logged(
    alice: Any, database: Any, world: Any
) -> None:
    made = create(alice)
    url = f"{REGISTRATIONS}/{made['id']}"

    answer = alice.post(f"{url}/register")

    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert result["ok"] is False
    assert result["message"]
    assert [(e["endpoint"], e["outcome"]) for e in result["exchanges"]] == [
        ("register", "unreachable")
    ]
    assert result["exchanges"][0]["http_status"] is None
    assert result["registration"]["status"] == "failed"
    assert result["registration"]["device_id"] is None
    row = stored(database, world, made["id"])
    assert row is not None and row.status == "failed"
    log = logged(alice, made["id"])
    assert [(r["endpoint"], r["outcome"]) for r in log] == [("register", "unreachable")]
    assert log[0]["message"] == result["message"]
    assert log[0]["url"] == UNREACHABLE + "/api/register"

    # A registration with a request log is kept (it can be disabled instead).
    etag = alice.get(url).headers["ETag"]
    error = assert_error(alice.delete(url, headers={"If-Match": etag}), 409, "conflict")
    assert "disable" in error["message"]
    assert stored(database, world, made["id"]) is not None
    assert len(logged(alice, made["id"])) == 1


def test_register_with_a_certificate_that_does_not_open(alice: Any) -> None:
    garbage = base64.b64encode(b"not a PKCS#12 file").decode()
    made = create(alice, profile="anhui", client_p12_base64=garbage)
    answer = alice.post(f"{REGISTRATIONS}/{made['id']}/register")
    error = assert_error(answer, 422, "invalid_input")
    assert "certificate" in error["message"]
    assert logged(alice, made["id"]) == []
    assert alice.get(f"{REGISTRATIONS}/{made['id']}").get_json()["status"] == "new"


def test_actions_before_registration_conflict(alice: Any) -> None:
    made = create(alice)
    url = f"{REGISTRATIONS}/{made['id']}"
    assert_error(alice.post(f"{url}/version-check"), 409, "conflict")
    assert_error(alice.post(f"{url}/submissions", json={"kind": "info"}), 409, "conflict")
    assert_error(alice.post(f"{url}/upload", json={}), 409, "conflict")
    assert logged(alice, made["id"]) == []


def test_version_check_downloads_every_dictionary(
    alice: Any, client_for: Any, simulator: Simulator
) -> None:
    made = create(alice, base_url=simulator.base_url)
    url = f"{REGISTRATIONS}/{made['id']}"
    assert alice.post(f"{url}/register").get_json()["ok"] is True
    # Registered, but without dictionaries nothing can be checked or sent.
    error = assert_error(alice.post(f"{url}/upload", json={}), 409, "conflict")
    assert "dictionaries" in error["message"]
    assert alice.get(f"{url}/dictionary-versions").get_json() == []

    answer = alice.post(f"{url}/version-check")

    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert result["ok"] is True
    endpoints = [e["endpoint"] for e in result["exchanges"]]
    assert endpoints == ["version"] + ["dictionary"] * 17
    assert {e["outcome"] for e in result["exchanges"]} == {"accepted"}
    assert result["registration"]["dic_version"] == str(simulator.dic_version)
    assert result["registration"]["checked_at"] is not None

    versions = alice.get(f"{url}/dictionary-versions").get_json()
    assert len(versions) == 1
    expected = simulator.dictionaries()
    assert versions[0]["version"] == str(simulator.dic_version)
    assert versions[0]["items"] == 17 and versions[0]["complete"] is True
    assert versions[0]["in_use"] is True
    assert versions[0]["entries"] == sum(len(entries) for entries in expected.values())

    energy = alice.get(f"{url}/dictionaries", query_string={"item": 8, "page_size": 100})
    assert energy.status_code == 200
    entries = energy.get_json()
    assert {e["item"] for e in entries} == {8}
    assert sorted(e["code"] for e in entries) == sorted(e["code"] for e in expected[8])
    electricity = next(e for e in entries if e["code"] == "1200")
    assert electricity["version"] == str(simulator.dic_version)
    assert electricity["name"] and electricity["unit"]
    everything = alice.get(f"{url}/dictionaries", query_string={"page_size": 100})
    assert {e["item"] for e in everything.get_json()} == set(range(1, 18))
    other = alice.get(f"{url}/dictionaries", query_string={"version": "no-such-version"})
    assert other.status_code == 200 and other.get_json() == []

    # Now a manual upload runs (nothing is mapped, so nothing is sent), even by an operator.
    upload = client_for("oscar").post(f"{url}/upload", json={})
    assert upload.status_code == 200, upload.get_json()
    sent = upload.get_json()
    assert (sent["accepted"], sent["requests"], sent["failed"]) == (0, 0, False)
    assert (sent["queued_new"], sent["for_correction"]) == (0, 0)
    assert len(logged(alice, made["id"])) == 1 + 1 + 17  # nothing sent


def test_submissions_are_uploaded_and_kept_for_regulators(
    alice: Any, simulator: Simulator, world: Any, database: Any
) -> None:
    made = create(alice, base_url=simulator.base_url)
    url = f"{REGISTRATIONS}/{made['id']}"
    assert alice.post(f"{url}/register").get_json()["ok"] is True

    error = assert_error(alice.post(f"{url}/submissions", json={"kind": "energy"}), 422)
    assert "kind" in error["fields"]
    error = assert_error(alice.post(f"{url}/submissions", json={}), 422)
    assert "kind" in error["fields"]

    answer = alice.post(f"{url}/submissions", json={"kind": "info"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["ok"] is True
    assert [e["endpoint"] for e in answer.get_json()["exchanges"]] == ["info"]
    infos = simulator.infos()
    assert len(infos) == 1
    assert world.tenants["alpha"].credit_code in str(infos[0])
    with database.session() as s:
        kept = s.scalars(
            select(UploadedSubmission).where(
                UploadedSubmission.tenant_id == world.tenants["alpha"].id,
                UploadedSubmission.profile == "national",
            )
        ).all()
        assert [k.kind for k in kept] == ["info"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"item": 18}, "query.item"),
        ({"item": 0}, "query.item"),
        ({"item": "energy"}, "query.item"),
        ({"version": "v" * 33}, "query.version"),
    ],
)
def test_bad_dictionary_query_is_named(alice: Any, query: dict[str, Any], field: str) -> None:
    made = create(alice)
    answer = alice.get(f"{REGISTRATIONS}/{made['id']}/dictionaries", query_string=query)
    error = assert_error(answer, 422, "invalid_input")
    assert field in error["fields"], error


# --- manual upload and release ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2026-11-01T00:00:00+08:00"}, "from"),
        ({"to": "2026-11-01T00:00:00+08:00"}, "from"),
        ({"from": "2026-11-02T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}, "from"),
        ({"from": "2026-11-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}, "from"),
        ({"from": "2025-01-01T00:00:00+08:00", "to": "2026-03-01T00:00:00+08:00"}, "to"),
        ({"from": "2026-11-01T00:00:00", "to": "2026-11-02T00:00:00"}, "from"),  # naive
        ({"from": "yesterday", "to": "2026-11-02T00:00:00+08:00"}, "from"),
        ({"stat_types": [7]}, "stat_types.0"),
        ({"stat_types": "day"}, "stat_types"),
    ],
)
def test_bad_manual_upload_is_refused_naming_the_field(
    client_for: Any, alice: Any, body: dict[str, Any], field: str
) -> None:
    made = create(alice)
    answer = client_for("oscar").post(f"{REGISTRATIONS}/{made['id']}/upload", json=body)
    error = assert_error(answer, 422, "invalid_input")
    assert field in error["fields"], error
    assert logged(alice, made["id"]) == []


def test_manual_upload_before_the_dictionaries_conflicts(client_for: Any, alice: Any) -> None:
    made = create(alice)
    body = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-11-02T00:00:00+08:00"}
    answer = client_for("oscar").post(f"{REGISTRATIONS}/{made['id']}/upload", json=body)
    error = assert_error(answer, 409, "conflict")
    assert "dictionaries" in error["message"]


def _item(database: Any, world: Any, registration_id: int, status: str, stat_type: int) -> int:
    start = datetime(2040, 1, 1, tzinfo=UTC)
    with database.transaction(world.tenants["alpha"].schema_name) as s:
        item = UploadItem(
            registration_id=registration_id,
            code="0000000002120002",
            stat_type=stat_type,
            period_start=start,
            version=1,
            value=Decimal("12.5"),
            input_type=2,
            scope=1,
            status=status,
            reason="code 0000000002120002 is not in dictionary 8"
            if status == "correction"
            else None,
            due_at=start,
        )
        s.add(item)
        s.flush()
        return item.id


def test_release_only_rows_waiting_for_correction(
    client_for: Any, alice: Any, database: Any, world: Any
) -> None:
    made = create(alice)
    pending = _item(database, world, made["id"], "pending", 1)
    waiting = _item(database, world, made["id"], "correction", 2)
    oscar = client_for("oscar")

    error = assert_error(oscar.post(f"{BASE}/upload/items/{pending}/release"), 409, "conflict")
    assert "pending" in error["message"]
    assert_error(oscar.post(f"{BASE}/upload/items/987654321/release"), 404, "not_found")

    released = oscar.post(f"{BASE}/upload/items/{waiting}/release")
    assert released.status_code == 200, released.get_json()
    assert released.get_json() == {"id": waiting, "status": "pending"}
    with database.session(world.tenants["alpha"].schema_name) as s:
        row = s.get(UploadItem, waiting)
        assert row is not None and (row.status, row.reason) == ("pending", None)
    # Released once, it no longer waits.
    assert_error(oscar.post(f"{BASE}/upload/items/{waiting}/release"), 409, "conflict")

    # Queued rows keep the account: it can only be disabled.
    url = f"{REGISTRATIONS}/{made['id']}"
    etag = alice.get(url).headers["ETag"]
    assert_error(alice.delete(url, headers={"If-Match": etag}), 409, "conflict")
    assert stored(database, world, made["id"]) is not None
