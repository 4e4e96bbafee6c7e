"""``ems ingest run``: the MQTT consumer in front of :class:`~ems.ingest.core.Ingestor`.

- A persistent MQTT 5 session (clean start off, a week's session expiry) under
  a stable client id: messages that arrive while the process is down, or that
  it received but never acknowledged, are delivered again when it comes back.
- Shared subscriptions (``$share/ingest-{dc}/...``): several processes of one
  data centre split the gateways' messages between them.
- Manual acknowledgement: the PUBACK of every message is sent only after the
  transaction holding its rows committed, followed by the signed application
  ack to each gateway. The receive maximum lets the broker keep up to
  ``receive_maximum`` unacknowledged messages in flight, so one flush can take
  many batches.
- If the database is unreachable the flush is retried with backoff, holding
  the messages: nothing is acknowledged, so nothing is lost; the broker stops
  sending once the in-flight window is full, and queues the rest.
- ``$SYS/broker/publish/messages/dropped`` is watched: a broker that drops
  messages (a queue limit reached) is logged as an error at once.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ems.db import libpq_url
from ems.ingest.core import Ingestor, Message
from ems_edge import wire

log = logging.getLogger(__name__)

CHANNELS = (
    wire.Channel.READINGS,
    wire.Channel.EVENTS,
    wire.Channel.COMPLETENESS,
    wire.Channel.STATUS,
    wire.Channel.REPLIES,
)
DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
SESSION_EXPIRY = 7 * 86_400


@dataclass
class Counters:
    """What this process has done since it started (logged every ``report_every``)."""

    messages: int = 0
    stored: int = 0
    inserted: int = 0
    quarantined: int = 0
    rejected: int = 0
    stale: int = 0
    flushes: int = 0
    db_retries: int = 0
    broker_dropped: int | None = None
    started: float = field(default_factory=time.monotonic)


class IngestService:
    """Consume, commit, acknowledge; until :meth:`stop`."""

    def __init__(
        self,
        ingestor: Ingestor,
        mqtt_url: str,
        *,
        client_id: str | None = None,
        group: str | None = None,
        max_messages: int = 400,
        linger: float = 0.02,
        receive_maximum: int = 1000,
        report_every: float = 10.0,
    ) -> None:
        self.ingestor = ingestor
        parts = urlsplit(mqtt_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 1883
        self.client_id = client_id or f"ingest-{ingestor.dc_name}-{socket.gethostname()}"
        self.group = group or f"ingest-{ingestor.dc_name}"
        self.max_messages = max_messages
        self.linger = linger
        self.report_every = report_every
        self.counters = Counters()
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._stop = threading.Event()
        self.connected = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if parts.username:
            client.username_pw_set(parts.username, parts.password)
        if parts.scheme == "mqtts":
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        self._client = client
        self._connect_properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._connect_properties.SessionExpiryInterval = SESSION_EXPIRY
        self._connect_properties.ReceiveMaximum = receive_maximum

    # -- MQTT callbacks (paho's network thread) ----------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the ingest: %s", reason)
            return
        topics = [(f"$share/{self.group}/{wire.subscription(c)}", 1) for c in CHANNELS]
        client.subscribe([*topics, (DROPPED_TOPIC, 0)])
        self.connected.set()
        log.info("ingest %s connected (session present: %s)", self.client_id, flags.session_present)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("ingest lost the broker: %s", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == DROPPED_TOPIC:
            self._dropped(bytes(message.payload))
            return
        self._inbox.put(Message(message.topic, bytes(message.payload), message.mid))

    def _dropped(self, payload: bytes) -> None:
        try:
            value = int(payload)
        except ValueError:
            return
        before = self.counters.broker_dropped
        self.counters.broker_dropped = value
        if before is not None and value > before:
            log.error("the broker dropped %d messages: its queues are too small", value - before)
        elif before is None and value:
            log.warning("the broker has dropped %d messages since it started", value)

    # -- the loop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (paho retries in the background) and start the network thread."""
        self._client.connect_async(
            self._host,
            self._port,
            keepalive=30,
            clean_start=False,
            properties=self._connect_properties,
        )
        self._client.loop_start()

    def run(self) -> None:
        """Flush until stopped."""
        self.start()
        last_report = time.monotonic()
        try:
            while not self._stop.is_set():
                batch = self._collect()
                if batch:
                    self._flush(batch)
                if time.monotonic() - last_report > self.report_every:
                    self._report()
                    last_report = time.monotonic()
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            self.ingestor.close()

    def stop(self) -> None:
        """Finish the current flush and return from :meth:`run`."""
        self._stop.set()

    def _collect(self) -> list[Message]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.linger
        while len(batch) < self.max_messages:
            try:
                batch.append(self._inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _flush(self, batch: list[Message]) -> None:
        delay = 0.5
        while True:
            try:
                outcome = self.ingestor.handle(batch)
                break
            except psycopg.OperationalError as exc:
                # Nothing is acknowledged: the broker keeps the messages, the gateway too.
                self.counters.db_retries += 1
                log.warning(
                    "database unavailable (%s); retrying in %.1f s", str(exc).strip(), delay
                )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 10.0)
        for message in batch:
            if message.mid:
                self._client.ack(message.mid, 1)
        for topic, payload in outcome.acks:
            self._client.publish(topic, payload, qos=1)
        c = self.counters
        c.flushes += 1
        c.messages += len(batch)
        c.stored += outcome.stored
        c.inserted += outcome.inserted
        c.quarantined += outcome.quarantined
        c.rejected += outcome.rejected
        c.stale += outcome.stale

    def _report(self) -> None:
        c = self.counters
        elapsed = max(1e-9, time.monotonic() - c.started)
        log.info(
            "ingest %s: %d messages, %d readings stored (%d new, %.0f/s), %d quarantined, "
            "%d rejected, %d stale, %d flushes, broker dropped %s",
            self.client_id,
            c.messages,
            c.stored,
            c.inserted,
            c.stored / elapsed,
            c.quarantined,
            c.rejected,
            c.stale,
            c.flushes,
            c.broker_dropped,
        )


def connector(url: str) -> Any:
    """A function opening autocommit connections (transactions are explicit)."""
    dsn = libpq_url(url)

    def connect() -> psycopg.Connection:
        return psycopg.connect(dsn, autocommit=True, application_name=f"ems-ingest-{os.getpid()}")

    return connect
