"""Commands from the cloud, and the agent's answers on the reply topic.

Construction code 4.3.3(5) and 4.3.7(2): collection on the data centre's
command as well as on schedule. Commands are signed by the data centre (its
public key is in the configuration), expire, and are answered once on the
``replies`` topic of the data centre that sent them:

``collect_now``    read every point now (optionally only ``buses``)
``time_sync``      set the agent's clock offset from ``now_ms``, then broadcast DL/T 645 time
``reload_config``  re-read the configuration file; refused if it does not validate
``push_config``    validate ``text``, keep it as a new version, make it current, reload
``report_status``  answer with what ``ems-edge status`` shows

Commands run on their own thread: the MQTT network thread only queues them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ems_edge import wire
from ems_edge.config import load_config, parse_config
from ems_edge.errors import ConfigError

if TYPE_CHECKING:
    from ems_edge.agent import Agent

log = logging.getLogger(__name__)


class CommandError(Exception):
    """A command could not be carried out; the message goes back to the cloud."""


class CommandRunner:
    """Verifies, runs and answers commands, one at a time."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._queue: queue.SimpleQueue[tuple[str, bytes] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="commands", daemon=True)
        self.guard = wire.CommandGuard(agent.config.gateway.id, int(agent.clock() * 1000))
        self.handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "collect_now": self.collect_now,
            "time_sync": self.time_sync,
            "reload_config": self.reload_config,
            "push_config": self.push_config,
            "report_status": lambda args: self.agent.status(),
        }

    def submit(self, dc: str, payload: bytes) -> None:
        """Queue a command received from data centre ``dc`` (called on the MQTT thread)."""
        self._queue.put((dc, payload))

    def start(self) -> None:
        """Start the command thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the command in progress."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            dc, payload = item
            try:
                self.handle(dc, payload)
            except Exception:  # one bad command must not end command handling
                log.exception("command from %s failed", dc)

    def handle(self, dc: str, payload: bytes) -> None:
        """Verify one command, run it and publish the reply to the data centre that sent it."""
        link = next(link for link in self.agent.links if link.centre.name == dc)
        now_ms = int(self.agent.clock() * 1000)
        try:
            command = wire.decode_command(payload, link.centre.key)
            # Stale, foreign or repeated (QoS 1 may deliver twice): a command runs once.
            self.guard.admit(command, now_ms)
        except wire.WireError as exc:
            log.warning("command from %s refused: %s", dc, exc)
            return
        ok, result, error = False, None, None
        if command.name not in self.handlers:
            error = f"unknown command {command.name!r}"
        else:
            try:
                result, ok = self.handlers[command.name](dict(command.args)), True
            except (CommandError, ConfigError) as exc:
                error = str(exc)
        at_ms = int(self.agent.clock() * 1000)
        reply = wire.Reply(self.agent.config.gateway.id, command.id, ok, at_ms, result, error)
        link.publish(
            wire.Channel.REPLIES, wire.encode_reply(reply, self.agent.config.gateway.signing_key)
        )
        log.info("command %s (%s) from %s: %s", command.name, command.id, dc, "ok" if ok else error)

    # -- the commands ----------------------------------------------------------------------

    def collect_now(self, args: dict[str, Any]) -> dict[str, Any]:
        """Poll every meter of the named buses (all by default) now, synchronously."""
        wanted = args.get("buses")
        pollers = [p for p in self.agent.pollers if wanted is None or p.bus.name in wanted]
        if wanted is not None and len(pollers) != len(set(wanted)):
            known = {p.bus.name for p in self.agent.pollers}
            raise CommandError(f"unknown bus(es): {sorted(set(wanted) - known)}")
        stored = 0
        for poller in pollers:
            at = self.agent.clock()
            for meter in poller.bus.meters:
                stored += poller.poll_meter(meter, meter.points, at)
        return {"readings": stored, "buses": [p.bus.name for p in pollers]}

    def time_sync(self, args: dict[str, Any]) -> dict[str, Any]:
        """Take the cloud's time as the agent's, then set the meters' clocks."""
        now_ms = args.get("now_ms")
        if not isinstance(now_ms, int) or isinstance(now_ms, bool) or now_ms <= 0:
            raise CommandError("time_sync needs now_ms, a positive integer (Unix ms)")
        offset = now_ms / 1000 - time.time()
        self.agent.clock_offset = offset
        self.agent.event("clock_set", "", "", None, f"clock offset set to {offset:+.3f} s")
        return {"offset_s": round(offset, 3), "buses_synced": self.agent.broadcast_time()}

    def reload_config(self, args: dict[str, Any]) -> dict[str, Any]:
        """Validate the configuration file again and, if it is valid, restart with it."""
        del args
        path = self._config_path()
        config = load_config(path)
        self.agent.reload_requested.set()
        return {"version": config.version}

    def push_config(self, args: dict[str, Any]) -> dict[str, Any]:
        """Keep a configuration sent by the cloud as a new version and switch to it."""
        text = args.get("text")
        if not isinstance(text, str) or not text.strip():
            raise CommandError("push_config needs text, the whole configuration file")
        path = self._config_path()
        config = parse_config(text, "pushed configuration", path.parent)
        if config.gateway.id != self.agent.config.gateway.id:
            raise CommandError(
                f"configuration is for gateway {config.gateway.id!r}, "
                f"this is {self.agent.config.gateway.id!r}"
            )
        versions = self.agent.config.gateway.state_dir / "configs"
        versions.mkdir(parents=True, exist_ok=True)
        (versions / f"{config.version}.yaml").write_text(text, encoding="utf-8")
        if path.exists():
            (versions / f"{self.agent.config.version}.yaml").write_text(
                path.read_text(encoding="utf-8"), encoding="utf-8"
            )
        tmp = path.with_suffix(".pushed.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        self.agent.reload_requested.set()
        return {"version": config.version, "previous": self.agent.config.version}

    def _config_path(self) -> Path:
        if self.agent.config_path is None:
            raise CommandError("this agent was started without a configuration file")
        return self.agent.config_path
