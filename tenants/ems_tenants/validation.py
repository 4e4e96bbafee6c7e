"""Validators for the registry's identifiers.

Pure functions: they return the normalised value or raise ``InvalidInput``
naming the field, so the API, the CLI and imports share one set of rules.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

from ems.errors import InvalidInput

# GB 32100-2015 unified social credit code (统一社会信用代码): 18 characters from
# a 31-character alphabet (no I, O, Z, S, V), the last one a weighted check.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# ASCII digits and anchored at the very end: "\d" also takes full-width digits and "$" a
# trailing newline, which would reach the check-character arithmetic and the database.
USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}\Z")

SLUG = re.compile(r"^[a-z][a-z0-9-]{2,38}[a-z0-9]$")
REGION = re.compile(r"^[0-9]{6}\Z")
# GB/T 4754-2017 national economy industry classification: a section letter,
# optionally followed by a division (2), group (3) or class (4) number.
INDUSTRY = re.compile(r"^[A-T](\d{2}|\d{3}|\d{4})?$")


def uscc_check_character(first17: str) -> str:
    """The check character of a unified social credit code (GB 32100-2015 clause 5)."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    remainder = 31 - total % 31
    return _USCC_ALPHABET[0 if remainder == 31 else remainder]


def credit_code(value: str, field: str = "credit_code") -> str:
    """Validate an 18-character unified social credit code, check character included."""
    code = value.strip().upper()
    if len(code) != 18:
        raise InvalidInput(
            "unified social credit code must have 18 characters",
            fields={field: [f"expected 18 characters, got {len(code)}"]},
        )
    if not USCC_SHAPE.match(code):
        raise InvalidInput(
            "unified social credit code has characters outside GB 32100",
            fields={field: ["only digits and the letters of GB 32100 (no I, O, S, V, Z)"]},
        )
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        raise InvalidInput(
            "unified social credit code check character is wrong",
            fields={field: [f"check character should be {expected!r}, got {code[17]!r}"]},
        )
    return code


def slug(value: str, field: str = "slug") -> str:
    """Validate a tenant slug: lower-case letters, digits and hyphens, 4-40 characters."""
    if not SLUG.match(value):
        raise InvalidInput(
            "slug is not valid",
            fields={field: ["4-40 characters: a-z, 0-9 and '-', starting with a letter"]},
        )
    return value


def schema_name_for(slug_value: str) -> str:
    """The PostgreSQL schema of a tenant, derived once at provisioning from a valid slug."""
    return "t_" + slug(slug_value).replace("-", "_")


def region_code(value: str, field: str = "region_code") -> str:
    """Validate the shape of a 6-digit administrative division code (GB/T 2260)."""
    if not REGION.match(value) or value == "000000":
        raise InvalidInput(
            "administrative division code must be 6 digits",
            fields={field: ["6 digits, as in GB/T 2260, e.g. 530100"]},
        )
    return value


def industry_code(value: str, field: str = "industry_code") -> str:
    """Validate a GB/T 4754-2017 industry code, e.g. ``C3011``."""
    code = value.strip().upper()
    if not INDUSTRY.match(code):
        raise InvalidInput(
            "industry code is not a GB/T 4754 code",
            fields={field: ["a section letter A-T, optionally 2-4 digits, e.g. C3011"]},
        )
    return code


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone(value: str, field: str = "timezone") -> str:
    """Validate an IANA time zone name."""
    if value not in _zones():
        raise InvalidInput(
            "time zone is not an IANA zone name",
            fields={field: ["an IANA time zone such as Asia/Shanghai"]},
        )
    return value


def region_prefix(scope: str) -> str:
    """The code prefix a regulator scope covers (GB/T 2260 codes are hierarchical).

    ``530000`` (a province) covers every code starting ``53``; ``530100`` (a
    prefecture) covers ``5301xx``; a county code covers only itself.
    """
    if scope.endswith("0000"):
        return scope[:2]
    if scope.endswith("00"):
        return scope[:4]
    return scope


def region_within(scope: str, code: str) -> bool:
    """Whether division ``code`` lies inside the regulator scope ``scope``."""
    return code.startswith(region_prefix(scope))
