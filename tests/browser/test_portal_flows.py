"""The portal in a real browser: the journeys of issue 7's acceptance.

Each test drives headless Chromium through the pages as a person would (labels,
buttons, the tenant switcher); what it checks comes from the database or the
inputs it typed, never from a page it did not open.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from playwright.sync_api import expect

from ems_edge import wire
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD, World, credit


def test_sign_up_approve_log_in_and_switch_language(new_page: Any, world: World) -> None:
    tag = uuid.uuid4().hex[:8]
    slug, email = f"signup-{tag}", f"owner-{tag}@example.com"
    code = credit(f"91440300MA{int(tag, 16) % 10**7:07d}")

    applicant = new_page()
    applicant.goto("/signup")
    applicant.get_by_label("企业名称").fill(f"深圳示范制造 {tag}")
    applicant.get_by_label("统一社会信用代码").fill(code)
    applicant.get_by_label("账户名").fill(slug)
    applicant.get_by_label("行政区划代码").fill("440300")
    applicant.get_by_label("行业代码").fill("C3110")
    applicant.get_by_label("联系人").fill("李工")
    applicant.get_by_label("姓名").fill("王经理")
    applicant.locator("#f-admin-email").fill(email)
    applicant.get_by_label("密码").fill("a-long-password-1")
    applicant.get_by_role("button", name="提交申请").click()
    expect(applicant.get_by_test_id("signup-done")).to_contain_text(slug)

    # Before approval the applicant can log in but has nothing to open.
    log_in(applicant, email, "a-long-password-1")
    expect(applicant.locator("h1")).to_have_text("欢迎")

    admin = new_page()
    log_in(admin, world.users["admin"], PASSWORD)
    row = admin.locator(f'tr[data-slug="{slug}"]')
    expect(row).to_contain_text("待审核")
    admin.get_by_test_id(f"approve-{slug}").click()
    expect(admin.locator(f'tr[data-slug="{slug}"]')).to_contain_text("已开通")

    applicant.goto("/")
    expect(applicant.locator("h1")).to_have_text("总览")
    expect(applicant.locator(".sidenav")).to_contain_text(f"深圳示范制造 {tag}")
    expect(applicant.get_by_test_id("realtime")).to_contain_text("暂无读数")

    applicant.get_by_test_id("lang-en").click()
    expect(applicant.locator("h1")).to_have_text("Dashboard")
    expect(applicant.get_by_test_id("realtime")).to_contain_text("No readings yet")
    assert applicant.locator("html").get_attribute("lang") == "en"
    applicant.get_by_test_id("lang-zh").click()
    expect(applicant.locator("h1")).to_have_text("总览")


def test_signup_errors_are_shown_next_to_the_fields(new_page: Any) -> None:
    page = new_page()
    page.goto("/signup")
    page.get_by_label("企业名称").fill("错误示范")
    page.get_by_label("统一社会信用代码").fill("91440300MA0000000X")  # wrong check character
    page.get_by_label("账户名").fill("Bad Slug!")
    page.get_by_label("行政区划代码").fill("999999")
    page.get_by_label("行业代码").fill("C3110")
    page.get_by_label("姓名").fill("王")
    page.locator("#f-admin-email").fill("not-an-email")
    page.get_by_label("密码").fill("short")
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_test_id("error-admin.email")).to_contain_text("电子邮箱地址无效")
    expect(page.get_by_test_id("error-admin.password")).to_be_visible()
    # What was typed is kept, except the password.
    expect(page.get_by_label("企业名称")).to_have_value("错误示范")
    expect(page.get_by_label("密码")).to_have_value("")


def test_a_provider_engineer_switches_between_their_plants_only(
    new_page: Any, world: World
) -> None:
    page = new_page()
    log_in(page, world.users["pat"], PASSWORD)
    page.goto("/t/alpha-works/")
    switch = page.get_by_test_id("tenant-switch")
    options = switch.locator("option").all_inner_texts()
    assert sorted(options) == sorted(["ALPHA 工厂", "GAMMA 工厂"])
    switch.select_option(label="GAMMA 工厂")
    page.wait_for_url(re.compile(r"/t/gamma-works/$"))
    expect(page.locator(".sidenav .navhead")).to_have_text("GAMMA 工厂")
    # A tenant that is not theirs answers like a missing one.
    response = page.goto("/t/beta-works/")
    assert response is not None and response.status == 404


def test_a_reading_arrives_on_the_dashboard(
    new_page: Any, make_plant: Any, ingestor: Any, database: Any
) -> None:
    from ems_tenants import members, services

    plant = make_plant()
    email = f"manager-{plant.slug}@example.com"
    with database.transaction() as session:
        members.create_user(session, email=email, name="能源管理员", password=PASSWORD)
        members.add_member(
            session, services.get_tenant(session, plant.slug), email, "energy_manager"
        )

    page = new_page()
    log_in(page, email, PASSWORD)
    page.goto(f"/t/{plant.slug}/")
    expect(page.get_by_test_id("realtime")).to_contain_text("暂无读数")

    now_ms = int(time.time()) * 1000
    payload = wire.encode_batch(
        plant.gateway, "cfg-1", [(1, "M1.power", now_ms, 1234.5)], now_ms, plant.key, compress=True
    )
    from ems.ingest.core import Message

    outcome = ingestor.handle([Message(wire.topic(plant.gateway, wire.Channel.READINGS), payload)])
    assert outcome is not None
    # The panel refreshes itself (htmx, every few seconds): no reload by the test.
    row = page.locator('#realtime tr[data-point="M1.power"]')
    expect(row).to_contain_text("1,234.50 kW", timeout=20_000)
    expect(page.get_by_test_id("stat-gateways")).to_contain_text("/ 1")
