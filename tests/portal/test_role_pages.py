"""The pages of the other roles: a provider engineer's plants, a regulator's region, a
tenant's users and roles, and a platform administrator's tenant detail."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from tests.conftest import PASSWORD, World

ALPHA, BETA, GAMMA = "alpha-works", "beta-works", "gamma-works"
MEMBERS = f"/t/{ALPHA}/members/"


def _slugs(text: str) -> list[str]:
    table = re.search(r'<table data-testid="provider-table">.*?</table>', text, re.S)
    assert table is not None, text[:2000]
    return re.findall(r'<tr data-slug="([^"]+)"', table.group(0))


def _cell(text: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</td>', text, re.S)
    assert found is not None, testid
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


# --- provider engineer ---------------------------------------------------------------


def _quarantine_count(database: Any, schema: str) -> int:
    from ems.telemetry.models import QuarantineEntry

    with database.transaction(schema) as s:
        return s.scalar(select(func.count()).select_from(QuarantineEntry)) or 0


@pytest.fixture
def gamma_faults(database: Any, world: World) -> Iterator[int]:
    """Quarantined readings in gamma's schema only, more than alpha has: (how many)."""
    from ems.telemetry.models import QuarantineEntry

    alpha, gamma = world.tenants["alpha"].schema_name, world.tenants["gamma"].schema_name
    extra = max(_quarantine_count(database, alpha) - _quarantine_count(database, gamma), 0) + 2
    reason = f"portal-test-{uuid.uuid4().hex[:8]}"
    with database.transaction(gamma) as s:
        for _ in range(extra):
            s.add(
                QuarantineEntry(gateway_id="gw-x", channel="mqtt", layer="business", reason=reason)
            )
    yield extra
    with database.transaction(gamma) as s:
        s.execute(delete(QuarantineEntry).where(QuarantineEntry.reason == reason))


def test_provider_overview_lists_exactly_the_engineers_plants(
    pages_for: Any, client_for: Any, database: Any, world: World, gamma_faults: int
) -> None:
    from ems.db import utcnow
    from ems.overview.services import plant_health

    text = pages_for("pat").text("/provider/")
    assert _slugs(text) == [ALPHA, GAMMA]  # by name; beta is not pat's
    assert "BETA" not in text and BETA not in text
    api = client_for("pat").get("/api/v1/provider/overview")
    assert api.status_code == 200
    rows = {row["slug"]: row for row in api.get_json()}
    assert sorted(rows) == [ALPHA, GAMMA]
    for key, slug in (("alpha", ALPHA), ("gamma", GAMMA)):
        tenant = world.tenants[key]
        with database.transaction(tenant.schema_name) as s:
            direct = plant_health(s, tenant.id, utcnow())
        health = rows[slug]["health"]
        assert health["quarantined_24h"] == direct.quarantined_24h, slug
        assert health["points"] == direct.points and health["open_faults"] == direct.open_faults
        assert health["gateways_total"] == len(direct.gateways)
        assert _cell(text, f"faults-{slug}") == f"{direct.open_faults:,}"
    # Gamma's quarantined readings were counted in gamma's schema, not alpha's.
    assert rows[GAMMA]["health"]["quarantined_24h"] > rows[ALPHA]["health"]["quarantined_24h"]
    assert f'href="/t/{GAMMA}/"' in text and f'href="/t/{ALPHA}/"' in text


@pytest.mark.parametrize("name", ["alice", "vera", "reggie", "admin"])
def test_only_provider_engineers_see_the_overview(
    pages_for: Any, client_for: Any, name: str
) -> None:
    assert pages_for(name).get("/provider/").status_code == 403
    answer = client_for(name).get("/api/v1/provider/overview")
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "forbidden"


def test_anonymous_overview_goes_to_login(pages_for: Any, client_for: Any) -> None:
    response = pages_for().get("/provider/")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    assert client_for().get("/api/v1/provider/overview").status_code == 401


def test_engineer_switches_tenant_within_memberships(pages_for: Any) -> None:
    pat = pages_for("pat")
    assert "ALPHA 工厂" in pat.text(f"/t/{ALPHA}/")
    switched = pat.get(f"/switch?slug={GAMMA}")
    assert switched.status_code == 303 and switched.headers["Location"] == f"/t/{GAMMA}/"
    gamma = pat.text(switched.headers["Location"])
    assert "GAMMA 工厂" in gamma and "BETA" not in gamma
    switch = re.search(r'<select id="tenant-switch".*?</select>', gamma, re.S)
    assert switch is not None
    assert re.findall(r'<option value="([^"]+)"', switch.group(0)) == [ALPHA, GAMMA]
    assert re.search(rf'<option value="{GAMMA}" selected>', switch.group(0))
    forged = pat.get(f"/switch?slug={BETA}")
    assert pat.get(forged.headers["Location"]).status_code == 404


# --- regulator -----------------------------------------------------------------------

DAY = date(2024, 6, 1)
RANGE = "from=2024-06-01&to=2024-06-02"
PLANT = "0000000001000000"


@pytest.fixture(scope="module")
def uploaded(database: Any, world: World) -> Iterator[str]:
    """Figures and statistics alpha and beta uploaded on 1 June 2024 (one profile of ours)."""
    from ems.upload.models import UploadDayStats, UploadedFigure

    profile = f"pt{uuid.uuid4().hex[:8]}"
    start = datetime(2024, 5, 31, 16, tzinfo=UTC)  # 1 June, Beijing time
    with database.transaction() as s:
        for key, value, counts in (
            ("alpha", "4321.5", (96, 90, 84)),
            ("beta", "777.25", (9, 1, 1)),
        ):
            tenant = world.tenants[key]
            s.add(
                UploadedFigure(
                    tenant_id=tenant.id,
                    profile=profile,
                    code=PLANT,
                    stat_type=1,
                    period_start=start,
                    version=1,
                    value=Decimal(value),
                    scope=1,
                    valid=True,
                    accepted_at=start,
                )
            )
            expected, done, on_time = counts
            s.add(
                UploadDayStats(
                    tenant_id=tenant.id,
                    profile=profile,
                    day=DAY,
                    expected=expected,
                    uploaded=done,
                    on_time=on_time,
                    failed_requests=0,
                )
            )
    yield profile
    with database.transaction() as s:
        for table in (UploadedFigure, UploadDayStats):
            s.execute(delete(table).where(table.profile == profile))


def test_regulator_sees_the_regions_enterprises_only(
    pages_for: Any, world: World, uploaded: str
) -> None:
    text = pages_for("reggie").text(f"/regulator/?{RANGE}")
    for key in ("alpha", "gamma"):
        assert f'data-testid="enterprise-{world.tenants[key].credit_code}"' in text
    assert world.tenants["beta"].credit_code not in text and "BETA" not in text
    row = re.search(
        rf'data-testid="enterprise-{world.tenants["alpha"].credit_code}".*?</tr>', text, re.S
    )
    assert row is not None
    assert "93.8%" in row.group(0) and "87.5%" in row.group(0)  # 90/96 and 84/96


def test_regulator_reads_an_enterprises_figures(
    pages_for: Any, world: World, uploaded: str
) -> None:
    alpha = world.tenants["alpha"].credit_code
    text = pages_for("reggie").text(f"/regulator/enterprises/{alpha}?{RANGE}")
    assert "ALPHA 工厂" in text and PLANT in text and "4,321.5" in text
    assert uploaded in text and "2024-06-01 00:00:00" in text
    assert "777.25" not in text  # beta's figure
    filtered = pages_for("reggie").text(
        f"/regulator/enterprises/{alpha}?{RANGE}&code=00-00-0000-000001-00&stat_type=2"
    )
    assert 'data-testid="figure-row"' not in filtered and 'data-testid="empty"' in filtered


def test_an_enterprise_outside_the_region_answers_like_a_missing_one(
    pages_for: Any, world: World
) -> None:
    reggie = pages_for("reggie")
    beta = reggie.get(f"/regulator/enterprises/{world.tenants['beta'].credit_code}")
    missing = reggie.get("/regulator/enterprises/91000000000000000X")
    assert beta.status_code == missing.status_code == 404
    assert "未找到该企业" in beta.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2024-06-03&to=2024-06-01", "from"),
        ("from=2023-01-01&to=2024-06-01", "to"),
        ("from=2024-02-30", "from"),
        ("stat_type=9", "stat_type"),
        ("code=12-34", "code"),
        ("versions=some", "versions"),
    ],
)
def test_bad_filters_are_named_next_to_the_field(
    pages_for: Any, world: World, query: str, field: str
) -> None:
    alpha = world.tenants["alpha"].credit_code
    response = pages_for("reggie").get(f"/regulator/enterprises/{alpha}?{query}")
    assert response.status_code == 422
    assert f'data-testid="error-{field}"' in response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["alice", "vera", "pat", "admin"])
def test_tenant_users_cannot_open_the_regulator_pages(
    pages_for: Any, world: World, name: str
) -> None:
    client = pages_for(name)
    assert client.get("/regulator/").status_code == 403
    alpha = world.tenants["alpha"].credit_code
    assert client.get(f"/regulator/enterprises/{alpha}").status_code == 403


# --- users and roles -----------------------------------------------------------------


@pytest.fixture
def newcomer(database: Any) -> Iterator[str]:
    """A user with no membership yet; removed afterwards with whatever was granted."""
    from ems_tenants import members
    from ems_tenants.models import User

    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    with database.transaction() as s:
        members.create_user(s, email=email, name="新同事", password=PASSWORD)
    yield email
    with database.transaction() as s:
        s.execute(delete(User).where(User.email == email))  # memberships cascade


def _membership_id(text: str, email: str) -> int:
    found = re.search(rf'data-testid="member-{re.escape(email)}" data-id="(\d+)"', text)
    assert found is not None, email
    return int(found.group(1))


def _role(database: Any, email: str) -> str | None:
    from ems_tenants.models import Membership, User

    with database.transaction() as s:
        return s.scalar(
            select(Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email)
        )


def test_members_page_lists_members_with_translated_roles(pages_for: Any) -> None:
    text = pages_for("alice").text(MEMBERS)
    assert 'data-testid="member-vera@example.com"' in text
    assert "企业管理员" in text and "只读用户" in text and "服务商工程师" in text
    assert "bob@example.com" not in text  # beta's administrator
    english = pages_for("alice", lang="en").text(MEMBERS)
    assert "Tenant administrator" in english and "role:" not in english


def test_add_change_and_remove_a_member(pages_for: Any, database: Any, newcomer: str) -> None:
    alice = pages_for("alice")
    added = alice.post(MEMBERS, {"email": newcomer.upper(), "role": "viewer"}, csrf_from=MEMBERS)
    assert added.status_code == 303 and added.headers["Location"] == MEMBERS
    text = alice.text(MEMBERS)
    assert "已添加成员" in text and _role(database, newcomer) == "viewer"
    membership = _membership_id(text, newcomer)
    changed = alice.post(f"{MEMBERS}{membership}/role", {"role": "operator"}, csrf_from=MEMBERS)
    assert changed.status_code == 303 and _role(database, newcomer) == "operator"
    removed = alice.post(f"{MEMBERS}{membership}/remove", csrf_from=MEMBERS)
    assert removed.status_code == 303 and _role(database, newcomer) is None
    assert newcomer not in alice.text(MEMBERS)


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": "", "role": "viewer"}, "email", ""),
        ({"email": "not-an-email", "role": "viewer"}, "email", ""),
        (
            {"email": "nobody-at-all@example.com", "role": "viewer"},
            "email",
            "没有使用此电子邮箱的账号",
        ),
        ({"email": "vera@example.com", "role": "viewer"}, "email", "已是本企业成员"),
        ({"email": "nobody@example.com", "role": "root"}, "role", "请从选项中选择"),
        ({"email": "nobody@example.com", "role": "provider_engineer"}, "role", "不属于任何服务商"),
    ],
)
def test_bad_member_input_is_named_next_to_the_field(
    pages_for: Any, database: Any, form: dict[str, str], field: str, message: str
) -> None:
    response = pages_for("alice").post(MEMBERS, form, csrf_from=MEMBERS)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    error = re.search(rf'data-testid="error-{field}">(.*?)</small>', text, re.S)
    assert error is not None and message in error.group(1)
    assert f'value="{form["email"]}"' in text  # the form keeps what was typed
    assert _role(database, "nobody@example.com") is None


def test_bad_role_change_is_shown_on_its_row(pages_for: Any, database: Any) -> None:
    alice = pages_for("alice")
    vera = _membership_id(alice.text(MEMBERS), "vera@example.com")
    response = alice.post(f"{MEMBERS}{vera}/role", {"role": "root"}, csrf_from=MEMBERS)
    assert response.status_code == 422
    assert 'data-testid="error-vera@example.com"' in response.get_data(as_text=True)
    assert _role(database, "vera@example.com") == "viewer"


def test_the_last_administrator_keeps_the_role(pages_for: Any, database: Any) -> None:
    alice = pages_for("alice")
    own = _membership_id(alice.text(MEMBERS), "alice@example.com")
    for url, form in ((f"{MEMBERS}{own}/role", {"role": "viewer"}), (f"{MEMBERS}{own}/remove", {})):
        response = alice.post(url, form, csrf_from=MEMBERS)
        assert response.status_code == 422
        assert "最后一位企业管理员" in response.get_data(as_text=True)
    assert _role(database, "alice@example.com") == "tenant_admin"


def test_another_tenants_membership_answers_404(pages_for: Any) -> None:
    bob = pages_for("bob")
    theirs = _membership_id(bob.text(f"/t/{BETA}/members/"), "bob@example.com")
    response = pages_for("alice").post(f"{MEMBERS}{theirs}/remove", csrf_from=MEMBERS)
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["vera", "oscar", "mona", "pat"])
def test_roles_without_members_manage_get_403(pages_for: Any, name: str) -> None:
    client = pages_for(name)
    assert client.get(MEMBERS).status_code == 403
    form = {"email": "nobody@example.com", "role": "viewer"}
    assert client.post(MEMBERS, form, csrf_from=f"/t/{ALPHA}/").status_code == 403
    assert client.post(f"{MEMBERS}clients", {"name": "x"}, f"/t/{ALPHA}/").status_code == 403
    assert "/members/" not in client.text(f"/t/{ALPHA}/")  # no menu entry either


def test_outsiders_get_404(pages_for: Any) -> None:
    for name in ("bob", "reggie", "nobody"):
        assert pages_for(name).get(MEMBERS).status_code == 404


def test_forms_without_csrf_are_refused(pages_for: Any, database: Any) -> None:
    alice = pages_for("alice")
    alice.get(MEMBERS)
    refused = alice.http.post(MEMBERS, data={"email": "nobody@example.com", "role": "viewer"})
    assert refused.status_code == 403
    assert _role(database, "nobody@example.com") is None


def test_api_client_is_registered_shown_once_and_revoked(pages_for: Any, database: Any) -> None:
    from ems_tenants.models import OAuthClient

    alice = pages_for("alice")
    name = f"carbon-{uuid.uuid4().hex[:6]}"
    bad = alice.post(f"{MEMBERS}clients", {"name": name}, csrf_from=MEMBERS)
    assert bad.status_code == 422 and 'data-testid="error-scopes"' in bad.get_data(as_text=True)
    form = {"name": name, "scopes": ["tenant:read", "data:write"]}
    created = alice.post(f"{MEMBERS}clients", form, csrf_from=MEMBERS)
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"  # the secret stays out of caches
    text = created.get_data(as_text=True)
    client_id = re.search(r'data-testid="client-id">([^<]+)<', text)
    assert client_id is not None and 'data-testid="client-secret"' in text
    listed = alice.text(MEMBERS)
    assert name in listed and 'data-testid="client-secret"' not in listed
    revoked = alice.post(f"{MEMBERS}clients/{client_id.group(1)}/revoke", csrf_from=MEMBERS)
    assert revoked.status_code == 303 and name not in alice.text(MEMBERS)
    with database.transaction() as s:
        s.execute(delete(OAuthClient).where(OAuthClient.name == name))


# --- platform administrator ----------------------------------------------------------


def test_admin_sees_a_tenants_plan_and_usage(pages_for: Any) -> None:
    admin = pages_for("admin")
    assert f'href="/admin/tenants/{ALPHA}"' in admin.text("/admin/tenants")
    text = admin.text(f"/admin/tenants/{ALPHA}")
    assert "ALPHA 工厂" in text and 'data-testid="usage-points"' in text
    assert 'data-testid="plans"' in text and "enterprise" in text
    url = f"/admin/tenants/{ALPHA}/plan"
    bad = admin.post(url, {"plan": "platinum"}, csrf_from=f"/admin/tenants/{ALPHA}")
    assert bad.status_code == 422 and 'data-testid="error-plan"' in bad.get_data(as_text=True)
    same = admin.post(url, {"plan": "enterprise"}, csrf_from=f"/admin/tenants/{ALPHA}")
    assert same.status_code == 303 and "已更改套餐" in admin.text(f"/admin/tenants/{ALPHA}")


def test_tenant_detail_is_for_platform_administrators(pages_for: Any) -> None:
    assert pages_for("alice").get(f"/admin/tenants/{ALPHA}").status_code == 403
