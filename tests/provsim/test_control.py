"""The control API under /_sim and the Python API it mirrors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from ems_provsim.errors import ProfileError
from ems_provsim.server import Simulator
from tests.provsim.conftest import CODE, PIN, ProvinceClient, row


@pytest.fixture
def yunnan(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> ProvinceClient:
    return connect(start_sim("yunnan"), provision=False)


def control(client: ProvinceClient, path: str, payload: Any = None) -> Any:
    url = client.sim.base_url + "/_sim/" + path
    if payload is None and path in (
        "records",
        "infos",
        "meter-ledgers",
        "requests",
        "dictionaries",
        "accounts",
    ):
        response = client.session.get(url, timeout=10)
    else:
        response = client.session.post(url, data=json.dumps(payload or {}).encode(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_control_api_round_trip(yunnan: ProvinceClient) -> None:
    control(yunnan, "provision", {"enterpriseCode": CODE, "region": "330100", "pin": PIN})
    yunnan.register()
    yunnan.ok(yunnan.upload(row()))
    yunnan.ok(yunnan.post(yunnan.urls["info"], yunnan.envelope({"name": "示例"})))
    yunnan.ok(yunnan.post(yunnan.urls["meters"], yunnan.envelope([{"meterCode": "M-1"}])))

    records = control(yunnan, "records")
    assert len(records) == 1
    assert records[0]["dataValue"] == "12345.67" and records[0]["dataCode"] == "0201000002120002"
    assert records[0]["received_at"].endswith("+00:00")
    assert control(yunnan, "infos")[0]["data"] == {"name": "示例"}
    assert control(yunnan, "meter-ledgers")[0]["data"] == [{"meterCode": "M-1"}]
    endpoints = [r["endpoint"] for r in control(yunnan, "requests")]
    assert endpoints == ["register", "access_key", "data", "info", "meters"]
    accounts = control(yunnan, "accounts")
    assert accounts[0]["deviceId"] == yunnan.registration["deviceId"]

    control(yunnan, "faults", {"mode": "5xx", "count": 1})
    assert yunnan.upload(row()).status_code == 503
    control(yunnan, "expire-keys")
    assert yunnan.upload(row()).status_code == 401

    new_key = control(yunnan, "rekey", {"enterpriseCode": CODE})["secretKey"]
    account = yunnan.sim.account(CODE)
    assert account is not None and new_key == account.secret_key

    control(yunnan, "reset")
    assert control(yunnan, "records") == [] and control(yunnan, "requests") == []
    assert yunnan.sim.account(CODE) is not None  # accounts survive a reset


def test_control_bump_dictionaries(yunnan: ProvinceClient) -> None:
    changes = {
        "8": [{"code": "1500", "name": "氢气", "unit": "m3", "precision": 2}],
        "remove": {"10": ["3002"]},
    }
    assert control(yunnan, "bump-dictionaries", changes)["dicVersion"] == 2
    served = control(yunnan, "dictionaries")
    assert served["dicVersion"] == 2
    assert any(e["code"] == "1500" for e in served["items"]["8"])
    assert all(e["code"] != "3002" for e in served["items"]["10"])
    assert control(yunnan, "bump-dictionaries")["dicVersion"] == 3


def test_control_errors(yunnan: ProvinceClient) -> None:
    base = yunnan.sim.base_url
    assert (
        requests.post(base + "/_sim/faults", data=b'{"mode": "bogus"}', timeout=10).status_code
        == 400
    )
    assert (
        requests.post(
            base + "/_sim/rekey", data=b'{"enterpriseCode": "nobody"}', timeout=10
        ).status_code
        == 400
    )
    assert requests.post(base + "/_sim/provision", data=b"[]", timeout=10).status_code == 400
    assert requests.get(base + "/_sim/nothing", timeout=10).status_code == 404
    assert requests.get(base + "/_sim/faults", timeout=10).status_code == 405


def test_python_bump_changes_what_codes_are_accepted(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("national"))
    client.register()
    hydrogen = "0000000001150002"
    assert "数据编码不存在" in client.refused(client.upload(row(dataCode=hydrogen, dataValue=1)))
    client.sim.bump_dictionaries(
        {8: [{"code": "1500", "name": "氢气", "unit": "m3", "precision": 2}]}
    )
    client.ok(client.upload(row(dataCode=hydrogen, dataValue=1)))
    client.sim.bump_dictionaries({"remove": {8: ["1200"]}})
    assert "数据编码不存在" in client.refused(client.upload(row()))
    version = client.ok(
        client.post(client.urls["version"], {"deviceId": client.registration["deviceId"]})
    )
    assert version["dicVersion"] == client.sim.dic_version == 3
    assert all(e["code"] != "1200" for e in client.sim.dictionaries()[8])


def test_replacing_a_unit_keeps_its_namesakes(start_sim: Callable[..., Simulator]) -> None:
    sim = start_sim("national")
    sim.bump_dictionaries({4: [{"code": "01", "name": "1号高炉（大修后）", "parent": "02"}]})
    units = [
        (e["parent"], e["code"], e["name"]) for e in sim.dictionaries()[4] if e["code"] == "01"
    ]
    assert ("01", "01", "1号烧结机") in units and ("02", "01", "1号高炉（大修后）") in units
    assert len(units) == 5


def test_record_file(
    tmp_path: Path, start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    path = tmp_path / "rows.jsonl"
    client = connect(start_sim("national", record_path=path))
    client.register()
    client.ok(client.upload(row(), row(statDate="2024-05-02 00:00:00")))
    client.sim.stop()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["statDate"] for line in lines] == ["2024-05-01 00:00:00", "2024-05-02 00:00:00"]
    assert lines[0]["dataValue"] == "12345.67" and lines[0]["enterpriseCode"] == CODE


def test_unknown_profile() -> None:
    with pytest.raises(ProfileError, match="no such profile"):
        Simulator(profile="atlantis")
