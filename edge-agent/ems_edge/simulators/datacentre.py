"""A simulated data centre: what the agent sees of the cloud's ingest, and no more.

It subscribes to every gateway's readings on one broker, verifies the
signature with the gateway's public key, "commits" the readings to memory
idempotently (key: gateway, point, timestamp, as the real ingest does in
PostgreSQL), and only then publishes the acknowledgement of the committed
sequence ranges on ``ack/{dc}``. Pausing it models an ingest that is down
while the broker is up: batches arrive but nothing is committed or acked.

It serves the edge agent's tests, the drain benchmark and the one-machine
demo before the real ingest exists; the real ingest (the cloud side of the
wire contract in ``openapi/edge-wire.md``) must behave the same on the wire.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from paho.mqtt.enums import CallbackAPIVersion

from ems_edge import wire
from ems_edge.ranges import RangeSet

log = logging.getLogger(__name__)


@dataclass
class Committed:
    """What one gateway's readings look like in the simulated database."""

    values: dict[tuple[str, int], float] = field(default_factory=dict)
    #: (seq, point, ts) in the order they were committed, for order checks
    order: list[tuple[int, str, int]] = field(default_factory=list)
    seqs: RangeSet = field(default_factory=RangeSet)
    repeats: int = 0
    #: readings received when values are not kept (benchmarks)
    counted: int = 0


class SimDataCentre:
    """Verify, commit and acknowledge readings from gateways on one broker."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        keys: Mapping[str, Ed25519PublicKey],
        key: Ed25519PrivateKey,
        *,
        username: str | None = None,
        password: str | None = None,
        keep_values: bool = True,
    ) -> None:
        self.name = name
        self.key = key
        #: Keep every value (tests compare them); a benchmark of millions keeps only ranges.
        self.keep_values = keep_values
        self.keys = dict(keys)
        self.committed: dict[str, Committed] = defaultdict(Committed)
        self.events: list[wire.Event] = []
        self.ledgers: list[wire.Completeness] = []
        self.replies: list[wire.Reply] = []
        self.statuses: list[wire.Status] = []
        self.rejected: list[str] = []
        self.batches = 0
        self.paused = threading.Event()
        self.lock = threading.Lock()
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            # A persistent session, as the real ingest has: the broker queues readings
            # for it while it is away, so they arrive in the order the gateway sent them.
            client_id=f"sim-dc-{name}",
            clean_session=False,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.max_inflight_messages_set(200)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self, timeout: float = 10.0) -> None:
        """Connect and subscribe; returns once the subscription is in place."""
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.reconnect_delay_set(1, 2)
        self._client.loop_start()
        if not self._connected.wait(timeout):
            raise TimeoutError(f"simulated data centre {self.name} could not reach the broker")

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            return
        root = wire.TOPIC_ROOT
        client.subscribe(
            [
                (f"{root}/+/{ch.value}", 1)
                for ch in (
                    wire.Channel.READINGS,
                    wire.Channel.EVENTS,
                    wire.Channel.COMPLETENESS,
                    wire.Channel.REPLIES,
                    wire.Channel.STATUS,
                )
            ]
        )
        # Give the subscription a moment to settle before callers start publishing.
        time.sleep(0.1)
        self._connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            gateway, channel, _ = wire.parse_topic(message.topic)
            key = self.keys.get(gateway)
            if key is None:
                self.rejected.append(f"unknown gateway {gateway}")
                return
            if channel is wire.Channel.READINGS:
                self._readings(gateway, bytes(message.payload), key)
            elif channel is wire.Channel.EVENTS:
                self.events.extend(wire.decode_events(bytes(message.payload), key).events)
            elif channel is wire.Channel.COMPLETENESS:
                self.ledgers.append(wire.decode_completeness(bytes(message.payload), key))
            elif channel is wire.Channel.REPLIES:
                self.replies.append(wire.decode_reply(bytes(message.payload), key))
            elif channel is wire.Channel.STATUS:
                self.statuses.append(wire.decode_status(bytes(message.payload), key))
        except wire.WireError as exc:
            self.rejected.append(str(exc))

    def _readings(self, gateway: str, payload: bytes, key: Ed25519PublicKey) -> None:
        if self.paused.is_set():
            return  # ingest down: the broker delivered, nothing is committed or acknowledged
        batch = wire.decode_batch(payload, key)
        ranges = wire.seq_ranges(batch.seqs)
        with self.lock:
            store = self.committed[gateway]
            if self.keep_values:
                self._commit(store, batch.rows())
            else:
                store.counted += len(batch.seqs)
            for first, last in ranges:
                store.seqs.add(first, last)
            self.batches += 1
        ack = wire.Ack(gateway, self.name, ranges, int(time.time() * 1000))
        self._client.publish(
            wire.topic(gateway, wire.Channel.ACK, self.name), wire.encode_ack(ack, self.key), qos=1
        )

    @staticmethod
    def _commit(store: Committed, rows: list[tuple[int, str, int, float]]) -> None:
        for seq, point, ts, value in rows:
            if (point, ts) in store.values:
                store.repeats += 1
                continue
            store.values[(point, ts)] = value
            store.order.append((seq, point, ts))

    def count(self, gateway: str) -> int:
        """How many distinct readings of ``gateway`` are committed (received, without values)."""
        with self.lock:
            store = self.committed[gateway]
            return len(store.values) if self.keep_values else store.counted

    def send_command(self, gateway: str, payload: bytes) -> None:
        """Publish a (signed) command to ``gateway``."""
        self._client.publish(wire.topic(gateway, wire.Channel.COMMANDS), payload, qos=1)
