"""Running the real agent against simulated meters, private brokers and simulated data centres."""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ems_edge.agent import Agent
from ems_edge.config import AgentConfig, parse_config
from ems_edge.simulators.datacentre import SimDataCentre
from ems_edge.simulators.plant import Plant

from .brokers import Mosquitto

GATEWAY = "gw-test-01"
GATEWAY_KEY = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
#: A data centre public key for configurations that are only parsed, never connected.
ANY_DC_KEY = "gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q="


def b64_public(key: Ed25519PrivateKey) -> str:
    """The base64 raw public key, as the configuration wants it."""
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


@dataclass
class Centre:
    """A data centre: its broker, its (simulated) ingest and its key."""

    name: str
    broker: Mosquitto
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    ingest: SimDataCentre | None = None

    def entry(self, **extra: Any) -> dict[str, Any]:
        """The data centre's entry in the agent configuration."""
        return {
            "name": self.name,
            "host": "127.0.0.1",
            "port": self.broker.port,
            "key": b64_public(self.key),
            **extra,
        }

    def start_ingest(self, **login: Any) -> SimDataCentre:
        """Start the simulated ingest on this centre's broker."""
        self.ingest = SimDataCentre(
            self.name,
            "127.0.0.1",
            self.broker.port,
            {GATEWAY: GATEWAY_KEY.public_key()},
            self.key,
            **login,
        )
        self.ingest.start()
        return self.ingest


def agent_config(
    plant: Plant,
    centres: list[dict[str, Any]],
    state_dir: Path,
    interval: str = "1s",
    **gateway: Any,
) -> AgentConfig:
    """A validated configuration polling ``plant`` and publishing to ``centres``."""
    text = plant.config(
        GATEWAY,
        GATEWAY_KEY.private_bytes_raw(),
        centres,
        state_dir,
        interval,
        status_port=0,
        **gateway,
    )
    return parse_config(text, "test config", state_dir)


@contextlib.contextmanager
def running(
    config: AgentConfig, config_path: Path | None = None, **options: Any
) -> Iterator[Agent]:
    """The agent running (housekeeping on a thread, as ``run`` does on the main thread)."""
    agent = Agent(config, config_path, **options)
    agent.start()
    stop = threading.Event()

    def housekeeping() -> None:
        while not stop.is_set():
            agent.housekeeping()
            stop.wait(0.2)

    thread = threading.Thread(target=housekeeping, daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        stop.set()
        thread.join(timeout=10)
        agent.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail the test with ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
