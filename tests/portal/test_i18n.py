"""Every label of the portal is translated; numbers and dates follow the locale."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from ems.portal import i18n
from ems.telemetry.models import Quality
from ems.upload.models import RegistrationStatus
from ems_tenants.models import TenantStatus


def test_every_template_compiles(app: Any) -> None:
    # Babel's extractor skips a template it cannot parse, silently: compile them all first.
    names = [n for n in app.jinja_env.list_templates() if n.endswith(".html")]
    assert len(names) > 5
    for name in names:
        app.jinja_env.get_template(name)


def test_every_message_has_a_chinese_translation() -> None:
    found = i18n.extract()
    assert len(found) > 50
    chinese = i18n.catalogue("zh")
    missing = {msgid: where for msgid, where in found.items() if msgid not in chinese}
    assert not missing, f"untranslated: {missing}"


def test_translations_keep_their_placeholders() -> None:
    import re

    placeholder = re.compile(r"%\(\w+\)s")
    for msgid, text in i18n.catalogue("zh").items():
        assert sorted(placeholder.findall(msgid)) == sorted(placeholder.findall(text)), msgid


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("status:", [s.value for s in TenantStatus]),
        ("upload:", [s.value for s in RegistrationStatus]),
        ("quality:", [q.name.lower() for q in Quality]),
    ],
)
def test_keyed_messages_exist_in_both_languages(prefix: str, values: list[str]) -> None:
    for language in ("zh", "en"):
        catalogue = i18n.catalogue(language)
        missing = [v for v in values if prefix + v not in catalogue]
        assert not missing, (language, prefix, missing)


def _in(app: Any, language: str) -> Any:
    context = app.test_request_context("/", headers={"Cookie": f"{i18n.COOKIE}={language}"})
    return context


def test_numbers_and_dates_follow_the_locale(app: Any) -> None:
    moment = datetime(2026, 11, 21, 1, 30, tzinfo=UTC)
    with _in(app, "zh"):
        assert i18n.format_number(Decimal("12345.678"), 2) == "12,345.68"
        assert i18n.format_date(date(2026, 11, 21)) == "2026年11月21日"
        assert i18n.format_datetime(moment, "Asia/Shanghai").startswith("2026/11/21 09:30")
        assert i18n.unit("tce") == "吨标准煤" and i18n.unit("kWh") == "kWh"
        assert i18n.gettext("Dashboard") == "总览"
    with _in(app, "en"):
        assert i18n.format_date(date(2026, 11, 21)) == "21 Nov 2026"
        assert i18n.format_datetime(moment, "Asia/Shanghai") == "21/11/2026, 09:30"
        assert i18n.unit("tce") == "tce"
        assert i18n.gettext("status:pending") == "Pending approval"


def test_an_unknown_language_cookie_falls_back_to_chinese(app: Any) -> None:
    with _in(app, "xx"):
        assert i18n.current_language() == "zh"


def test_naive_datetimes_are_refused(app: Any) -> None:
    with _in(app, "zh"), pytest.raises(ValueError, match="naive"):
        i18n.format_datetime(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
