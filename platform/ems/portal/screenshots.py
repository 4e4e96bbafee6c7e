"""Screenshots of the portal's pages in Chinese and English, with the checks a reviewer makes.

``ems portal screenshots`` logs in as each account given, opens every page its
menu offers (and the public ones), in both languages, and saves a PNG of each.
It reports what a person looking at them would catch: an error answer, a page
wider than the window (broken layout), an English label left on a Chinese page
or a translation key shown as it is, and Chinese text without a font to draw it.

It drives Debian's Chromium through Playwright (a development dependency).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ems.portal import i18n

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",  # Chromium's sandbox cannot start as root (CI, containers)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the machine has no network: no update checks
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
PUBLIC_PAGES = ("/login", "/signup", "/plans")
KEYED = re.compile(r"\b(?:status|upload|quality|unit|role|period|state|kind|job):[a-z_]+\b")


@dataclass
class Shot:
    """One page in one language, and what is wrong with it."""

    account: str
    path: str
    language: str
    file: Path
    problems: list[str] = field(default_factory=list)


def english_labels() -> list[str]:
    """Message ids that must not appear on a Chinese page (several words, so never data)."""
    chinese = i18n.catalogue("zh")
    return sorted(
        (m for m in i18n.extract() if " " in m and "%" not in m and chinese.get(m, m) != m),
        key=len,
        reverse=True,
    )


def _slug_of(path: str) -> str:
    parts = [p for p in urlsplit(path).path.split("/") if p]
    return "-".join(parts) or "home"


def _menu_links(page: Any) -> list[str]:
    hrefs = page.eval_on_selector_all(".sidenav a", "els => els.map(e => e.getAttribute('href'))")
    seen: list[str] = []
    for href in hrefs:
        if href and href.startswith("/") and href not in seen:
            seen.append(href)
    return seen


def _check(page: Any, status: int, language: str, labels: Iterable[str]) -> list[str]:
    problems = []
    if status >= 400:
        problems.append(f"answered {status}")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        problems.append(f"wider than the window by {overflow}px")
    text = page.inner_text("body")
    problems += [f"translation key shown: {key}" for key in sorted(set(KEYED.findall(text)))]
    if language == "zh":
        problems += [
            f"English label on a Chinese page: {label!r}" for label in labels if label in text
        ]
    return problems


def chinese_fonts() -> list[str]:
    """Installed font families that cover Chinese (what Chromium falls back to)."""
    listed = subprocess.run(
        ["fc-list", ":lang=zh", "family"],  # noqa: S607 - fontconfig's tool, found on PATH
        capture_output=True,
        text=True,
        check=False,
    )
    return sorted({line.strip() for line in listed.stdout.splitlines() if line.strip()})


def _log_in(page: Any, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("#f-email", email)
    page.fill("#f-password", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    if "/login" in page.url:
        raise RuntimeError(f"could not log in as {email}")


def _shoot(page: Any, base: str, path: str, shot: Shot, labels: list[str]) -> Shot:
    response = page.goto(base + path)
    page.wait_for_load_state("networkidle")
    shot.problems = _check(page, response.status if response else 0, shot.language, labels)
    shot.file.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot.file), full_page=True)
    return shot


def capture(
    base_url: str,
    accounts: Mapping[str, tuple[str, str]],
    out: Path,
    languages: Iterable[str] = ("zh", "en"),
    viewport: Mapping[str, int] = DESKTOP,
    browser: Any = None,
) -> list[Shot]:
    """Screenshot every page each account's menu offers, and the public pages.

    ``browser``: a Playwright browser already running in this thread (tests share one);
    else Chromium is started for the run.
    """
    if not chinese_fonts():
        raise RuntimeError(
            "no font covers Chinese; install fonts-noto-cjk (bootstrap.sh --browser)"
        )
    if browser is not None:
        return _capture(browser, base_url, accounts, out, languages, viewport)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        own = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            return _capture(own, base_url, accounts, out, languages, viewport)
        finally:
            own.close()


def _capture(
    browser: Any,
    base_url: str,
    accounts: Mapping[str, tuple[str, str]],
    out: Path,
    languages: Iterable[str],
    viewport: Mapping[str, int],
) -> list[Shot]:
    labels = english_labels()
    shots: list[Shot] = []
    for language in languages:
        shots += _public(browser, base_url, out, language, viewport, labels)
        for account, (email, password) in accounts.items():
            context = _context(browser, base_url, language, viewport)
            page = context.new_page()
            _log_in(page, base_url, email, password)
            for path in [urlsplit(page.url).path, *_menu_links(page)]:
                file = out / language / f"{account}-{_slug_of(path)}.png"
                shot = Shot(account, path, language, file)
                if all(s.file != file for s in shots):
                    shots.append(_shoot(page, base_url, path, shot, labels))
            context.close()
    return shots


def _context(browser: Any, base: str, language: str, viewport: Mapping[str, int]) -> Any:
    context = browser.new_context(viewport=dict(viewport), locale="zh-CN")
    host = urlsplit(base).hostname or "127.0.0.1"
    context.add_cookies([{"name": i18n.COOKIE, "value": language, "domain": host, "path": "/"}])
    return context


def _public(
    browser: Any,
    base: str,
    out: Path,
    language: str,
    viewport: Mapping[str, int],
    labels: list[str],
) -> list[Shot]:
    context = _context(browser, base, language, viewport)
    page = context.new_page()
    shots = []
    for path in PUBLIC_PAGES:
        file = out / language / f"public-{_slug_of(path)}.png"
        shots.append(_shoot(page, base, path, Shot("public", path, language, file), labels))
    context.close()
    return shots
