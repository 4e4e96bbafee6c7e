"""The portal's frame: login, language, CSRF on forms, errors as pages, session timeout."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.conftest import PASSWORD, World

SLUG = "alpha-works"


def test_login_page_is_chinese_first(pages_for: Any) -> None:
    text = pages_for().text("/login")
    assert '<html lang="zh-CN">' in text
    assert "登录" in text and "电子邮箱" in text


def test_login_with_the_form_opens_the_dashboard(pages_for: Any) -> None:
    client = pages_for()
    response = client.login("alice@example.com")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/t/{SLUG}/")
    page = client.text(f"/t/{SLUG}/")
    assert "总览" in page and "ALPHA 工厂" in page


def test_wrong_password_is_shown_on_the_form_and_nothing_else(pages_for: Any) -> None:
    client = pages_for()
    response = client.login("alice@example.com", "not-the-password")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "电子邮箱或密码错误" in text
    assert 'value="alice@example.com"' in text
    assert client.get(f"/t/{SLUG}/").status_code == 303  # still not logged in


def test_login_form_without_csrf_token_is_refused(pages_for: Any) -> None:
    client = pages_for()
    client.get("/login")
    response = client.http.post("/login", data={"email": "alice@example.com", "password": "x" * 12})
    assert response.status_code == 403
    assert "表单已过期" in response.get_data(as_text=True)


def test_invalid_email_is_named_next_to_the_field(pages_for: Any) -> None:
    client = pages_for()
    token = client.token("/login")
    response = client.http.post(
        "/login", data={"email": "not-an-email", "password": "x", "csrf_token": token}
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'data-testid="error-email"' in text and "电子邮箱地址无效" in text


def test_language_switch_turns_the_pages_english(pages_for: Any) -> None:
    client = pages_for("alice")
    response = client.get(f"/lang/en?next=/t/{SLUG}/")
    assert response.status_code == 303 and response.headers["Location"] == f"/t/{SLUG}/"
    text = client.text(f"/t/{SLUG}/")
    assert '<html lang="en">' in text and "Dashboard" in text and "总览" not in text
    client.get("/lang/zh")
    assert "总览" in client.text(f"/t/{SLUG}/")


def test_language_switch_never_redirects_off_site(pages_for: Any) -> None:
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        response = pages_for().get(f"/lang/en?next={target}")
        assert response.headers["Location"] == "/", target


def test_anonymous_page_request_goes_to_login_and_back(pages_for: Any) -> None:
    client = pages_for()
    response = client.get(f"/t/{SLUG}/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
    token = client.token(response.headers["Location"])
    back = client.http.post(
        response.headers["Location"],
        data={"email": "alice@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert back.status_code == 303 and back.headers["Location"] == f"/t/{SLUG}/"


def test_another_tenant_answers_like_a_missing_one(pages_for: Any) -> None:
    client = pages_for("alice")
    theirs = client.get("/t/beta-works/")
    missing = client.get("/t/no-such-works/")
    assert theirs.status_code == missing.status_code == 404
    assert 'data-status="404"' in theirs.get_data(as_text=True)


def test_logged_in_form_without_csrf_is_refused(pages_for: Any) -> None:
    client = pages_for("alice")
    assert client.http.post("/logout").status_code == 403
    assert client.post("/logout").status_code == 303
    assert client.get(f"/t/{SLUG}/").status_code == 303  # logged out


def test_idle_session_ends(pages_for: Any, app: Any) -> None:
    client = pages_for("alice")
    with client.http.session_transaction() as session:
        session["seen_at"] = time.time() - app.extensions["ems"].settings.session_idle - 1
    response = client.get(f"/t/{SLUG}/")
    assert response.status_code == 303
    assert "expired=1" in response.headers["Location"]
    assert "会话已超时" in client.text(response.headers["Location"])


def test_background_polling_does_not_keep_a_session_alive(pages_for: Any, app: Any) -> None:
    client = pages_for("alice")
    old = time.time() - 120
    with client.http.session_transaction() as session:
        session["seen_at"] = old
    response = client.get(
        f"/t/{SLUG}/dashboard/realtime", headers={"HX-Request": "true", "X-EMS-Background": "1"}
    )
    assert response.status_code == 200
    with client.http.session_transaction() as session:
        assert session["seen_at"] == old
    client.get(f"/t/{SLUG}/")
    with client.http.session_transaction() as session:
        assert session["seen_at"] > old


def test_tenant_switcher_lists_only_memberships(pages_for: Any, world: World) -> None:
    text = pages_for("pat").text(f"/t/{SLUG}/")
    switch = re.search(r'<select id="tenant-switch".*?</select>', text, re.S)
    assert switch is not None
    slugs = re.findall(r'<option value="([^"]+)"', switch.group(0))
    assert sorted(slugs) == ["alpha-works", "gamma-works"]


def test_vendor_assets_are_served_locally(pages_for: Any) -> None:
    client = pages_for("alice")
    text = client.text(f"/t/{SLUG}/")
    for src in re.findall(r'<script src="([^"]+)"', text):
        assert src.startswith("/static/"), src
        response = client.get(src)
        assert response.status_code == 200, src
        response.close()
    assert client.get("/static/vendor/package.json").status_code == 404
