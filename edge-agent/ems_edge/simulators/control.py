"""Faults on demand for a simulated plant running as a process.

``ems-edge simulate --control-port 8766`` serves, on loopback:

``GET  /meters``                      every meter: address, fault, replacements, reads served
``POST /meters/{address}/fault``      ``{"mode": "silence"}`` (or bad_checksum, error_reply, none)
``POST /meters/{address}/replace``    a new meter in the same place: counters start from zero
``POST /meters/{address}/counter``    ``{"key": "00010000", "value": 999990.0}``: provoke a rollover

Bad requests answer 400 (or 404 for an unknown meter) with ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ems_edge.simulators.model import FaultMode, SimMeter

MAX_BODY = 4096


class ControlError(Exception):
    """A control request that cannot be carried out; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class PlantControl:
    """The control server of a set of simulated meters."""

    def __init__(self, meters: list[SimMeter], host: str = "127.0.0.1", port: int = 0) -> None:
        self.meters = {meter.address: meter for meter in meters}
        handler = type("Handler", (_Handler,), {"control": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()

    def listing(self) -> list[dict[str, Any]]:
        """Every meter's state."""
        return [
            {
                "address": m.address,
                "fault": str(m.fault),
                "replacements": m.replacements,
                "served": sum(m.served.values()),
            }
            for m in self.meters.values()
        ]

    def act(self, address: str, action: str, body: Any) -> dict[str, Any]:
        """Carry out ``action`` on the meter at ``address``."""
        meter = self.meters.get(address)
        if meter is None:
            raise ControlError(404, f"no meter with address {address!r}")
        if action == "replace":
            meter.replace()
        elif action == "fault":
            modes = [m.value for m in FaultMode]
            mode = body.get("mode") if isinstance(body, dict) else None
            if mode not in modes:
                raise ControlError(400, f"mode: {mode!r} is not one of {', '.join(modes)}")
            meter.fault = FaultMode(mode)
        elif action == "counter":
            self._set_counter(meter, body)
        else:
            raise ControlError(404, f"no action {action!r} (fault, replace, counter)")
        return {"address": address, "fault": str(meter.fault), "replacements": meter.replacements}

    @staticmethod
    def _set_counter(meter: SimMeter, body: Any) -> None:
        if not isinstance(body, dict):
            raise ControlError(400, "the body must be a JSON object")
        key, value = body.get("key"), body.get("value")
        if not isinstance(key, str) or key not in meter.quantities:
            raise ControlError(400, f"key: {key!r} is not a counter of this meter")
        if not meter.quantities[key].cumulative:
            raise ControlError(400, f"key: {key!r} is not a counter of this meter")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ControlError(400, f"value: {value!r} is not a non-negative number")
        meter.set_counter(key, float(value))


class _Handler(BaseHTTPRequestHandler):
    control: PlantControl

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator's console is for the plant, not for every request."""

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/meters":
            self._answer(200, self.control.listing())
        else:
            self._answer(404, {"error": f"no such resource {self.path}"})

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "meters":
            self._answer(404, {"error": f"no such resource {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._answer(400, {"error": f"body must be at most {MAX_BODY} bytes of JSON"})
            return
        try:
            raw = self.rfile.read(length) if length else b"{}"
            body = json.loads(raw)
            self._answer(200, self.control.act(parts[1], parts[2], body))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            self._answer(400, {"error": "the body is not JSON"})
        except ControlError as exc:
            self._answer(exc.status, {"error": str(exc)})
