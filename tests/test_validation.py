"""Identifier validators of the tenant registry (pure functions)."""

from __future__ import annotations

import pytest

from ems.errors import InvalidInput
from ems_tenants import validation

# Published examples of unified social credit codes with correct check characters.
VALID_CODES = ["91350100M000100Y43", "91110000100017643K", "91530100MA6K1X2Y3W"]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_credit_codes(code: str) -> None:
    assert validation.credit_code(code) == code
    assert validation.credit_code(code.lower()) == code


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y430", "18 characters"),
        ("91350100M000100Y44", "check character"),
        ("91350100M0001OOY43", "outside GB 32100"),
        ("9135010AM000100Y43", "outside GB 32100"),  # region part must be digits
        ("9135０100M000100Y43", "outside GB 32100"),  # a full-width digit
        ("", "18 characters"),
    ],
)
def test_invalid_credit_codes(code: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validation.credit_code(code)
    assert "credit_code" in info.value.fields
    assert problem in info.value.message + " ".join(info.value.fields["credit_code"])


@pytest.mark.parametrize("slug", ["abcd", "alpha-works", "a1-b2-c3", "x" * 40])
def test_valid_slugs(slug: str) -> None:
    assert validation.slug(slug) == slug


@pytest.mark.parametrize(
    "slug", ["abc", "Alpha", "-abc", "abc-", "1abc", "a b c", "a" * 41, "ab_cd", "x';--", ""]
)
def test_invalid_slugs(slug: str) -> None:
    with pytest.raises(InvalidInput):
        validation.slug(slug)


def test_schema_name_is_derived_from_a_valid_slug_only() -> None:
    assert validation.schema_name_for("alpha-works") == "t_alpha_works"
    with pytest.raises(InvalidInput):
        validation.schema_name_for('x"; DROP')


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("530100", True),
        ("000000", False),
        ("53010", False),
        ("53a100", False),
        ("５３０１００", False),  # full-width digits
        ("530100\n", False),
    ],
)
def test_region_code_shape(value: str, ok: bool) -> None:
    if ok:
        assert validation.region_code(value) == value
    else:
        with pytest.raises(InvalidInput):
            validation.region_code(value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("C", True),
        ("C31", True),
        ("C311", True),
        ("c3110", True),
        ("Z31", False),
        ("C31101", False),
        ("3110", False),
    ],
)
def test_industry_codes(value: str, ok: bool) -> None:
    if ok:
        assert validation.industry_code(value) == value.upper()
    else:
        with pytest.raises(InvalidInput):
            validation.industry_code(value)


def test_time_zones() -> None:
    assert validation.timezone("Asia/Shanghai") == "Asia/Shanghai"
    assert validation.timezone("Asia/Urumqi") == "Asia/Urumqi"
    with pytest.raises(InvalidInput):
        validation.timezone("China Standard Time")


@pytest.mark.parametrize(
    ("scope", "code", "inside"),
    [
        ("530000", "530100", True),
        ("530000", "532300", True),
        ("530000", "370100", False),
        ("530100", "530102", True),
        ("530100", "530300", False),
        ("530102", "530102", True),
        ("530102", "530103", False),
    ],
)
def test_region_scope(scope: str, code: str, inside: bool) -> None:
    assert validation.region_within(scope, code) is inside
