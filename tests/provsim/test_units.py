"""The pure parts on their own: credit codes, the PIN block, the code check, profiles."""

from __future__ import annotations

import pytest

from ems_provsim.crypto import decrypt_pin_block
from ems_provsim.dictionaries import check_code, load_dictionaries
from ems_provsim.errors import Refusal
from ems_provsim.profile import load_profile
from ems_provsim.testing import make_uscc
from ems_provsim.uscc import is_valid_uscc
from tests.provsim.conftest import CODE, pin_password

CODE_TABLES = {"01": 8, "02": 8, "03": 9, "04": 10, "05": 11, "06": 12, "07": 13}


def test_credit_codes() -> None:
    assert is_valid_uscc(CODE)
    assert not is_valid_uscc(CODE[:-1] + "0")
    assert is_valid_uscc(CODE[:-1] + "0", check_digit=False)
    assert all(is_valid_uscc(make_uscc(n)) for n in range(100))


@pytest.mark.parametrize("pin", ["1", "123456", "12345678901234"])
def test_pin_block_round_trip(pin: str) -> None:
    secret = "0ef6ecea08bf84c7b639c3e9b84ed546"
    assert decrypt_pin_block(pin_password(pin, secret, CODE), secret, CODE) == pin


def test_pin_block_under_another_key_is_refused() -> None:
    password = pin_password("123456", "0ef6ecea08bf84c7b639c3e9b84ed546", CODE)
    with pytest.raises(Refusal, match="解密失败"):
        decrypt_pin_block(password, "ffffffffffffffffffffffffffffffff", CODE)


@pytest.mark.parametrize(
    ("code", "fmt", "precision"),
    [
        ("04-01-0000-040200-30", "hyphenated", 3),  # the protocol document's example
        ("00-00-0000-010000-02", "hyphenated", 4),
        ("0501020102120002", "plain", 2),  # 公用辅助 / 空压站 / 电动机 01 / 电力
        ("0000000003210002", "plain", 2),  # 新水
        ("0000000005400100", "plain", None),  # indicator, no use 00: refused below
    ],
)
def test_code_check(code: str, fmt: str, precision: int | None) -> None:
    dicts = load_dictionaries()
    if precision is None:
        with pytest.raises(Refusal, match="数据编码不存在"):
            check_code(code, fmt, CODE_TABLES, dicts)
        return
    found = check_code(code, fmt, CODE_TABLES, dicts)
    assert found.digits == code.replace("-", "") and found.entry["precision"] == precision


def test_profiles_read_as_written() -> None:
    shandong, yunnan = load_profile("shandong"), load_profile("yunnan")
    assert (shandong.field_encryption, shandong.compression, shandong.valid_encoding) == (
        "sm4-ecb",
        "gzip",
        "inverted_int",
    )
    assert (yunnan.success_code, yunnan.failure_code, yunnan.access_key_path) == (
        "200",
        "500",
        "/YNEnergy/requestAK",
    )
    assert load_profile("national").service_prefix == "/api/"
