"""The happy path of every profile: register, version, dictionary, info, meters, data."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from ems_provsim.server import Simulator
from tests.provsim.conftest import (
    CODE,
    COMPREHENSIVE,
    ELECTRICITY,
    ProvinceClient,
    row,
)


def test_register_reply_carries_keys_and_service_urls(province: ProvinceClient) -> None:
    reply = province.registration
    assert re.fullmatch(r"[0-9a-f]{32}", reply["deviceId"])
    assert re.fullmatch(r"[0-9a-f]{32}", reply["secretKey"])
    assert re.fullmatch(r"0[1-5]:[0-5]\d:00", reply["uploadTime"])
    assert isinstance(reply["regVersion"], int)
    for role, url in province.urls.items():
        assert url.startswith(province.sim.base_url + "/"), (role, url)


def test_registering_again_gives_the_same_device_and_key(province: ProvinceClient) -> None:
    first = dict(province.registration)
    again = province.ok(
        province.post(
            province.settings["register_path"], {"enterpriseCode": CODE, "region": "330100"}
        )
    )
    assert (again["deviceId"], again["secretKey"]) == (first["deviceId"], first["secretKey"])


def test_version_and_dictionary(province: ProvinceClient) -> None:
    device = province.registration["deviceId"]
    version = province.ok(province.post(province.urls["version"], {"deviceId": device}))
    assert version["dicVersion"] == province.sim.dic_version == 1
    energy = province.ok(
        province.post(province.urls["dictionary"], {"deviceId": device, "item": 8})
    )
    assert energy["item"] == 8 and energy["dicVersion"] == 1
    by_code = {e["code"]: e for e in energy["data"]}
    assert by_code["1200"]["name"] == "电力" and by_code["1200"]["precision"] == 2
    assert by_code["0000"]["unit"] == "tce" and by_code["0000"]["precision"] == 4
    units = province.ok(province.post(province.urls["dictionary"], {"deviceId": device, "item": 4}))
    assert {"code": "01", "name": "1号高炉", "parent": "02"} in units["data"]


def test_every_item_has_entries(province: ProvinceClient) -> None:
    device = province.registration["deviceId"]
    for item in range(1, 18):
        answer = province.ok(
            province.post(province.urls["dictionary"], {"deviceId": device, "item": item})
        )
        assert answer["data"], item
        assert all("code" in e and "name" in e for e in answer["data"])


def test_info_and_meter_ledger_are_recorded(province: ProvinceClient) -> None:
    info = {"enterpriseName": "示例钢铁有限公司", "industryCode": "3110", "employees": 1200}
    province.ok(province.post(province.urls["info"], province.envelope(info)))
    meters = [
        {"meterCode": "M-001", "type": "01", "accuracy": "0.5S"},
        {"meterCode": "M-002", "type": "02"},
    ]
    province.ok(province.post(province.urls["meters"], province.envelope(meters)))
    assert [i["data"] for i in province.sim.infos()] == [info]
    ledgers = province.sim.meter_ledgers()
    assert [(x["enterpriseCode"], x["data"]) for x in ledgers] == [(CODE, meters)]


def test_data_rows_are_recorded_decoded(province: ProvinceClient) -> None:
    rows = [
        row(),
        row(
            dataCode=COMPREHENSIVE,
            dataValue=Decimal("1.2345"),
            statType=2,
            statDate="2024-04-01 00:00:00",
            scope=1,
        ),
        row(
            statType=0,
            statDate="2024-05-01 13:45:00",
            dataValue=Decimal("7"),
            valid=False,
            inputType=3,
        ),
    ]
    province.ok(province.upload(*rows))
    records = province.sim.records()
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert [r["dataCode"] for r in records] == [ELECTRICITY, COMPREHENSIVE, ELECTRICITY]
    assert [r["dataValue"] for r in records] == [
        Decimal("12345.67"),
        Decimal("1.2345"),
        Decimal("7"),
    ]
    assert [r["valid"] for r in records] == [True, True, False]
    assert [r["statType"] for r in records] == [1, 2, 0]
    assert records[2]["statDate"] == "2024-05-01 13:45:00" and records[2]["inputType"] == 3
    first = records[0]
    assert (
        first["enterpriseCode"] == CODE and first["deviceId"] == province.registration["deviceId"]
    )
    assert first["scope"] == 3 and first["uploadDate"] == "2024-05-02 01:38:00"
    assert isinstance(first["received_at"], datetime) and first["received_at"].tzinfo is not None
    log = province.sim.requests()
    assert (
        log[-1]["endpoint"] == "data" and log[-1]["outcome"] == "accepted" and log[-1]["rows"] == 3
    )


def test_shandong_rows_really_arrive_encrypted(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("shandong"))
    client.register()
    wire = client.encode_row(row())
    assert all(re.fullmatch(r"(?:[0-9A-F]{32})+", v) for v in wire.values())
    # valid is inverted (0 = valid) and codes are plain: the cipher text of "0" and of 16 digits.
    from tests.provsim.conftest import ecb_encrypt

    key = client.registration["secretKey"]
    assert wire["valid"] == ecb_encrypt("sm4-ecb", key, "0")
    assert wire["dataCode"] == ecb_encrypt("sm4-ecb", key, ELECTRICITY)
    client.ok(client.post(client.urls["data"], client.envelope([wire])))
    assert client.sim.records()[0]["valid"] is True


def test_bearer_access_key_reply(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("yunnan"))
    client.register()
    answer = client.ok(client.access_key())
    assert answer["responseCode"] == "200" and answer["expiresIn"] == 7200 and answer["accessKey"]
