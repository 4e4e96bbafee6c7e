"""The running agent: pollers, buffer, data-centre links, housekeeping, commands.

:class:`Agent` wires one configuration generation together. ``run`` keeps
one alive until SIGTERM/SIGINT, and swaps it for a new one when the cloud
asks for a configuration reload or pushes a new configuration; the buffer
file, and with it everything not yet acknowledged, carries over.

Housekeeping runs on the main thread once a second: prune acknowledged
readings, publish pending events, publish the completeness ledger of today
and yesterday every ``ledger_every`` seconds, broadcast DL/T 645 time on
schedule, and write ``status.json`` for ``ems-edge status``.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ems_edge import wire
from ems_edge.buffer import Buffer
from ems_edge.commands import CommandRunner
from ems_edge.config import AgentConfig, load_config
from ems_edge.drivers import driver_kind
from ems_edge.localapi import LocalApi
from ems_edge.poller import BusPoller
from ems_edge.publisher import DataCentreLink

log = logging.getLogger(__name__)

#: Share of the buffer's capacity at which the agent warns that it is filling up.
BUFFER_HIGH = 0.8


def buffer_capacity(config: AgentConfig) -> int:
    """Readings the buffer must hold: the configured days at the configured polling rates."""
    return math.ceil(config.readings_per_day() * config.gateway.buffer_days)


class Agent:
    """One configuration generation of the running agent."""

    def __init__(
        self,
        config: AgentConfig,
        config_path: Path | None = None,
        *,
        ledger_every: float = 900.0,
        ack_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.ledger_every = ledger_every
        self.clock_offset = 0.0
        self.reload_requested = threading.Event()
        self.stopping = threading.Event()
        gateway = config.gateway
        self.buffer = Buffer(
            gateway.state_dir / "buffer.db",
            buffer_capacity(config),
            [dc.name for dc in config.data_centres],
        )
        self.commands = CommandRunner(self)
        self.links = [
            DataCentreLink(
                dc,
                gateway,
                config.version,
                self.buffer,
                self.commands.submit,
                ack_timeout=ack_timeout,
                clock=self.clock,
            )
            for dc in config.data_centres
        ]
        self.pollers = [
            BusPoller(bus, self.buffer, self.event, self.clock, self._wake_links)
            for bus in config.buses
            if driver_kind(bus.kind).scheduled
        ]
        self.local_api = LocalApi(self)
        self._event_cursors = {link.centre.name: 0 for link in self.links}
        self._last_ledger = 0.0
        self._last_time_sync = 0.0
        self._buffer_high = False

    # -- time ------------------------------------------------------------------------------

    def clock(self) -> float:
        """The agent's time: the local clock corrected by the offset the cloud last set."""
        return time.time() + self.clock_offset

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything; readings begin to flow into the buffer and out to the cloud."""
        days = self.buffer.capacity / max(1.0, self.config.readings_per_day())
        log.info(
            "gateway %s: %d points, %.0f readings/day; buffer holds %d readings (%.1f days) at %s",
            self.config.gateway.id,
            len(self.config.points()),
            self.config.readings_per_day(),
            self.buffer.capacity,
            days,
            self.buffer.path,
        )
        self.event("config_applied", "", "", None, f"configuration {self.config.version}")
        for link in self.links:
            link.start()
        for poller in self.pollers:
            poller.start()
        self.commands.start()
        self.local_api.start()

    def stop(self) -> None:
        """Stop pollers first (nothing new), then links; the buffer keeps what is unsent."""
        self.stopping.set()
        self.local_api.stop()
        for poller in self.pollers:
            poller.stop()
        self.commands.stop()
        for link in self.links:
            link.stop()
        self.write_status()
        self.buffer.close()

    def _wake_links(self) -> None:
        for link in self.links:
            link.wake.set()

    # -- events ----------------------------------------------------------------------------

    def event(self, kind: str, bus: str, meter: str, point: str | None, reason: str) -> None:
        """Record an event durably; housekeeping publishes it to every data centre."""
        body = {
            "at_ms": int(self.clock() * 1000),
            "kind": str(wire.EventKind(kind)),
            "bus": bus or None,
            "meter": meter or None,
            "point": point,
            "reason": reason,
        }
        self.buffer.add_event(json.dumps(body, ensure_ascii=False))

    def _publish_events(self) -> None:
        pending = self.buffer.events(200)
        if not pending:
            return
        for link in self.links:
            cursor = self._event_cursors[link.centre.name]
            batch = [(no, body) for no, body in pending if no > cursor]
            if not batch or not link.status.connected:
                continue
            events = wire.Events(
                self.config.gateway.id, tuple(_event(json.loads(body)) for _, body in batch)
            )
            payload = wire.encode_events(events, self.config.gateway.signing_key)
            if link.publish(wire.Channel.EVENTS, payload):
                self._event_cursors[link.centre.name] = batch[-1][0]
        self.buffer.drop_events(min(self._event_cursors.values()))

    # -- housekeeping ----------------------------------------------------------------------

    def housekeeping(self) -> None:
        """The once-a-second chores of the main thread."""
        while self.buffer.prune():
            pass
        self._watch_buffer()
        self._publish_events()
        now = self.clock()
        if now - self._last_ledger >= self.ledger_every:
            self._last_ledger = now
            self.publish_ledger()
        if now - self._last_time_sync >= self.config.time_sync_every:
            self._last_time_sync = now
            self.broadcast_time()
        self.write_status()

    def _watch_buffer(self) -> None:
        """A ``buffer_high`` event when the buffer passes 80 %, once until it is below 70 %."""
        fill = self.buffer.depth() / max(1, self.buffer.capacity)
        if fill >= BUFFER_HIGH and not self._buffer_high:
            self._buffer_high = True
            self.event(
                "buffer_high",
                "",
                "",
                None,
                f"buffer {fill:.0%} full ({self.buffer.depth()} of {self.buffer.capacity})",
            )
            log.error("buffer %.0f%% full: a data centre has not acknowledged for long", fill * 100)
        elif fill < BUFFER_HIGH - 0.1:
            self._buffer_high = False

    def publish_ledger(self) -> None:
        """Send the completeness ledger of today and yesterday (UTC) to every data centre."""
        today = datetime.fromtimestamp(self.clock(), UTC)
        for day in (today - timedelta(days=1), today):
            rows = self.buffer.ledger(day.strftime("%Y-%m-%d"))
            if not rows:
                continue
            ledger = wire.Completeness(
                self.config.gateway.id,
                rows[0].day,
                int(self.clock() * 1000),
                {r.point_id: wire.PointLedger(r.count, r.gaps, r.digest) for r in rows},
            )
            payload = wire.encode_completeness(ledger, self.config.gateway.signing_key)
            for link in self.links:
                link.publish(wire.Channel.COMPLETENESS, payload)
        self.buffer.forget_ledger_before(wire.utc_day(int((self.clock() - 30 * 86400) * 1000)))

    def broadcast_time(self) -> int:
        """Broadcast the agent's time to every bus whose protocol can set meter clocks."""
        sent = 0
        when = datetime.fromtimestamp(self.clock(), UTC)
        for poller in self.pollers:
            with poller.lock:
                if poller.driver.broadcast_time(when):
                    sent += 1
        return sent

    def status(self) -> dict[str, Any]:
        """A snapshot of buffer depth per data centre, last poll per bus and current faults."""
        return {
            "gateway": self.config.gateway.id,
            "config_version": self.config.version,
            "at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
            "clock_offset_s": round(self.clock_offset, 3),
            "buffer": {
                "depth": self.buffer.depth(),
                "capacity": self.buffer.capacity,
                "last_seq": self.buffer.last_seq,
            },
            "data_centres": {
                link.centre.name: {
                    "connected": link.status.connected,
                    "pending": self.buffer.pending(link.centre.name),
                    "last_ack_at": _iso(link.status.last_ack_at),
                    "last_connect_error": link.status.last_connect_error,
                    "resends": link.status.resends,
                }
                for link in self.links
            },
            "buses": {
                poller.bus.name: {
                    "last_poll_at": _iso(poller.state.last_poll_at),
                    "last_ok_at": _iso(poller.state.last_ok_at),
                    "readings": poller.state.readings,
                    "faults": dict(poller.state.faulty_points),
                }
                for poller in self.pollers
            },
        }

    def write_status(self) -> None:
        """Write ``status.json`` atomically beside the buffer."""
        path = self.config.gateway.state_dir / "status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status(), ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(path)


def _event(body: dict[str, Any]) -> wire.Event:
    return wire.Event(
        body["at_ms"],
        wire.EventKind(body["kind"]),
        body["reason"],
        body["bus"],
        body["meter"],
        body["point"],
    )


def _iso(stamp: float | None) -> str | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat()


def run(config_path: Path) -> int:
    """Run the agent until SIGTERM or SIGINT, reloading the configuration when asked."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    config = load_config(config_path)
    while True:
        agent = Agent(config, config_path)
        agent.start()
        try:
            while not stop.is_set() and not agent.reload_requested.is_set():
                agent.housekeeping()
                stop.wait(1.0)
        finally:
            agent.stop()
        if stop.is_set():
            return 0
        config = load_config(config_path)  # validated before it was accepted
        log.info("configuration reloaded: version %s", config.version)
