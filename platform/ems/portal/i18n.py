"""The portal's languages: Simplified Chinese first, English second.

Message ids in templates and views are English; ``translations/zh_Hans/*.po``
hold the Chinese. Each feature keeps its own catalogue file so that features
never edit the same one; they are merged when the app starts. The catalogues
are read from the .po files directly (Babel's reader), so there is no compile
step and no generated .mo file to keep in step (decision 0021).

The locale comes from the ``ems_lang`` cookie (set by the language switch),
else Chinese: the users are Chinese enterprises, whatever their browser says.
Numbers and dates are formatted for the locale with Babel's CLDR data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers
from babel.messages.pofile import read_po
from flask import g, request

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES: Mapping[str, str] = {"zh": "简体中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"
COOKIE = "ems_lang"
# The CLDR locale each language formats with.
_CLDR = {"zh": "zh_Hans_CN", "en": "en_GB"}
_PLACEHOLDER = re.compile(r"(%\(\w+\)s)")


@cache
def catalogue(language: str) -> Mapping[str, str]:
    """Every translated message of ``language``.

    English needs only the keyed messages (``status:active``, ``unit:tce``): the
    other message ids are English already.
    """
    merged: dict[str, str] = {}
    folder = TRANSLATIONS / {"zh": "zh_Hans", "en": "en"}[language]
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle):
                usable = isinstance(message.id, str) and message.string and not message.fuzzy
                if message.id and usable:
                    merged[str(message.id)] = str(message.string)
    return merged


def current_language() -> str:
    """The request's language: the cookie's choice, else Chinese."""
    if "language" not in g:
        chosen = request.cookies.get(COOKIE, "")
        g.language = chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
    language: str = g.language
    return language


def locale() -> Locale:
    """The CLDR locale of the request."""
    return Locale.parse(_CLDR[current_language()])


def gettext(message: str, **variables: object) -> str:
    """``message`` in the request's language, with ``%(name)s`` variables filled in."""
    text = catalogue(current_language()).get(message, message)
    return text % variables if variables else text


@cache
def _patterns(language: str) -> list[tuple[re.Pattern[str], str]]:
    # Catalogue entries with %(name)s placeholders also translate messages built at run
    # time ("Length must be between 4 and 40."): the placeholders become capture groups.
    out = []
    for msgid, text in catalogue(language).items():
        names = _PLACEHOLDER.findall(msgid)
        if not names:
            continue
        regex = "".join(
            f"(?P<{part[2:-2]}>.+?)" if _PLACEHOLDER.fullmatch(part) else re.escape(part)
            for part in _PLACEHOLDER.split(msgid)
        )
        out.append((re.compile(f"^{regex}$", re.S), text))
    # Longer ids first: the more specific message wins.
    out.sort(key=lambda item: len(item[0].pattern), reverse=True)
    return out


def translate_message(text: str) -> str:
    """A message made at run time (a service's refusal, a validation message) in the
    request's language: a catalogue entry, else a pattern of one, else as it is.

    Never %-formats ``text`` itself, which may quote what the user typed.
    """
    language = current_language()
    exact = catalogue(language).get(text)
    if exact is not None:
        return exact
    for pattern, translated in _patterns(language):
        found = pattern.match(text)
        if found is not None:
            return translated % {k: _nested(v) for k, v in found.groupdict().items()}
    return text


def _nested(value: str) -> str:
    # A quoted part may itself be a message ("meters: Not a valid integer.").
    return catalogue(current_language()).get(value, value)


def ngettext(singular: str, plural: str, count: int, **variables: object) -> str:
    """Chinese has no plural; English picks by ``count``."""
    chosen = singular if count == 1 else plural
    variables.setdefault("num", count)
    return gettext(chosen, **variables)


def format_number(value: Decimal | float | int | str | None, places: int | None = None) -> str:
    """A number with the locale's grouping; ``places`` fixes the decimals."""
    if value is None or value == "":
        return "—"
    number = Decimal(str(value))
    if places is None:
        return numbers.format_decimal(number, locale=locale())
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return numbers.format_decimal(
        number, format=pattern, locale=locale(), decimal_quantization=True
    )


def format_percent(value: Decimal | float | None, places: int = 1) -> str:
    """A ratio already in percent (12.5 -> "12.5%")."""
    if value is None:
        return "—"
    return format_number(value, places) + "%"


def format_date(value: date | None, style: str = "medium") -> str:
    """A calendar date for the locale (2026年11月21日 / 21 Nov 2026)."""
    if value is None:
        return "—"
    return dates.format_date(value, format=style, locale=locale())


def format_datetime(value: datetime | None, tz: str | ZoneInfo = "Asia/Shanghai") -> str:
    """An instant in the tenant's zone (naive datetimes are refused: they are bugs)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        raise ValueError("naive datetime given to format_datetime")
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return dates.format_datetime(value.astimezone(zone), format="short", locale=locale())


def unit(symbol: str | None) -> str:
    """A unit for the locale: tce reads 吨标准煤 in Chinese; SI symbols stay as they are."""
    if not symbol:
        return ""
    return catalogue(current_language()).get(f"unit:{symbol}", symbol)


def mark(message: str) -> str:
    """Mark a message id for extraction where it is translated later (menus, titles)."""
    return message


PORTAL = Path(__file__).parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "mark": None}


def extract() -> dict[str, list[str]]:
    """Every message id the portal's templates and modules use -> where it is used.

    Reads ``_()``/``gettext``/``ngettext`` calls in templates and ``mark()`` in code;
    a test holds the Chinese catalogue to it (no label left untranslated).
    """
    from babel.messages.extract import extract_from_dir

    found: dict[str, list[str]] = {}
    # Templates, the portal's modules, and every feature's pages.py.
    method_map = [
        ("portal/templates/**.html", "jinja2"),
        ("portal/**.py", "python"),
        ("*/pages.py", "python"),
    ]
    options = {"portal/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PORTAL.parent), method_map, options, keywords=KEYWORDS, strip_comment_tags=True
    ):
        ids = message if isinstance(message, tuple) else (message,)
        for msgid in ids:
            if msgid:
                found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found
