"""The unified social credit code (统一社会信用代码, GB 32100): format and check character."""

from __future__ import annotations

import re

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_FORMAT = re.compile(rf"[{ALPHABET}]{{2}}\d{{6}}[{ALPHABET}]{{10}}")


def check_character(first17: str) -> str:
    """The 18th character that GB 32100 computes from the first 17."""
    total = sum(ALPHABET.index(ch) * weight for ch, weight in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: object, *, check_digit: bool = True) -> bool:
    """Whether ``code`` is 18 characters of the code's alphabet (and, if asked, checks out)."""
    if not isinstance(code, str) or not _FORMAT.fullmatch(code):
        return False
    return not check_digit or check_character(code[:17]) == code[17]
