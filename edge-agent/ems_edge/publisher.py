"""One connection per data centre, each with its own cursor into the buffer.

DESIGN.md section 4, step 3; construction code 4.3.3(2) (at least two data
centres at once) and 4.3.7(5) (re-send after an outage). Each
:class:`DataCentreLink` owns a paho-mqtt client (callback API version 2,
MQTT 3.1.1, persistent session, QoS 1, TLS and per-gateway credentials when
configured) and a sender thread:

* The cursor starts at the lowest sequence the data centre has not
  acknowledged and walks up the buffer in batches, oldest first.
* A batch counts as delivered only when the data centre's ingest publishes an
  acknowledgement of the ranges it *committed*; the broker's PUBACK is not
  enough. Unacknowledged batches are sent again after ``ack_timeout`` or a
  reconnect; the cloud writes idempotently, so a repeat is harmless.
* Replay is rate-capped per data centre (a token bucket of ``replay_rate``
  readings per second) so that many gateways coming back at once cannot
  flood the cloud, and the number of unacknowledged readings in flight is
  bounded.
* When the backlog is larger than ``live_split`` readings (hours of outage),
  fresh readings go out on a live cursor beside the replay, so they reach the
  cloud within seconds instead of after the backlog. Small backlogs are sent
  strictly in sequence, so per point the order of arrival is the order of
  measurement; in the live-split case every reading still carries its
  sequence and timestamp and the cloud orders by them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ems_edge import wire
from ems_edge.buffer import Buffer
from ems_edge.config import DataCentre, GatewaySettings

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, bytes], None]


@dataclass
class TokenBucket:
    """At most ``rate`` units per second, with bursts up to one second's worth."""

    rate: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self, wanted: int) -> int:
        """How many of ``wanted`` units may go now (possibly 0)."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        granted = int(min(wanted, self.tokens))
        self.tokens -= granted
        return granted


@dataclass
class LinkStatus:
    """What ``ems-edge status`` shows for one data centre."""

    connected: bool = False
    last_connect_error: str | None = None
    last_ack_at: float | None = None
    sent_batches: int = 0
    resends: int = 0


class DataCentreLink:
    """The gateway's connection to one data centre and the sender that feeds it."""

    def __init__(
        self,
        centre: DataCentre,
        gateway: GatewaySettings,
        config_version: str,
        buffer: Buffer,
        on_command: CommandHandler,
        *,
        ack_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.centre = centre
        self.gateway = gateway
        self.config_version = config_version
        self.buffer = buffer
        self.on_command = on_command
        self.ack_timeout = ack_timeout
        self.clock = clock
        self.status = LinkStatus()
        self.wake = threading.Event()
        self._acks: queue.SimpleQueue[wire.Ack] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._rewind = threading.Event()
        self._pending: dict[tuple[int, int], float] = {}
        self._bucket = TokenBucket(gateway.replay_rate)
        # Unacknowledged readings in flight: two seconds of replay, within memory's reason.
        self._window = max(20 * gateway.batch_size, min(2 * gateway.replay_rate, 200_000))
        self._cursor = 0
        self._live: int | None = None
        self._client = self._make_client()
        self._thread = threading.Thread(
            target=self._run, name=f"publish-{centre.name}", daemon=True
        )

    # -- MQTT ------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        gateway, centre = self.gateway, self.centre
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{gateway.id}.{centre.name}",
            clean_session=False,  # the broker keeps our subscriptions and QoS 1 state
            protocol=mqtt.MQTTv311,
        )
        if centre.username is not None:
            client.username_pw_set(centre.username, centre.password)
        if centre.tls is not None:
            tls = centre.tls
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                cert_reqs=ssl.CERT_NONE if tls.insecure_skip_verify else ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(tls.insecure_skip_verify)
        client.will_set(self.topic(wire.Channel.STATUS), self._status_payload("offline"), 1, True)
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def topic(self, channel: wire.Channel) -> str:
        """This gateway's topic for ``channel`` (acks: this data centre's ack topic)."""
        dc = self.centre.name if channel is wire.Channel.ACK else None
        return wire.topic(self.gateway.id, channel, dc)

    def _status_payload(self, state: str, **extra: Any) -> bytes:
        status = wire.Status(
            self.gateway.id, wire.GatewayState(state), int(self.clock() * 1000), extra
        )
        return wire.encode_status(status, self.gateway.signing_key)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.status.last_connect_error = str(reason)
            log.warning("data centre %s refused the connection: %s", self.centre.name, reason)
            return
        client.subscribe(
            [(self.topic(wire.Channel.ACK), 1), (self.topic(wire.Channel.COMMANDS), 1)]
        )
        client.publish(self.topic(wire.Channel.STATUS), self._status_payload("online"), 1, True)
        self.status.connected = True
        self.status.last_connect_error = None
        log.info("connected to data centre %s", self.centre.name)
        self._rewind.set()
        self.wake.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if self.status.connected:
            log.warning("lost data centre %s: %s", self.centre.name, reason)
        self.status.connected = False

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.topic(wire.Channel.ACK):
            try:
                ack = wire.decode_ack(bytes(message.payload), self.centre.key)
            except wire.WireError as exc:
                log.warning("data centre %s sent an unreadable ack: %s", self.centre.name, exc)
                return
            self._acks.put(ack)
            self.wake.set()
        elif message.topic == self.topic(wire.Channel.COMMANDS):
            self.on_command(self.centre.name, bytes(message.payload))

    def publish(self, channel: wire.Channel, payload: bytes, *, retain: bool = False) -> bool:
        """Queue ``payload`` on ``channel`` (QoS 1); False when not connected."""
        if not self.status.connected:
            return False
        info = self._client.publish(self.topic(channel), payload, qos=1, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (paho retries with backoff) and start sending."""
        self._client.connect_async(self.centre.host, self.centre.port, self.centre.keepalive)
        self._client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        """Stop sending and disconnect; unacknowledged readings stay in the buffer."""
        self._stop.set()
        self.wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self.status.connected:
            info = self._client.publish(
                self.topic(wire.Channel.STATUS), self._status_payload("offline"), 1, True
            )
            with contextlib.suppress(RuntimeError, ValueError):  # the line dropped meanwhile
                info.wait_for_publish(timeout=2)
        self.status.connected = False  # a deliberate disconnect is not a lost connection
        self._client.disconnect()
        self._client.loop_stop()

    # -- sending ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(0.2)
            self.wake.clear()
            self._take_acks()
            if not self.status.connected:
                continue
            if self._rewind.is_set() or self._ack_overdue():
                self._restart_cursor()
            try:
                while self._send_some() and not self._stop.is_set():
                    self._take_acks()
            except Exception:  # a sender that dies silently loses nothing but delays everything
                log.exception("sender for data centre %s failed; restarting it", self.centre.name)
                self._rewind.set()
                time.sleep(1)

    def _take_acks(self) -> None:
        took = False
        while True:
            try:
                ack = self._acks.get_nowait()
            except queue.Empty:
                break
            if ack.gateway != self.gateway.id or ack.dc != self.centre.name:
                log.warning("ack for %s/%s ignored on %s", ack.gateway, ack.dc, self.centre.name)
                continue
            # One ack at a time: an ack refused as impossible must not take a genuine one
            # that arrived in the same wake-up down with it.
            try:
                self.buffer.acknowledge(self.centre.name, ack.ranges)
            except ValueError as exc:
                log.warning("data centre %s: %s", self.centre.name, exc)
                continue
            took = True
        if not took:
            return
        acked = self.buffer.acked(self.centre.name)
        for key in [k for k in self._pending if acked.floor(k[0]) >= k[1]]:
            del self._pending[key]
        self.status.last_ack_at = self.clock()

    def _ack_overdue(self) -> bool:
        if not self._pending:
            return False
        return time.monotonic() - min(self._pending.values()) > self.ack_timeout

    def _restart_cursor(self) -> None:
        if self._pending:
            self.status.resends += 1
        self._rewind.clear()
        self._pending.clear()
        self._live = None
        self._cursor = self.buffer.acked(self.centre.name).next_missing(self.buffer.first_seq)

    def _in_flight(self) -> int:
        return sum(last - first + 1 for first, last in self._pending)

    def _send_some(self) -> bool:
        """Send one batch if there is one and the window allows; True if something went."""
        head = self.buffer.last_seq
        batch = self.gateway.batch_size
        if self._in_flight() >= self._window:
            return False
        if self._live is None and head - self._cursor + 1 > self.gateway.live_split > 0:
            self._live = head + 1  # what is measured from now on overtakes the backlog
        if self._live is not None and self._live <= head:
            sent = self._send_range(self._live, head, batch)
            self._live += sent
            return sent > 0
        end = head if self._live is None else self._live - 1
        acked = self.buffer.acked(self.centre.name)
        self._cursor = acked.next_missing(self._cursor)
        if self._cursor > end:
            if self._live is not None:
                self._cursor, self._live = self._live, None
            return False
        gap_end = acked.missing_end(self._cursor)
        if gap_end is not None:
            end = min(end, gap_end)
        allowed = self._bucket.take(min(batch, end - self._cursor + 1))
        if allowed == 0:
            time.sleep(0.01)
            return False
        sent = self._send_range(self._cursor, self._cursor + allowed - 1, allowed)
        self._cursor += sent
        return sent > 0

    def _send_range(self, first: int, last: int, limit: int) -> int:
        if not self.status.connected:
            return 0  # paho would queue it and deliver it late, with a stale sent_at
        rows = self.buffer.read(first, limit, last)
        if not rows:
            return 0
        payload = wire.encode_batch(
            self.gateway.id,
            self.config_version,
            rows,
            int(self.clock() * 1000),
            self.gateway.signing_key,
        )
        info = self._client.publish(self.topic(wire.Channel.READINGS), payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._rewind.set()
            return 0
        self._pending[(rows[0][0], rows[-1][0])] = time.monotonic()
        self.status.sent_batches += 1
        return rows[-1][0] - first + 1
