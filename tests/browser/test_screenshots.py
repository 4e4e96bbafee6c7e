"""``ems portal screenshots`` against the test portal: every page of every role, both languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ems.portal import screenshots
from tests.conftest import PASSWORD, World

ROLES = ("alice", "mona", "vera", "pat", "reggie", "admin")


def test_every_page_of_every_role_looks_right_in_both_languages(
    live_server: str, world: World, tmp_path: Path, browser: Any
) -> None:
    accounts = {name: (world.users[name], PASSWORD) for name in ROLES}
    shots = screenshots.capture(live_server, accounts, tmp_path, browser=browser)
    problems = {f"{s.language} {s.account} {s.path}": s.problems for s in shots if s.problems}
    assert not problems, problems
    # Both languages, every role, the public pages; and each file is a real PNG.
    assert {s.language for s in shots} == {"zh", "en"}
    assert {s.account for s in shots} == {*ROLES, "public"}
    for shot in shots:
        assert shot.file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot.file
    tenant_pages = {s.path for s in shots if s.account == "alice"}
    assert "/t/alpha-works/" in tenant_pages


def test_pages_fit_a_tablet(live_server: str, world: World, tmp_path: Path, browser: Any) -> None:
    accounts = {"alice": (world.users["alice"], PASSWORD)}
    shots = screenshots.capture(
        live_server,
        accounts,
        tmp_path,
        languages=("zh",),
        viewport=screenshots.TABLET,
        browser=browser,
    )
    problems = {s.path: s.problems for s in shots if s.problems}
    assert not problems, problems


def test_a_key_left_untranslated_is_reported() -> None:
    # The checker itself: a keyed message shown as it is, and an English label on a
    # Chinese page, are both caught.
    from ems.portal import i18n

    labels = screenshots.english_labels()
    assert "Your session timed out. Please log in again." in labels
    text = "状态 status:pending " + labels[0]
    assert screenshots.KEYED.findall(text) == ["status:pending"]
    assert i18n.catalogue("zh")[labels[0]] not in text
