"""A first end of the ingest core: a signed batch becomes rows, an ack, a real-time value."""

from __future__ import annotations

import time
from typing import Any

from ems_edge import wire
from tests.ingest.conftest import count_readings


def test_batch_is_stored_once_and_acknowledged(
    make_plant: Any, ingestor: Any, connect: Any, dc_key: Any
) -> None:
    from ems.ingest.core import Message

    plant = make_plant()
    now = int(time.time() * 1000)
    rows = [
        (1, "M1.energy", now - 60_000, 100.5),
        (2, "M1.power", now - 60_000, 7.25),
        (3, "M1.energy", now, 101.0),
    ]
    payload = wire.encode_batch(plant.gateway, "cfg1", rows, now, plant.key)
    topic = wire.topic(plant.gateway, wire.Channel.READINGS)
    outcome = ingestor.handle([wire_message(topic, payload)])
    assert outcome.inserted == 3
    ((ack_topic, ack_payload),) = outcome.acks
    ack = wire.decode_ack(ack_payload, dc_key.public_key())
    assert ack_topic == wire.topic(plant.gateway, wire.Channel.ACK, "dc1")
    assert ack.ranges == ((1, 3),)
    again = ingestor.handle([Message(topic, payload)])
    assert again.inserted == 0 and again.stored == 3  # idempotent, and acknowledged again
    assert count_readings(connect, plant.schema) == {
        plant.points["M1.energy"]: 2,
        plant.points["M1.power"]: 1,
    }


def wire_message(topic: str, payload: bytes) -> Any:
    from ems.ingest.core import Message

    return Message(topic, payload)
