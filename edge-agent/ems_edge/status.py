"""``ems-edge status``: what the running agent last wrote, plus the buffer itself.

Buffer depth per data centre is read from the buffer file directly, so it is
right even when the agent is stopped or stuck; bus and fault details come
from ``status.json``, which the agent rewrites every second.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ems_edge.buffer import Buffer
from ems_edge.config import load_config


def collect(config_path: Path) -> dict[str, Any]:
    """The status document: the agent's last snapshot with buffer figures read fresh."""
    config = load_config(config_path)
    state_dir = config.gateway.state_dir
    snapshot: dict[str, Any] = {}
    status_file = state_dir / "status.json"
    if status_file.exists():
        snapshot = json.loads(status_file.read_text(encoding="utf-8"))
        snapshot["snapshot_age_s"] = round(time.time() - status_file.stat().st_mtime, 1)
    names = [dc.name for dc in config.data_centres]
    buffer_path = state_dir / "buffer.db"
    if buffer_path.exists():
        buffer = Buffer(buffer_path, 0, names)
        try:
            snapshot.setdefault("buffer", {})["depth"] = buffer.depth()
            centres = snapshot.setdefault("data_centres", {})
            for name in names:
                centres.setdefault(name, {})["pending"] = buffer.pending(name)
        finally:
            buffer.close()
    return snapshot


def show(config_path: Path, *, as_json: bool = False) -> int:
    """Print the status for people (or as JSON); exit status 1 if a fault is active."""
    status = collect(config_path)
    if as_json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
    else:
        for line in render(status):
            print(line)
    faults = any(bus.get("faults") for bus in status.get("buses", {}).values())
    return 1 if faults else 0


def render(status: dict[str, Any]) -> list[str]:
    """Status as lines of text."""
    lines = [f"gateway {status.get('gateway', '?')}  config {status.get('config_version', '?')}"]
    if "snapshot_age_s" in status:
        lines.append(f"  agent snapshot {status['snapshot_age_s']} s old")
    buffer = status.get("buffer", {})
    lines.append(
        f"buffer: {buffer.get('depth', 0)} readings held (capacity {buffer.get('capacity', '?')})"
    )
    for name, centre in status.get("data_centres", {}).items():
        state = "connected" if centre.get("connected") else "not connected"
        lines.append(
            f"  data centre {name}: {centre.get('pending', '?')} pending, {state},"
            f" last ack {centre.get('last_ack_at') or 'never'}"
        )
    for name, bus in status.get("buses", {}).items():
        lines.append(
            f"bus {name}: last poll {bus.get('last_poll_at') or 'never'},"
            f" last good {bus.get('last_ok_at') or 'never'}"
        )
        for point, fault in sorted(bus.get("faults", {}).items()):
            lines.append(f"  fault {point}: {fault}")
    return lines
