"""Everything a strict platform refuses, with the message that names the problem."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from ems_provsim.server import Simulator
from ems_provsim.testing import make_uscc
from tests.provsim.conftest import (
    CODE,
    PIN,
    PROFILES_DIR,
    REGION,
    ProvinceClient,
    ecb_encrypt,
    hyphenate,
    row,
)


@pytest.fixture
def national(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> ProvinceClient:
    client = connect(start_sim("national"))
    client.register()
    return client


@pytest.fixture
def shandong(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> ProvinceClient:
    client = connect(start_sim("shandong"))
    client.register()
    return client


@pytest.fixture
def yunnan(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> ProvinceClient:
    client = connect(start_sim("yunnan"))
    client.register()
    return client


# --- register -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "9133000057397305",
        "91330000573973053f",
        "91330000573973053I",
        "91330000573973053E",
        913300005739730530,
    ],
)
def test_malformed_credit_code(national: ProvinceClient, code: object) -> None:
    response = national.post("/api/register", {"enterpriseCode": code, "region": REGION})
    assert national.refused(response) == "统一社会信用代码格式错误"


def test_check_character_can_be_waived(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("national", check_uscc_digit=False))
    client.ok(
        client.post("/api/register", {"enterpriseCode": "91330000573973053E", "region": REGION})
    )


def test_bad_region(national: ProvinceClient) -> None:
    response = national.post("/api/register", {"enterpriseCode": CODE, "region": "33010"})
    assert national.refused(response) == "行政区划代码格式错误"


def test_unprovisioned_enterprise_when_registration_is_closed(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    sim = start_sim("national", open_registration=False)
    client = connect(sim, provision=False)
    response = client.post("/api/register", {"enterpriseCode": CODE, "region": REGION})
    assert client.refused(response) == "企业未开户"
    sim.provision(CODE, REGION)
    client.ok(client.post("/api/register", {"enterpriseCode": CODE, "region": REGION}))


def test_bearer_profiles_need_an_account(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("yunnan"), provision=False)
    assert (
        client.refused(
            client.post("/YNEnergy/register", {"enterpriseCode": CODE, "region": REGION})
        )
        == "企业未开户"
    )


# --- transport: compression, JSON, endpoints ------------------------------------------------


def test_gzip_profile_refuses_an_uncompressed_body(shandong: ProvinceClient) -> None:
    response = shandong.post(
        shandong.urls["version"], {"deviceId": shandong.registration["deviceId"]}, compress=False
    )
    assert "gzip" in shandong.refused(response)


def test_gzip_profile_refuses_a_broken_gzip_body(shandong: ProvinceClient) -> None:
    response = shandong.session.post(
        shandong.urls["version"],
        data=b"\x1f\x8bnot really gzip",
        headers={"Content-Encoding": "gzip"},
        timeout=10,
    )
    assert "解压失败" in shandong.refused(response)


def test_plain_profile_refuses_a_compressed_body(national: ProvinceClient) -> None:
    response = national.post(
        national.urls["version"], {"deviceId": national.registration["deviceId"]}, compress=True
    )
    assert "压缩" in national.refused(response)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"dataValue": NaN}'])
def test_malformed_json(national: ProvinceClient, body: bytes) -> None:
    message = national.refused(national.post(national.urls["data"], None, raw=body))
    assert "JSON" in message
    assert national.sim.requests()[-1]["outcome"] == "refused"


def test_malformed_json_in_a_gzip_body(shandong: ProvinceClient) -> None:
    assert "JSON" in shandong.refused(shandong.post(shandong.urls["data"], None, raw=b"{oops"))


def test_unknown_endpoint_is_a_json_404(national: ProvinceClient) -> None:
    response = national.post("/api/nothing-here", {"deviceId": national.registration["deviceId"]})
    assert response.status_code == 404
    assert response.json() == {
        "responseCode": "1",
        "responseMessage": "接口不存在：/api/nothing-here",
    }
    assert national.sim.requests()[-1]["endpoint"] == "unknown"


def test_get_on_a_protocol_endpoint_is_refused(national: ProvinceClient) -> None:
    response = national.session.get(national.urls["data"], timeout=10)
    assert response.status_code == 405 and response.json()["responseCode"] == "1"


# --- device ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [{"deviceId": "0" * 32}, {"enterpriseCode": "91110000100000000X"}, {"enterpriseCode": None}],
)
def test_wrong_device(national: ProvinceClient, changes: dict[str, object]) -> None:
    payload = national.envelope([national.encode_row(row())], **changes)
    assert (
        national.refused(national.post(national.urls["data"], payload))
        == "序列号与企业统一社会信用代码不符"
    )
    assert national.sim.records() == []


def test_another_enterprises_device(national: ProvinceClient) -> None:
    other = make_uscc(1)
    national.ok(national.post("/api/register", {"enterpriseCode": other, "region": REGION}))
    payload = national.envelope([national.encode_row(row())], enterpriseCode=other)
    assert (
        national.refused(national.post(national.urls["data"], payload))
        == "序列号与企业统一社会信用代码不符"
    )


def test_unknown_device_on_info_meters_and_version(national: ProvinceClient) -> None:
    stranger = {"deviceId": "f" * 32, "enterpriseCode": CODE}
    for role, data in (("info", {"a": 1}), ("meters", [{"a": 1}]), ("version", None)):
        response = national.post(national.urls[role], {**stranger, "data": data})
        assert national.refused(response) == "序列号与企业统一社会信用代码不符", role
    assert national.sim.infos() == [] and national.sim.meter_ledgers() == []


# --- data rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataCode": "9901000002120002"}, "数据编码不存在：99-01-0000-021200-02"),  # no process 99
        (
            {"dataCode": "0203000002120002"},
            "数据编码不存在：02-03-0000-021200-02",
        ),  # unit 03 not in 炼铁
        (
            {"dataCode": "0302000002120002"},
            "数据编码不存在：03-02-0000-021200-02",
        ),  # no unit 02 in 炼钢
        ({"dataCode": "0201000102120002"}, "数据编码不存在"),  # equipment number without equipment
        ({"dataCode": "0201090002120002"}, "数据编码不存在"),  # no equipment class 09
        ({"dataCode": "0201000008120002"}, "数据编码不存在"),  # no data type 08
        ({"dataCode": "0201000003120002"}, "数据编码不存在"),  # 1200 is energy, not a medium
        ({"dataCode": "0201000002120099"}, "数据编码不存在"),  # no use 99
        ({"dataCode": "020100000212000"}, "数据编码格式错误"),
        ({"dataValue": Decimal("12.345")}, "数据精度不符：02-01-0000-021200-02 12.345"),
        ({"dataValue": "12.3"}, "数据值格式错误"),
        ({"statType": 4}, "统计类型错误"),
        ({"statDate": "2024-05-01 08:00:00"}, "统计时间不符"),
        ({"statType": 0, "statDate": "2024-05-01 08:10:00"}, "统计时间不符"),
        ({"statType": 0, "statDate": "2024-05-01 08:15:30"}, "统计时间不符"),
        ({"statType": 2, "statDate": "2024-05-02 00:00:00"}, "统计时间不符"),
        ({"statType": 3, "statDate": "2024-02-01 00:00:00"}, "统计时间不符"),
        ({"statDate": "2024/05/01 00:00:00"}, "统计时间不符"),
        ({"statDate": "2024-5-1 00:00:00"}, "统计时间不符"),
        ({"inputType": 6}, "数据来源错误"),
        ({"inputType": True}, "数据来源错误"),
        ({"scope": 0}, "数据范围错误"),
        ({"valid": 1}, "有效标志错误"),
        ({"uploadDate": "yesterday"}, "上传时间格式错误"),
    ],
)
def test_a_bad_row_refuses_the_whole_batch(
    national: ProvinceClient, changes: dict[str, object], message: str
) -> None:
    batch = [
        national.encode_row(row()),
        national.encode_row(row()),
        national.encode_row(row(**changes)),
    ]
    answer = national.refused(national.post(national.urls["data"], national.envelope(batch)))
    assert answer.startswith("第3条：" + message), answer
    assert national.sim.records() == []
    assert national.sim.requests()[-1]["rows"] == 3


def test_daily_start_within_a_minute_is_aligned(national: ProvinceClient) -> None:
    national.ok(
        national.upload(row(statDate="2024-05-01 00:01:00"), row(statDate="2024-04-30 23:59:30"))
    )
    assert len(national.sim.records()) == 2


def test_a_missing_field(national: ProvinceClient) -> None:
    wire = national.encode_row(row())
    del wire["scope"]
    assert (
        national.refused(national.post(national.urls["data"], national.envelope([wire])))
        == "第1条：缺少字段：scope"
    )


def test_plain_profile_refuses_hyphenated_codes_and_back(
    shandong: ProvinceClient, national: ProvinceClient
) -> None:
    response = shandong.upload(row(dataCode=hyphenate("0201000002120002")))
    assert shandong.refused(response).endswith("数据编码格式错误：02-01-0000-021200-02")
    wire = national.encode_row(row())
    wire["dataCode"] = "0201000002120002"
    assert "数据编码格式错误" in national.refused(
        national.post(national.urls["data"], national.envelope([wire]))
    )


def test_empty_or_oversized_batches(national: ProvinceClient) -> None:
    assert "为空" in national.refused(national.post(national.urls["data"], national.envelope([])))
    too_many = [national.encode_row(row())] * 501
    assert "500" in national.refused(
        national.post(national.urls["data"], national.envelope(too_many))
    )


def test_bad_dictionary_item(national: ProvinceClient) -> None:
    device = national.registration["deviceId"]
    assert "字典项不存在" in national.refused(
        national.post(national.urls["dictionary"], {"deviceId": device, "item": 18})
    )


# --- field encryption -----------------------------------------------------------------------


def test_undecryptable_rows(shandong: ProvinceClient) -> None:
    wrong_key = "00112233445566778899AABBCCDDEEFF"
    assert shandong.refused(shandong.upload(row(), secret_key=wrong_key)) == "解密失败！"
    plain = {k: str(v) for k, v in shandong.encode_row(row()).items()}
    plain["dataValue"] = "12345.67"  # one value not encrypted at all
    assert (
        shandong.refused(shandong.post(shandong.urls["data"], shandong.envelope([plain])))
        == "解密失败！"
    )
    lower = {k: v.lower() for k, v in shandong.encode_row(row()).items()}
    assert (
        shandong.refused(shandong.post(shandong.urls["data"], shandong.envelope([lower])))
        == "解密失败！"
    )
    assert shandong.sim.records() == []


def test_rekey_makes_the_old_key_wrong(shandong: ProvinceClient) -> None:
    old_key = shandong.registration["secretKey"]
    new_key = shandong.sim.rekey(CODE)
    assert new_key != old_key
    assert shandong.refused(shandong.upload(row())) == "解密失败！"
    again = shandong.ok(
        shandong.post("/sdnh/api/register", {"enterpriseCode": CODE, "region": REGION})
    )
    assert again["secretKey"] == new_key and again["deviceId"] == shandong.registration["deviceId"]
    shandong.ok(shandong.upload(row(), secret_key=new_key))


def test_encrypted_values_are_checked_after_decryption(shandong: ProvinceClient) -> None:
    wire = shandong.encode_row(row())
    wire["valid"] = ecb_encrypt(
        "sm4-ecb", shandong.registration["secretKey"], "true"
    )  # bool, not 0/1
    assert (
        shandong.refused(shandong.post(shandong.urls["data"], shandong.envelope([wire])))
        == "第1条：有效标志错误：true"
    )


def test_aes_profile(
    tmp_path: Path, start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    """A profile given by path, with AES instead of SM4: SM4 cipher text is then undecryptable."""
    text = (
        (PROFILES_DIR / "shandong.toml")
        .read_text(encoding="utf-8")
        .replace('"sm4-ecb"', '"aes-128-ecb"')
    )
    path = tmp_path / "aes.toml"
    path.write_text(text, encoding="utf-8")
    client = connect(start_sim(str(path)))
    client.settings = tomllib.loads(text)
    client.register()
    client.ok(client.upload(row()))
    sm4_wire = client.encode_row(row())
    sm4_wire["dataValue"] = ecb_encrypt("sm4-ecb", client.registration["secretKey"], "1.00")
    assert (
        client.refused(client.post(client.urls["data"], client.envelope([sm4_wire])))
        == "解密失败！"
    )


# --- bearer ---------------------------------------------------------------------------------


def test_wrong_pin(yunnan: ProvinceClient) -> None:
    assert yunnan.refused(yunnan.access_key("654321")) == "密码错误"


def test_undecryptable_password(yunnan: ProvinceClient) -> None:
    payload = {
        "enterpriseCode": CODE,
        "deviceId": yunnan.registration["deviceId"],
        "password": "00" * 16,
    }
    assert yunnan.refused(yunnan.post("/YNEnergy/requestAK", payload)) == "解密失败！"
    payload["password"] = "not hex"
    assert yunnan.refused(yunnan.post("/YNEnergy/requestAK", payload)) == "解密失败！"


def test_requests_without_an_access_key_are_401(yunnan: ProvinceClient) -> None:
    del yunnan.session.headers["Authorization"]
    response = yunnan.upload(row())
    assert response.status_code == 401
    assert response.json() == {"responseCode": "401", "responseMessage": "访问密钥无效或已过期"}
    yunnan.session.headers["Authorization"] = "Bearer made-up"
    assert (
        yunnan.post(
            yunnan.urls["version"], {"deviceId": yunnan.registration["deviceId"]}
        ).status_code
        == 401
    )


def test_expired_access_key(yunnan: ProvinceClient) -> None:
    yunnan.ok(yunnan.upload(row()))
    yunnan.sim.expire_access_keys()
    response = yunnan.upload(row())
    assert response.status_code == 401 and response.json()["responseCode"] == "401"
    yunnan.ok(yunnan.access_key(PIN))
    yunnan.ok(yunnan.upload(row()))
    assert len(yunnan.sim.records()) == 2


def test_an_access_key_is_one_enterprises(yunnan: ProvinceClient) -> None:
    other = make_uscc(2, region="530100")
    yunnan.sim.provision(other, "530100", "1111")
    second = yunnan.ok(
        yunnan.post("/YNEnergy/register", {"enterpriseCode": other, "region": "530100"})
    )
    payload = {
        "deviceId": second["deviceId"],
        "enterpriseCode": other,
        "data": [yunnan.encode_row(row())],
    }
    assert yunnan.post(yunnan.urls["data"], payload).status_code == 401


def test_short_access_key_lifetime(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("yunnan", access_key_ttl=0))
    client.register()
    assert client.upload(row()).status_code == 401
