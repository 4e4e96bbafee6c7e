"""Browser tests: the portal served on a free port, Debian's Chromium driven by Playwright.

Playwright's Python package carries its driver; the browser is the system's
``/usr/bin/chromium`` (installed by ``scripts/bootstrap.sh --browser``), never a download.
As root, Chromium needs ``--no-sandbox``; the other flags keep it off the network, which
this machine does not have.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from ems.portal.screenshots import CHROMIUM, CHROMIUM_ARGS, DESKTOP
from tests.ingest import conftest as ingest_fixtures

VIEWPORT = dict(DESKTOP)


@pytest.fixture(scope="session")
def live_server(app: Any) -> Iterator[str]:
    """The test app on 127.0.0.1 (a free port), threaded like gunicorn's workers."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, live_server: str) -> Iterator[Any]:
    """``new_page()``: a page in a fresh context (own cookies) at 1366 x 768."""
    contexts = []

    def make(viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(
            base_url=live_server, viewport=viewport or VIEWPORT, locale="zh-CN"
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, email: str, password: str) -> None:
    """Log in through the form, as a person would."""
    page.goto("/login")
    page.get_by_label("电子邮箱").fill(email)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


# The ingest tests' fixtures: a provisioned plant with a gateway, and the real Ingestor.
make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect
dc_key = ingest_fixtures.dc_key
ingestor = ingest_fixtures.ingestor
