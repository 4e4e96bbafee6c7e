"""Portal test helpers: a browser-like client that logs in through the login form."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import PASSWORD, World

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class PageClient:
    """A Flask test client used like a browser: it reads CSRF tokens from the pages."""

    def __init__(self, flask_client: Any) -> None:
        self.http = flask_client

    def token(self, url: str = "/login") -> str:
        match = CSRF.search(self.http.get(url).get_data(as_text=True))
        assert match, f"no CSRF field on {url}"
        return match.group(1)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        token = self.token("/login")
        return self.http.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def get(self, url: str, **kw: Any) -> Any:
        return self.http.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, csrf_from: str = "") -> Any:
        """Post a form with the session's CSRF token (read from ``csrf_from`` or the home page)."""
        form = dict(data or {})
        form.setdefault("csrf_token", self.token(csrf_from or "/plans"))
        return self.http.post(url, data=form)

    def text(self, url: str) -> str:
        response = self.http.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return str(response.get_data(as_text=True))


@pytest.fixture
def pages_for(app: Any, world: World) -> Any:
    """``pages_for("alice")``: a page client logged in through the form (None: anonymous)."""

    def make(name: str | None = None, lang: str | None = None) -> PageClient:
        client = PageClient(app.test_client())
        if lang:
            client.http.set_cookie("ems_lang", lang)
        if name is not None:
            response = client.login(world.users[name])
            assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return client

    return make
