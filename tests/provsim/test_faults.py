"""Faults: 5xx, timeout, decrypt, device; for a count of requests or until cleared."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from ems_provsim.server import Simulator
from tests.provsim.conftest import CODE, REGION, ProvinceClient, row


@pytest.fixture
def client(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> ProvinceClient:
    client = connect(start_sim("national"))
    client.register()
    return client


def test_5xx_for_a_count_of_requests(client: ProvinceClient) -> None:
    client.sim.set_fault("5xx", count=2)
    for _ in range(2):
        response = client.upload(row())
        assert response.status_code == 503
        assert "application/json" not in response.headers["Content-Type"]
        with pytest.raises(ValueError, match="Expecting value"):
            response.json()
    client.ok(client.upload(row()))
    outcomes = [(r["endpoint"], r["outcome"]) for r in client.sim.requests()]
    assert outcomes[-3:] == [("data", "5xx"), ("data", "5xx"), ("data", "accepted")]
    assert len(client.sim.records()) == 1


def test_register_is_never_faulted(client: ProvinceClient) -> None:
    client.sim.set_fault("5xx", count=1)
    client.ok(client.post("/api/register", {"enterpriseCode": CODE, "region": REGION}))
    # The count is still there for the next faultable request.
    assert (
        client.post(
            client.urls["version"], {"deviceId": client.registration["deviceId"]}
        ).status_code
        == 503
    )


def test_fault_until_cleared(client: ProvinceClient) -> None:
    client.sim.set_fault("device")
    for role in ("version", "dictionary", "info", "meters", "data"):
        response = client.post(client.urls[role], client.envelope([{"x": 1}], item=8))
        assert client.refused(response) == "序列号与企业统一社会信用代码不符", role
    client.sim.set_fault("none")
    client.ok(client.upload(row()))
    assert [r["outcome"] for r in client.sim.requests()[-6:]] == ["refused"] * 5 + ["accepted"]


def test_decrypt_fault(client: ProvinceClient) -> None:
    client.sim.set_fault("decrypt", count=1)
    assert client.refused(client.upload(row())) == "解密失败！"
    entry = client.sim.requests()[-1]
    assert entry["enterpriseCode"] == CODE and entry["message"] == "解密失败！"
    client.ok(client.upload(row()))


def test_timeout_drops_the_connection_and_records_nothing(client: ProvinceClient) -> None:
    client.sim.set_fault("timeout", count=1, delay=0.3)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        client.upload(row())
    assert time.monotonic() - started >= 0.3
    assert client.sim.records() == []
    assert client.sim.requests()[-1]["outcome"] == "timeout"
    client.ok(client.upload(row()))  # the same session reconnects
    assert len(client.sim.records()) == 1


def test_a_client_timeout_shorter_than_the_stall(client: ProvinceClient) -> None:
    client.sim.set_fault("timeout", count=1, delay=1.0)
    with pytest.raises(requests.Timeout):
        client.session.post(client.urls["data"], data=b'{"deviceId": "x"}', timeout=0.2)
    assert client.sim.records() == []


def test_faults_apply_to_access_key_requests(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("yunnan"))
    client.register()
    client.sim.set_fault("5xx", count=1)
    assert client.access_key().status_code == 503
    client.ok(client.access_key())


def test_bad_fault_modes_are_refused(client: ProvinceClient) -> None:
    with pytest.raises(ValueError, match="fault mode"):
        client.sim.set_fault("flaky")
    client.sim.set_fault("5xx", count=0)  # zero requests: no fault at all
    client.ok(client.upload(row()))
