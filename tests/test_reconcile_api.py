"""Routes of the data path's health: reconciliation results, completeness and gateway
events, fed by the real ingest core; bad input; who may run a reconciliation."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ems_edge import wire
from tests.conftest import assert_error
from tests.test_gateway_api import register, unique
from tests.test_telemetry_api import create_point, ingestor, point_body

ALPHA = "/api/v1/tenants/alpha-works"
__all__ = ["ingestor"]  # the fixture, shared with the telemetry API tests


def _feed(alice: Any, ingestor: Any) -> tuple[str, str, int]:
    """A gateway whose agent made 4 readings of today and delivered 3; returns
    (gateway id, UTC day, point id)."""
    from ems.ingest.core import Message

    gateway = register(alice, unique())
    gateway_id = gateway["id"]
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(gateway["signing_key"]))
    point = create_point(alice, point_body(gateway_id, "E1", kind="cumulative", unit="kWh"))
    now = int(time.time()) * 1000
    day_start = now - now % 86_400_000
    made = [(i + 1, "E1", day_start + i * 1000, 10.0 + i) for i in range(4)]
    if now - day_start < 10_000:  # just after midnight: keep every reading in the past
        made = [(s, c, t - 86_400_000, v) for s, c, t, v in made]
    day = wire.utc_day(made[0][2])
    acc = wire.DigestAccumulator()
    for _, _, ts, value in made:
        acc.add(ts, value)
    ledger = wire.Completeness(
        gateway_id, day, now, {"E1": wire.PointLedger(4, 2, acc.hexdigest())}
    )
    outcome = ingestor.handle(
        [
            Message(
                wire.topic(gateway_id, wire.Channel.READINGS),
                wire.encode_batch(gateway_id, "cfg", made[:3], now, key),
            ),
            Message(
                wire.topic(gateway_id, wire.Channel.COMPLETENESS),
                wire.encode_completeness(ledger, key),
            ),
            Message(
                wire.topic(gateway_id, wire.Channel.EVENTS),
                wire.encode_events(
                    wire.Events(
                        gateway_id,
                        (wire.Event(now - 500, wire.EventKind.METER_FAULT, "no answer", "b", "m"),),
                    ),
                    key,
                ),
            ),
        ]
    )
    assert outcome.inserted == 3
    return gateway_id, day, point["id"]


def test_run_list_and_completeness(client_for: Any, ingestor: Any) -> None:
    alice = client_for("alice")
    gateway_id, day, point_id = _feed(alice, ingestor)

    run = alice.post(f"{ALPHA}/reconciliation", json={"day": day, "gateway_id": gateway_id})
    assert run.status_code == 200, run.get_json()
    # Today is not settled: the difference is reported but raises no event yet.
    assert run.get_json() == {"rows": 1, "differences": 1, "events": 0}

    listed = alice.get(f"{ALPHA}/reconciliation?gateway_id={gateway_id}")
    assert listed.status_code == 200, listed.get_json()
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1
    (row,) = listed.get_json()
    assert (row["code"], row["point_id"], row["day"], row["status"]) == (
        "E1",
        point_id,
        day,
        "difference",
    )
    assert (row["agent_count"], row["agent_gaps"], row["stored_count"], row["lost"]) == (4, 2, 3, 1)
    assert (row["expected"], row["received"], row["settled"]) == (6, 3, False)
    assert (
        alice.get(f"{ALPHA}/reconciliation?gateway_id={gateway_id}&status=match").get_json() == []
    )

    report = alice.get(f"{ALPHA}/completeness?from={day}&to={day}&gateway_id={gateway_id}")
    assert report.status_code == 200, report.get_json()
    assert report.get_json() == {
        "from": day,
        "to": day,
        "expected": 6,
        "received": 3,
        "rate": 0.5,
        "days": [{"day": day, "expected": 6, "received": 3, "rate": 0.5, "differences": 1}],
    }
    # The default period is the seven days before today.
    default = alice.get(f"{ALPHA}/completeness").get_json()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert (default["from"], default["to"]) == (
        (yesterday - timedelta(days=6)).isoformat(),
        yesterday.isoformat(),
    )

    events = alice.get(f"{ALPHA}/gateway-events?gateway_id={gateway_id}")
    assert events.status_code == 200, events.get_json()
    assert [(e["kind"], e["reason"], e["bus"], e["meter"]) for e in events.get_json()] == [
        ("meter_fault", "no answer", "b", "m")
    ]
    assert (
        alice.get(f"{ALPHA}/gateway-events?gateway_id={gateway_id}&kind=recovered").get_json() == []
    )

    # An operator may run it (operators' work); a viewer reads but may not.
    oscar = client_for("oscar")
    assert oscar.post(f"{ALPHA}/reconciliation", json={"day": day}).status_code == 200
    vera = client_for("vera")
    (seen,) = vera.get(f"{ALPHA}/reconciliation?gateway_id={gateway_id}").get_json()
    assert seen.pop("checked_at") >= row.pop("checked_at")  # oscar's run redid it
    assert seen == row
    assert_error(vera.post(f"{ALPHA}/reconciliation", json={"day": day}), 403, "forbidden")


def test_bad_input_names_the_field(client_for: Any) -> None:
    alice = client_for("alice")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    cases = [
        (alice.post(f"{ALPHA}/reconciliation", json={}), 422, "day"),
        (alice.post(f"{ALPHA}/reconciliation", json={"day": "19-11-2026"}), 422, "day"),
        (alice.post(f"{ALPHA}/reconciliation", json={"day": tomorrow}), 422, "day"),
        (
            alice.post(
                f"{ALPHA}/reconciliation", json={"day": "2026-11-19", "gateway_id": "beta-works-x"}
            ),
            422,
            "gateway_id",
        ),
        (alice.get(f"{ALPHA}/reconciliation?status=lost"), 422, "query.status"),
        (alice.get(f"{ALPHA}/reconciliation?day=yesterday"), 422, "query.day"),
        (alice.get(f"{ALPHA}/completeness?from=2026-11-20&to=2026-11-01"), 422, "from"),
        (alice.get(f"{ALPHA}/completeness?from=2020-01-01&to=2026-11-01"), 422, "from"),
        (alice.get(f"{ALPHA}/completeness?from=2026-13-01"), 422, "query.from"),
        (alice.get(f"{ALPHA}/completeness?gateway_id=nope-gw"), 422, "gateway_id"),
    ]
    for response, status, field in cases:
        error = assert_error(response, status)
        assert field in error["fields"], (field, error)
