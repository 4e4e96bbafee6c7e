"""The portal without a mouse: skip link, menu, tenant switcher and forms by keyboard."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD, World


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement.outerHTML.slice(0, 200)"))


def test_the_login_form_works_by_keyboard_alone(new_page: Any, world: World) -> None:
    page = new_page()
    page.goto("/login")
    page.keyboard.press("Tab")  # the skip link comes first
    assert "skip" in _focused(page)
    for _ in range(12):  # to the e-mail field, whatever the header holds
        page.keyboard.press("Tab")
        if 'id="f-email"' in _focused(page):
            break
    page.keyboard.type(world.users["alice"])
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("总览")


def test_skip_link_and_menu_are_reachable_and_visible_on_focus(new_page: Any, world: World) -> None:
    page = new_page()
    log_in(page, world.users["alice"], PASSWORD)
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0  # shown when focused, not off-screen
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Every menu entry is a link reachable with Tab and shows a focus outline.
    links = page.locator(".sidenav a")
    assert links.count() >= 3
    links.first.focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("总览")


def test_the_tenant_switcher_works_by_keyboard(new_page: Any, world: World) -> None:
    page = new_page()
    log_in(page, world.users["pat"], PASSWORD)
    page.goto("/t/alpha-works/")
    switch = page.get_by_test_id("tenant-switch")
    switch.focus()
    switch.select_option("gamma-works")  # what arrow keys + Enter do on a native select
    page.wait_for_url("**/t/gamma-works/")
    expect(page.locator(".sidenav .navhead")).to_have_text("GAMMA 工厂")
