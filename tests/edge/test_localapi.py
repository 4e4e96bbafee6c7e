"""The agent's local HTTP interface: GET /status and POST /manual, over a real socket.

The agent runs for real: one manual bus (coal weighed once a shift), one DL/T 645
bus whose serial server is not there, and one data centre nobody listens for
(the publisher keeps retrying in the background, which is what it does on site).
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ems_edge.agent import Agent
from ems_edge.config import parse_config
from ems_edge.localapi import MAX_BODY

from .harness import ANY_DC_KEY, GATEWAY_KEY

BEIJING = timezone(timedelta(hours=8))
MANUAL_POINT = "COAL.in"
POLLED_POINT = "EM1.ep"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound by the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def config_text(state_dir: Path, port: int) -> str:
    """A gateway with one manual point and one polled point, publishing to nobody."""
    signing_key = base64.b64encode(GATEWAY_KEY.private_bytes_raw()).decode()
    return f"""\
gateway:
  id: gw-test-01
  signing_key: {signing_key}
  state_dir: {state_dir}
  status_port: 0
data_centres:
  - name: dc1
    host: 127.0.0.1
    port: {port}
    key: {ANY_DC_KEY}
buses:
  - name: yard
    kind: manual
    meters:
      - id: COAL
        points:
          - id: {MANUAL_POINT}
            energy_type: coal
            kind: cumulative
            unit: t
            interval: 8h
  - name: rs485-1
    kind: dlt645-tcp
    host: 127.0.0.1
    port: {port}
    timeout: 200ms
    retries: 0
    meters:
      - id: EM1
        address: "000000000001"
        points:
          - id: {POLLED_POINT}
            energy_type: electricity
            kind: cumulative
            unit: kWh
            interval: 15min
            di: "00010000"
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """The agent, started once for the module (stopping takes a second); always stopped."""
    tmp_path = tmp_path_factory.mktemp("agent")
    config = parse_config(config_text(tmp_path / "state", closed_port()), "test config", tmp_path)
    running = Agent(config)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def request(
    agent: Agent, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    """Send one request with urllib; the status and the JSON answer."""
    url = f"http://127.0.0.1:{agent.local_api.port}{path}"
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        # S310: the URL is always http://127.0.0.1:<port>, built just above.
        with urllib.request.urlopen(req, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError) as exc:
        pytest.fail(f"{method} {path}: the server did not answer: {exc!r}")


def post_manual(agent: Agent, body: Any) -> tuple[int, dict[str, Any]]:
    """POST /manual with ``body`` as JSON (bytes are sent as they are)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(agent, "POST", "/manual", raw)


def stored(agent: Agent) -> list[tuple[int, str, int, float]]:
    """Every reading of the manual point in the buffer."""
    return [r for r in agent.buffer.read(0, 10_000) if r[1] == MANUAL_POINT]


def iso(at: float) -> str:
    """``at`` (epoch seconds) as ISO 8601 in Beijing time."""
    return datetime.fromtimestamp(at, BEIJING).isoformat()


# -- good values ---------------------------------------------------------------------------


def test_manual_value_is_stored_now(agent: Agent) -> None:
    before = int(agent.clock() * 1000)
    status, answer = post_manual(agent, {"point": MANUAL_POINT, "value": 12.5})
    after = int(agent.clock() * 1000)
    assert status == 200
    assert answer["point"] == MANUAL_POINT
    seq = answer["seq"]
    assert isinstance(seq, int) and seq >= 1
    ((got_seq, point, ts_ms, value),) = agent.buffer.read(seq, 1)
    assert (got_seq, point, value) == (seq, MANUAL_POINT, 12.5)
    assert before <= ts_ms <= after
    (row,) = [
        r
        for r in agent.buffer.ledger(datetime.fromtimestamp(ts_ms / 1000, UTC).date().isoformat())
        if r.point_id == MANUAL_POINT
    ]
    assert row.count == 1


def test_manual_value_at_a_time_with_offset(agent: Agent) -> None:
    two_hours_ago = math.floor(agent.clock()) - 7200
    written = iso(two_hours_ago + 0.25)
    assert written.endswith(".250000+08:00")
    status, answer = post_manual(agent, {"point": MANUAL_POINT, "value": 3, "at": written})
    assert status == 200, answer
    expected = (answer["seq"], MANUAL_POINT, two_hours_ago * 1000 + 250, 3.0)
    assert agent.buffer.read(answer["seq"], 1) == [expected]


def test_manual_value_at_a_utc_time_written_with_z(agent: Agent) -> None:
    at = math.floor(agent.clock()) - 86400 * 14
    written = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, answer = post_manual(agent, {"point": MANUAL_POINT, "value": 1e6, "at": written})
    assert status == 200, answer
    assert agent.buffer.read(answer["seq"], 1)[0][2:] == (at * 1000, 1e6)


def test_successive_values_get_successive_sequence_numbers(agent: Agent) -> None:
    before = stored(agent)
    first = post_manual(agent, {"point": MANUAL_POINT, "value": 1})[1]["seq"]
    second = post_manual(agent, {"point": MANUAL_POINT, "value": 2, "at": None})[1]["seq"]
    assert second == first + 1
    assert [r[3] for r in stored(agent)] == [r[3] for r in before] + [1.0, 2.0]


# -- bad values ----------------------------------------------------------------------------


def good(**change: Any) -> dict[str, Any]:
    """A valid body with ``change`` applied."""
    return {"point": MANUAL_POINT, "value": 12.5, **change}


BAD_BODIES: list[tuple[str, Any, str]] = [
    # (case, body (bytes are sent raw), words the error must contain)
    ("not JSON", b"{point: COAL.in}", "not JSON"),
    ("truncated JSON", b'{"point": "COAL.in", "value": 1', "not JSON"),
    ("not an object", [MANUAL_POINT, 12.5], "body must be a JSON object"),
    ("a bare number", 12.5, "body must be a JSON object"),
    ("no point", {"value": 1}, "point:"),
    ("unknown point", good(point="NOPE.x"), "point: 'NOPE.x'"),
    ("polled point", good(point=POLLED_POINT), f"point: '{POLLED_POINT}'"),
    ("point not a string", good(point=["COAL.in"]), "point:"),
    ("no value", {"point": MANUAL_POINT}, "value:"),
    ("value null", good(value=None), "value:"),
    ("value a string", good(value="12.5"), "value: '12.5'"),
    ("value true", good(value=True), "value: True"),
    ("value false", good(value=False), "value: False"),
    ("value a list", good(value=[1]), "value:"),
    ("value NaN", b'{"point": "COAL.in", "value": NaN}', "value: nan"),
    ("value Infinity", b'{"point": "COAL.in", "value": Infinity}', "value: inf"),
    ("value -Infinity", b'{"point": "COAL.in", "value": -Infinity}', "value: -inf"),
    ("value too large", b'{"point": "COAL.in", "value": 1e400}', "value: inf"),
    ("at naive", good(at="2026-11-21T08:00:00"), "at: needs a UTC offset"),
    ("at garbage", good(at="yesterday"), "at: 'yesterday'"),
    ("at a number", good(at=1_795_000_000), "at: 1795000000"),
    ("at in the future", "future", "at: lies in the future"),
    ("at too old", "old", "at: older than the buffer keeps"),
    ("unknown field", good(note="shift 2"), "note"),
]


@pytest.mark.parametrize(("case", "body", "words"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_manual_value_is_refused_naming_the_field(
    agent: Agent, case: str, body: Any, words: str
) -> None:
    if body == "future":
        body = good(at=iso(agent.clock() + 3600))
    elif body == "old":
        body = good(at=iso(agent.clock() - 16 * 86400))
    before = stored(agent)
    status, answer = post_manual(agent, body)
    assert status == 400, f"{case}: {answer}"
    assert words in answer["error"], answer
    assert stored(agent) == before


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("empty", b""),
        ("one byte too many", b" " * (MAX_BODY - 1) + b"{}"),
    ],
)
def test_body_outside_the_size_limit_is_refused(agent: Agent, case: str, body: bytes) -> None:
    before = stored(agent)
    status, answer = post_manual(agent, body)
    assert status == 400, case
    assert f"body must be 1 to {MAX_BODY} bytes" in answer["error"]
    assert stored(agent) == before


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("not UTF-8", b'{"point": "COAL.in", "value": 1, "at": "\xb6\xd6"}'),
        ("a lone continuation byte", b"\x80"),
        ("nested too deep", b"[" * 50_000),
    ],
)
def test_malformed_body_is_answered_400(agent: Agent, case: str, body: bytes) -> None:
    before = stored(agent)
    status, answer = post_manual(agent, body)
    assert status == 400, case
    assert "not JSON" in answer["error"]
    assert stored(agent) == before


@pytest.mark.parametrize("length", ["abc", "-1", "1.5"])
def test_bad_content_length_is_answered_400(agent: Agent, length: str) -> None:
    before = stored(agent)
    conn = http.client.HTTPConnection("127.0.0.1", agent.local_api.port, timeout=5)
    try:
        conn.putrequest("POST", "/manual")
        conn.putheader("Content-Length", length)
        conn.endheaders(b"{}")
        try:
            response = conn.getresponse()
        except (http.client.HTTPException, ConnectionError) as exc:
            pytest.fail(f"Content-Length {length!r}: the server did not answer: {exc!r}")
        assert response.status == 400
        assert "error" in json.loads(response.read())
    finally:
        conn.close()
    assert stored(agent) == before


# -- status and unknown paths --------------------------------------------------------------


def test_status_reports_buffer_and_data_centres(agent: Agent) -> None:
    post_manual(agent, good())
    status, answer = request(agent, "GET", "/status")
    assert status == 200
    assert answer["gateway"] == "gw-test-01"
    assert answer["config_version"] == agent.config.version
    buffer = answer["buffer"]
    # 3 manual entries and 96 polls a day, for 15 days
    assert buffer["capacity"] == (3 + 96) * 15
    assert buffer["last_seq"] == agent.buffer.last_seq >= 1
    assert buffer["depth"] == agent.buffer.depth()
    (centre,) = answer["data_centres"].items()
    assert centre[0] == "dc1"
    assert centre[1]["connected"] is False
    assert centre[1]["pending"] == agent.buffer.depth()
    assert "rs485-1" in answer["buses"] and "yard" not in answer["buses"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("GET", "/manual"), ("POST", "/status"), ("POST", "/manual/extra")],
)
def test_unknown_resource_is_404(agent: Agent, method: str, path: str) -> None:
    body = json.dumps(good()).encode() if method == "POST" else None
    before = stored(agent)
    status, answer = request(agent, method, path, body)
    assert status == 404
    assert path in answer["error"]
    assert stored(agent) == before


def test_the_port_is_released_on_stop(tmp_path: Path) -> None:
    config = parse_config(config_text(tmp_path / "state", closed_port()), "test config", tmp_path)
    running = Agent(config)
    running.start()
    port = running.local_api.port
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 5
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
