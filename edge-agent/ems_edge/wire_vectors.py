"""The shared test vectors of the wire contract: ``openapi/edge-wire-vectors.json``.

Run ``python -m ems_edge.wire_vectors --out openapi/edge-wire-vectors.json`` after
any change to :mod:`ems_edge.wire`. The output is deterministic: fixed Ed25519
seeds, fixed timestamps, and Ed25519 signatures are deterministic (RFC 8032).
Each valid vector holds the payload and its decoded content (:func:`as_plain`);
:func:`build` turns that content back into the object to encode. Each invalid
vector holds a well-signed (unless the signature is the point) payload that
decoders must refuse with a :class:`~ems_edge.wire.WireError` containing ``error``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ems_edge import wire

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
GATEWAY = "gw-plant-01"
CONFIG = "3f2a9c0d1e7b4a65"
COMMAND_ID = "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b"


def seed(name: str) -> bytes:
    """The fixed Ed25519 seed of one of the vectors' keys ("gateway", "cloud", "other")."""
    return hashlib.sha256(f"ems edge-wire test vectors: {name}".encode()).digest()


def private_key(name: str) -> Ed25519PrivateKey:
    """The fixed private key of ``name``."""
    return Ed25519PrivateKey.from_private_bytes(seed(name))


def as_plain(value: Any) -> Any:
    """A decoded payload as JSON data: dataclasses as objects, tuples as lists, enums as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [as_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: as_plain(item) for key, item in value.items()}
    return value


def build(kind: str, plain: dict[str, Any]) -> Any:
    """The payload object of ``kind`` from its plain form (the inverse of :func:`as_plain`)."""
    if kind == "ack":
        return wire.Ack(**(plain | {"ranges": tuple(tuple(r) for r in plain["ranges"])}))
    if kind == "events":
        events = tuple(
            wire.Event(**(e | {"kind": wire.EventKind(e["kind"])})) for e in plain["events"]
        )
        return wire.Events(**(plain | {"events": events}))
    if kind == "completeness":
        points = {p: wire.PointLedger(**entry) for p, entry in plain["points"].items()}
        return wire.Completeness(**(plain | {"points": points}))
    if kind == "status":
        return wire.Status(**(plain | {"state": wire.GatewayState(plain["state"])}))
    return {"command": wire.Command, "reply": wire.Reply}[kind](**plain)


ENCODERS: dict[str, Callable[[Any, Ed25519PrivateKey], bytes]] = {
    "ack": wire.encode_ack,
    "events": wire.encode_events,
    "completeness": wire.encode_completeness,
    "command": wire.encode_command,
    "reply": wire.encode_reply,
    "status": wire.encode_status,
}
DECODERS: dict[str, Callable[[bytes, Ed25519PublicKey], Any]] = {
    "readings": wire.decode_batch,
    "ack": wire.decode_ack,
    "events": wire.decode_events,
    "completeness": wire.decode_completeness,
    "command": wire.decode_command,
    "reply": wire.decode_reply,
    "status": wire.decode_status,
}
#: Who signs each kind: the data centre or cloud signs what goes to the agent.
SIGNERS = {"readings": "gateway", "ack": "cloud", "command": "cloud"}


def signer(kind: str) -> str:
    """The key name that signs payloads of ``kind``."""
    return SIGNERS.get(kind, "gateway")


def readings_rows() -> dict[str, tuple[list[tuple[int, str, int, float]], bool]]:
    """The rows of each readings vector, and whether it is encoded with compression on."""
    backlog = [
        (5000 + i, f"M{i % 6}.energy", T0 - 86_400_000 + (i // 6) * 900_000, 1000 + i * 0.25)
        for i in range(120)
    ]
    top = 2**64 - 1  # the largest seq, reached through the largest delta (2**32 - 1)
    edges = [
        (top - 2**32 - 2, "泵房.电表-1", 0, -0.0),
        (top - 2**32 - 1, "x", 2**63 - 1, 5e-324),
        (top - 2, "泵房.电表-1", 1, -1.7976931348623157e308),
        (top, "p" * 64, T0, 123456789.125),
    ]
    small = [
        (100, "M1.energy", T0 - 60_000, 1234.5),
        (101, "M1.power", T0 - 60_000, 17.25),
        (103, "M1.energy", T0, 1234.75),
    ]
    return {
        "readings-small": (small, False),
        "readings-one-row": ([(1, "M1.energy", T0, 0.5)], True),
        "readings-edge-values": (edges, False),
        "readings-backlog-zlib": (backlog, True),
    }


def message_objects() -> dict[str, tuple[str, Any]]:
    """The kind and object of each JSON vector."""
    ledger = wire.DigestAccumulator()
    for i in range(96):
        ledger.add(T0 + i * 900_000, 1000 + i * 0.5)
    fault = wire.EventKind.COMMUNICATION_FAULT
    events = (
        wire.Event(T0, fault, "no answer in 1.0 s", "bus-1", "M1", "M1.energy"),
        wire.Event(T0 + 5, wire.EventKind.BUFFER_HIGH, "buffer 80 % full (12 days)"),
    )
    points = {
        "M1.energy": wire.PointLedger(ledger.count, 0, ledger.hexdigest()),
        "泵房.电表-1": wire.PointLedger(0, 24, "0000000000000000"),
    }
    config = {"text": "gateway:\n  id: gw-plant-01\n"}
    other_id = "00000000-0000-4000-8000-000000000001"
    info = {"version": "0.1.0", "buffered": 1234, "config_version": CONFIG}
    ranges = ((1, 5), (7, 7), (2**64 - 2, 2**64 - 1))
    return {
        "ack-one-range": ("ack", wire.Ack(GATEWAY, "dc-east", ((100, 103),), T0 + 1500)),
        "ack-ranges": ("ack", wire.Ack(GATEWAY, "dc-west", ranges, T0)),
        "events": ("events", wire.Events(GATEWAY, events, 7)),
        "completeness": ("completeness", wire.Completeness(GATEWAY, "2026-01-01", T0, points)),
        "command-push-config": (
            "command",
            wire.Command(GATEWAY, COMMAND_ID, "push_config", config, T0, T0 + 300_000),
        ),
        "command-collect-now": (
            "command",
            wire.Command(GATEWAY, other_id, "collect_now", {}, T0, T0 + 60_000),
        ),
        "reply-ok": ("reply", wire.Reply(GATEWAY, COMMAND_ID, True, T0 + 2000, {"applied": 1})),
        "reply-error": (
            "reply",
            wire.Reply(GATEWAY, COMMAND_ID, False, T0 + 2000, None, "line 3: bad key"),
        ),
        "status-online": ("status", wire.Status(GATEWAY, wire.GatewayState.ONLINE, T0, info)),
        "status-offline-will": ("status", wire.Status(GATEWAY, wire.GatewayState.OFFLINE, T0, {})),
    }


def valid_vectors() -> list[dict[str, Any]]:
    """Every valid vector: name, kind, signer, encode options, payload and decoded content."""
    vectors = []
    for name, (rows, compress) in readings_rows().items():
        payload = wire.encode_batch(GATEWAY, CONFIG, rows, T0, private_key("gateway"), compress)
        decoded = as_plain(wire.decode_batch(payload, private_key("gateway").public_key()))
        vectors.append(_vector(name, "readings", payload, decoded, {"compress": compress}))
    for name, (kind, obj) in message_objects().items():
        payload = ENCODERS[kind](obj, private_key(signer(kind)))
        vectors.append(_vector(name, kind, payload, as_plain(obj), None))
    return vectors


def _vector(name: str, kind: str, payload: bytes, decoded: Any, encode: Any) -> dict[str, Any]:
    vector = {"name": name, "kind": kind, "signer": signer(kind), "payload_hex": payload.hex()}
    if kind != "readings":
        vector["payload_text"] = payload.decode("utf-8")
    return vector | ({"encode": encode} if encode else {}) | {"decoded": decoded}


def _resign(payload: bytes, change: Callable[[bytearray], None]) -> bytes:
    """An uncompressed batch with ``change`` applied to its signed part, signed again."""
    signed = bytearray(payload[:-64])
    change(signed)
    return bytes(signed) + private_key("gateway").sign(bytes(signed))


def invalid_vectors() -> list[dict[str, Any]]:
    """Payloads every decoder must refuse, with a fragment of the expected error."""
    small = bytes.fromhex(
        next(v for v in valid_vectors() if v["name"] == "readings-small")["payload_hex"]
    )
    # readings-small: values are the 24 bytes before the signature, preceded by 24 of ts,
    # 6 of point index and 8 of seq deltas (so the delta of row 1 starts at end - 62).
    end = len(small) - 64
    gateway, cloud = private_key("gateway"), private_key("cloud")
    other = wire.encode_batch(GATEWAY, CONFIG, [(1, "a", 1, 1.0)], T0, private_key("other"))
    nan = b"\x00\x00\x00\x00\x00\x00\xf8\x7f"
    bad_kind = {"at_ms": T0, "kind": "meltdown", "reason": "?"}
    events = {"v": 1, "type": "events", "gateway": GATEWAY, "events": [bad_kind]}
    status = {"v": 2, "type": "status", "gateway": GATEWAY, "state": "online", "at_ms": T0}
    reply = {"v": 1, "type": "reply", "gateway": GATEWAY, "id": COMMAND_ID, "ok": True}
    reply |= {"at_ms": T0, "result": None, "error": "x"}
    cases: list[tuple[str, str, bytes, str]] = [
        ("readings-bad-signature", "readings", small[:-1] + bytes([small[-1] ^ 1]), "signature"),
        ("readings-tampered-value", "readings", small[: end - 1] + b"A" + small[end:], "signature"),
        ("readings-other-key", "readings", other, "bad signature"),
        ("readings-truncated", "readings", small[:40], "too short"),
        ("readings-nan", "readings", _resign(small, _patch(end - 16, nan)), "row 1: value nan"),
        ("readings-seq-repeats", "readings", _resign(small, _patch(end - 62, b"\0")), "row 1: seq"),
        ("readings-version-2", "readings", _resign(small, _patch(4, b"\2")), "format version 2"),
        ("ack-touching-ranges", "ack", wire.seal(_ack_body([[1, 5], [6, 9]]), cloud), "ranges[1]"),
        ("ack-as-command", "command", wire.seal(_ack_body([[1, 5]]), cloud), "command.type"),
        ("events-unknown-kind", "events", wire.seal(events, gateway), "events.events[0].kind"),
        ("status-version-2", "status", wire.seal(status | {"info": {}}, gateway), "status.v"),
        ("reply-ok-with-error", "reply", wire.seal(reply, gateway), "reply.error"),
    ]
    return [
        {
            "name": name,
            "kind": kind,
            "signer": signer(kind),
            "payload_hex": payload.hex(),
            "error": error,
        }
        for name, kind, payload, error in cases
    ]


def _patch(offset: int, data: bytes) -> Callable[[bytearray], None]:
    def change(signed: bytearray) -> None:
        signed[offset : offset + len(data)] = data

    return change


def _ack_body(ranges: list[list[int]]) -> dict[str, Any]:
    body = {"v": 1, "type": "ack", "gateway": GATEWAY, "dc": "dc-east", "ranges": ranges}
    return body | {"committed_at_ms": T0}


def build_vectors() -> dict[str, Any]:
    """The whole vectors document."""
    now = T0
    fresh = [
        (now - wire.READINGS_MAX_AGE_MS, True),
        (now - wire.READINGS_MAX_AGE_MS - 1, False),
        (now + wire.MAX_CLOCK_AHEAD_MS, True),
        (now + wire.MAX_CLOCK_AHEAD_MS + 1, False),
    ]
    samples = [(T0, 1234.5), (T0 + 900_000, -0.0), (0, 0.0), (T0, 1e-300)]
    channels = [(c, "dc-east" if c is wire.Channel.ACK else None) for c in wire.Channel]
    return {
        "about": "Shared test vectors of the EMS edge wire contract (openapi/edge-wire.md).",
        "generator": "python -m ems_edge.wire_vectors --out openapi/edge-wire-vectors.json",
        "keys": {
            name: {"seed_hex": seed(name).hex(), "public_hex": _public_hex(name)}
            for name in ("gateway", "cloud", "other")
        },
        "topics": [
            {
                "gateway": GATEWAY,
                "channel": c.value,
                "dc": dc,
                "topic": wire.topic(GATEWAY, c, dc),
                "qos": wire.QOS,
                "retain": c.retained,
            }
            for c, dc in channels
        ],
        "reading_digests": [
            {"ts_ms": ts, "value": v, "digest": f"{wire.reading_digest(ts, v):016x}"}
            for ts, v in samples
        ],
        "freshness": [{"sent_at_ms": s, "now_ms": now, "fresh": ok} for s, ok in fresh],
        "valid": valid_vectors(),
        "invalid": invalid_vectors(),
    }


def _public_hex(name: str) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private_key(name).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def render(document: dict[str, Any]) -> str:
    """The vectors file's text (stable: indented, keys in insertion order, UTF-8)."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the vectors to ``--out`` (default: standard output)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = render(build_vectors())
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
