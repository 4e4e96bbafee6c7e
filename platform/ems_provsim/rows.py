"""Checking one data row (``data[]`` of a data upload) the way a strict platform does.

Pure functions: a row in, a checked record or a :class:`Refusal` out. Field decryption happens
before (see :mod:`ems_provsim.crypto`); after it every value is a string, so each check accepts
the decrypted text form as well as the JSON type an unencrypted profile sends.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from ems_provsim.dictionaries import Dictionaries, check_code
from ems_provsim.errors import Refusal
from ems_provsim.profile import Profile

FIELDS = (
    "dataCode",
    "dataValue",
    "inputType",
    "statType",
    "statDate",
    "uploadDate",
    "scope",
    "valid",
)
_DECIMAL_TEXT = re.compile(r"-?\d+(?:\.\d+)?")
_INT_TEXT = re.compile(r"\d+")
# valid_encoding -> (the wire value meaning "valid", the one meaning "invalid")
_VALID_VALUES: dict[str, tuple[object, object]] = {
    "bool": (True, False),
    "inverted_int": (0, 1),
    "int": (1, 0),
}
_DAY_SLACK_SECONDS = 60


def check_row(
    row: dict[str, Any], profile: Profile, dicts: Dictionaries, *, decrypted: bool
) -> dict[str, Any]:
    """The record of one row, checked in the platform's order, or :class:`Refusal`."""
    for name in FIELDS:
        if name not in row:
            raise Refusal(f"缺少字段：{name}")
    code = check_code(row["dataCode"], profile.code_format, profile.code_dictionaries, dicts)
    value = _decimal(row["dataValue"], decrypted=decrypted)
    precision = int(code.entry.get("precision", 0))
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > precision:
        raise Refusal(f"数据精度不符：{row['dataCode']} {row['dataValue']}")
    stat_type = _small_int(row["statType"], range(4), "统计类型错误", decrypted)
    stat_date = _aligned_stat_date(row["statDate"], stat_type, profile.timestamp_format)
    input_type = _small_int(row["inputType"], range(1, 6), "数据来源错误", decrypted)
    scope = _small_int(row["scope"], range(1, 5), "数据范围错误", decrypted)
    valid = _valid(row["valid"], profile.valid_encoding, decrypted=decrypted)
    upload_date = row["uploadDate"]
    if _timestamp(upload_date, profile.timestamp_format) is None:
        raise Refusal(f"上传时间格式错误：{upload_date}")
    return {
        "dataCode": code.digits,
        "statType": stat_type,
        "statDate": stat_date,
        "dataValue": value,
        "inputType": input_type,
        "scope": scope,
        "valid": valid,
        "uploadDate": upload_date,
    }


def _decimal(raw: object, *, decrypted: bool) -> Decimal:
    # JSON numbers arrive as int or Decimal (the body is parsed with parse_float=Decimal, so the
    # decimals are the ones the client wrote); decrypted ones as plain decimal text.
    if decrypted:
        if isinstance(raw, str) and _DECIMAL_TEXT.fullmatch(raw):
            return Decimal(raw)
    elif isinstance(raw, Decimal) and raw.is_finite():
        return raw
    elif isinstance(raw, int) and not isinstance(raw, bool):
        return Decimal(raw)
    raise Refusal(f"数据值格式错误：{raw}")


def _small_int(raw: object, allowed: range, message: str, decrypted: bool) -> int:
    value: int | None = None
    if decrypted:
        if isinstance(raw, str) and _INT_TEXT.fullmatch(raw):
            value = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    if value is None or value not in allowed:
        raise Refusal(f"{message}：{raw}")
    return value


def _timestamp(raw: object, fmt: str) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.strptime(raw, fmt)  # noqa: DTZ007 - wall-clock text of the province, compared as text
    except ValueError:
        return None
    # strptime forgives missing leading zeros; the platform does not.
    return parsed if parsed.strftime(fmt) == raw else None


def _aligned_stat_date(raw: object, stat_type: int, fmt: str) -> str:
    """The statDate as sent, when it is the start of its period; :class:`Refusal` otherwise."""
    moment = _timestamp(raw, fmt)
    if moment is None:
        raise Refusal(f"统计时间不符：{raw}")
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    midnight = seconds == 0
    aligned = {
        0: moment.minute % 15 == 0 and moment.second == 0,
        # Daily periods start at 00:00 within one minute either side (provincial quality rule).
        1: seconds <= _DAY_SLACK_SECONDS or seconds >= 86400 - _DAY_SLACK_SECONDS,
        2: moment.day == 1 and midnight,
        3: moment.month == 1 and moment.day == 1 and midnight,
    }[stat_type]
    if not aligned:
        raise Refusal(f"统计时间不符：statType={stat_type} statDate={raw}")
    return str(raw)


def _valid(raw: object, encoding: str, *, decrypted: bool) -> bool:
    valid_value, invalid_value = _VALID_VALUES[encoding]
    if decrypted:
        # Booleans were encoded per valid_encoding and then written with str(): "true"/"0"/"1".
        texts = {str(valid_value).lower(): True, str(invalid_value).lower(): False}
        if isinstance(raw, str) and raw in texts:
            return texts[raw]
    elif type(raw) is type(valid_value) and raw in (valid_value, invalid_value):
        return raw == valid_value
    raise Refusal(f"有效标志错误：{raw}")
