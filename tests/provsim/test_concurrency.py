"""Many clients at once: every accepted row is recorded exactly once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from ems_provsim.server import Simulator
from ems_provsim.testing import make_uscc
from tests.provsim.conftest import ProvinceClient, row


def test_fifty_enterprises_uploading_at_once(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    sim = start_sim("shandong")
    clients = []
    for serial in range(50):
        client = connect(sim)
        client.code = make_uscc(serial)
        client.register()
        clients.append(client)

    def upload(client: ProvinceClient) -> list[str]:
        codes = []
        for batch in range(4):
            rows = [
                row(statType=0, statDate=f"2024-05-01 {hour:02d}:{batch * 15:02d}:00")
                for hour in range(10)
            ]
            codes.append(client.ok(client.upload(*rows))["responseCode"])
        return codes

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(upload, clients))
    assert all(codes == ["0"] * 4 for codes in answers)
    records = sim.records()
    assert len(records) == 50 * 4 * 10
    assert [r["seq"] for r in records] == list(range(1, 2001))
    per_enterprise: dict[str, int] = {}
    for record in records:
        per_enterprise[record["enterpriseCode"]] = (
            per_enterprise.get(record["enterpriseCode"], 0) + 1
        )
    assert per_enterprise == {make_uscc(serial): 40 for serial in range(50)}


def test_burst_of_new_connections(start_sim: Callable[..., Simulator]) -> None:
    """200 fresh connections at once: none is reset by a short listen backlog."""
    sim = start_sim("national")

    def ping(_: int) -> int:
        with requests.Session() as session:
            return session.post(
                sim.base_url + "/api/loadDicVersion", data=b"{}", timeout=10
            ).status_code

    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(ping, range(200)))
    assert statuses == [200] * 200
    assert len(sim.requests()) == 200
