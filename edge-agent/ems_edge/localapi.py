"""The agent's local interface: status, and manual values typed in on site.

Plain HTTP on ``status_host:status_port`` (loopback by default: whoever can
reach it is on the gateway itself or its maintenance port):

``GET /status``  the status snapshot as JSON
``POST /manual`` ``{"point": "...", "value": 12.5, "at": "2026-11-21T08:00:00+08:00"}``
                 stores a manual value (construction code 4.3.5(3)); ``at`` defaults to now
                 and must carry its UTC offset.

Errors answer 400 with ``{"error": "..."}`` naming the field; nothing is
stored unless everything is valid.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ems_edge.drivers import driver_kind
from ems_edge.errors import BufferFullError

if TYPE_CHECKING:
    from ems_edge.agent import Agent

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


class ManualValueError(ValueError):
    """A manual value that cannot be stored; the message names the field."""


class LocalApi:
    """A small threaded HTTP server bound to the agent."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.manual_points = {
            point.id: point
            for bus in agent.config.buses
            if not driver_kind(bus.kind).scheduled
            for meter in bus.meters
            for point in meter.points
        }
        gateway = agent.config.gateway
        handler = type("Handler", (_Handler,), {"api": self})
        self.server = ThreadingHTTPServer((gateway.status_host, gateway.status_port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="local-api", daemon=True
        )

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()

    def store_manual(self, body: Any) -> dict[str, Any]:
        """Validate and store one manual value; returns its sequence number."""
        if not isinstance(body, dict):
            raise ManualValueError("the body must be a JSON object")
        point_id = body.get("point")
        if not isinstance(point_id, str) or point_id not in self.manual_points:
            raise ManualValueError(f"point: {point_id!r} is not a manual point of this gateway")
        value = body.get("value")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ManualValueError(f"value: {value!r} is not a finite number")
        now = self.agent.clock()
        at = now
        if body.get("at") is not None:
            at = _aware_time(body["at"])
            if at > now + 300:
                raise ManualValueError("at: lies in the future")
            if at < now - self.agent.config.gateway.buffer_days * 86400:
                raise ManualValueError("at: older than the buffer keeps")
        unknown = set(body) - {"point", "value", "at"}
        if unknown:
            raise ManualValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        seq = self.agent.buffer.append([(point_id, int(at * 1000), float(value))])
        for link in self.agent.links:
            link.wake.set()
        return {"seq": seq, "point": point_id}


def _aware_time(raw: Any) -> float:
    if not isinstance(raw, str):
        raise ManualValueError(f"at: {raw!r} is not an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ManualValueError(f"at: {raw!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise ManualValueError("at: needs a UTC offset, e.g. +08:00")
    return parsed.timestamp()


class _Handler(BaseHTTPRequestHandler):
    api: LocalApi

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local api: " + format, *args)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/status":
            self._answer(200, self.api.agent.status())
        else:
            self._answer(404, {"error": f"no such resource {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/manual":
            self._answer(404, {"error": f"no such resource {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length <= 0 or length > MAX_BODY:
            self._answer(400, {"error": f"body must be 1 to {MAX_BODY} bytes of JSON"})
            return
        try:
            body = json.loads(self.rfile.read(length))
        except json.JSONDecodeError as exc:
            self._answer(400, {"error": f"not JSON: {exc.msg} at character {exc.pos}"})
            return
        except UnicodeDecodeError as exc:
            self._answer(400, {"error": f"not JSON: not UTF-8 text (byte {exc.start})"})
            return
        except RecursionError:
            self._answer(400, {"error": "not JSON: nested too deeply"})
            return
        try:
            self._answer(200, self.api.store_manual(body))
        except ManualValueError as exc:
            self._answer(400, {"error": str(exc)})
        except BufferFullError as exc:
            self._answer(507, {"error": str(exc)})
