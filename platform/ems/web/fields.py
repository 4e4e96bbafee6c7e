"""Marshmallow fields shared by the ledger APIs: text PostgreSQL can store, bounded decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import validate


class Text(ma.fields.String):
    """A string without control characters (PostgreSQL refuses NUL in text; a line break
    in a ledger cell is kept only where ``multiline``), trimmed, at most ``max_length``."""

    def __init__(self, max_length: int, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        kwargs.setdefault("validate", validate.Length(max=max_length))
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        allowed = "\n\t" if self.multiline else ""
        if any(ord(c) < 32 and c not in allowed for c in text) or "\x7f" in text:
            raise ma.ValidationError("control characters are not allowed")
        return text.strip()


def decimal_range(
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
    *,
    min_inclusive: bool = True,
    places: int = 6,
) -> Any:
    """A validator for a decimal field: bounds and at most ``places`` decimal places.

    A plain function, not ``validate.Range``: apispec would document a Range of a
    string-typed decimal as a string maximum, which is not valid OpenAPI.
    """

    def check(value: Decimal) -> None:
        if minimum is not None and (value < minimum or (value == minimum and not min_inclusive)):
            raise ma.ValidationError(
                f"must be {'at least' if min_inclusive else 'above'} {minimum}"
            )
        if maximum is not None and value > maximum:
            raise ma.ValidationError(f"must be at most {maximum}")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise ma.ValidationError(f"at most {places} decimal places")

    return check


def decimal(minimum: Decimal | None = None, maximum: Decimal | None = None, **kwargs: Any) -> Any:
    """A decimal travelling as a string (never rounded through a float)."""
    bounds = {k: kwargs.pop(k) for k in ("min_inclusive", "places") if k in kwargs}
    return ma.fields.Decimal(
        as_string=True, validate=decimal_range(minimum, maximum, **bounds), **kwargs
    )
