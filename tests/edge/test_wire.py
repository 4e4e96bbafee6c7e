"""The wire contract: shared vectors, round trips, fuzzing, signatures and replay rules."""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems_edge import wire
from ems_edge import wire_vectors as wv
from ems_edge.errors import CodecError

VECTORS_FILE = Path(__file__).resolve().parents[2] / "openapi" / "edge-wire-vectors.json"
VECTORS = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VALID = {v["name"]: v for v in VECTORS["valid"]}
INVALID = {v["name"]: v for v in VECTORS["invalid"]}
GATEWAY_KEY, CLOUD_KEY, OTHER_KEY = (wv.private_key(n) for n in ("gateway", "cloud", "other"))
KEYS = {"gateway": GATEWAY_KEY, "cloud": CLOUD_KEY}
T0 = wv.T0
FUZZ = settings(max_examples=300, deadline=None)


def payload_of(vector: dict[str, Any]) -> bytes:
    return bytes.fromhex(vector["payload_hex"])


def decode(kind: str, payload: bytes, signer: str | None = None) -> Any:
    key = KEYS[signer or wv.signer(kind)].public_key()
    return wv.DECODERS[kind](payload, key)


def refuses(kind: str, payload: bytes, signer: str | None = None) -> wire.WireError:
    """Decode ``payload``; it must fail with a WireError, and quickly."""
    start = time.perf_counter()
    with pytest.raises(wire.WireError) as caught:
        decode(kind, payload, signer)
    assert time.perf_counter() - start < 2.0
    return caught.value


# --- (a, b) shared vectors ------------------------------------------------------------------


def test_vectors_file_is_what_the_generator_writes() -> None:
    assert VECTORS_FILE.read_text(encoding="utf-8") == wv.render(wv.build_vectors())


def test_vector_keys_derive_from_their_seeds() -> None:
    for name, key in VECTORS["keys"].items():
        assert wv.seed(name).hex() == key["seed_hex"]
        assert wv._public_hex(name) == key["public_hex"]


@pytest.mark.parametrize("name", VALID)
def test_valid_vector_decodes_to_its_content(name: str) -> None:
    vector = VALID[name]
    assert wv.as_plain(decode(vector["kind"], payload_of(vector))) == vector["decoded"]
    if "payload_text" in vector:
        assert payload_of(vector).decode("utf-8") == vector["payload_text"]


@pytest.mark.parametrize("name", VALID)
def test_valid_vector_encodes_to_the_same_bytes(name: str) -> None:
    vector, content = VALID[name], VALID[name]["decoded"]
    key = KEYS[vector["signer"]]
    if vector["kind"] == "readings":
        columns = (content["seqs"], content["point_ids"], content["ts_ms"], content["values"])
        rows = list(zip(*columns, strict=True))
        args = (content["gateway_id"], content["config_version"], rows, content["sent_at_ms"])
        payload = wire.encode_batch(*args, key, **vector["encode"])
    else:
        payload = wv.ENCODERS[vector["kind"]](wv.build(vector["kind"], content), key)
    assert payload.hex() == vector["payload_hex"]


@pytest.mark.parametrize("name", INVALID)
def test_invalid_vector_is_refused_with_its_reason(name: str) -> None:
    vector = INVALID[name]
    error = refuses(vector["kind"], payload_of(vector), vector["signer"])
    assert vector["error"] in str(error)


def test_small_batch_layout_byte_by_byte() -> None:
    payload = payload_of(VALID["readings-small"])
    assert payload[:7] == b"EMSR\x01\x00\x0b" and payload[7:18] == b"gw-plant-01"
    assert payload[18] == 16 and payload[19:35] == b"3f2a9c0d1e7b4a65"
    sent, first, count, points, table = struct.unpack_from("<QQIHI", payload, 35)
    assert (sent, first, count, points, table) == (T0, 100, 3, 2, 18)
    body = payload[61:-64]
    assert body[:18] == b"M1.energy\0M1.power"
    assert struct.unpack("<2I3H3q3d", body[18:]) == (
        *(1, 2),
        *(0, 1, 0),
        *(T0 - 60_000, 0, 60_000),
        *(1234.5, 17.25, 1234.75),
    )


def test_compressed_vector_sets_the_flag_and_is_smaller() -> None:
    payload = payload_of(VALID["readings-backlog-zlib"])
    assert payload[5] == 0x01
    rows = wire.decode_batch(payload, GATEWAY_KEY.public_key()).rows()
    plain = wire.encode_batch("gw-plant-01", "3f2a9c0d1e7b4a65", rows, T0, GATEWAY_KEY, False)
    assert plain[5] == 0x00 and len(payload) < len(plain) // 3


@pytest.mark.parametrize("entry", VECTORS["topics"], ids=lambda e: e["topic"])
def test_topic_vectors(entry: dict[str, Any]) -> None:
    channel = wire.Channel(entry["channel"])
    assert wire.topic(entry["gateway"], channel, entry["dc"]) == entry["topic"]
    assert wire.parse_topic(entry["topic"]) == (entry["gateway"], channel, entry["dc"])
    assert (wire.QOS, channel.retained) == (entry["qos"], entry["retain"])


@pytest.mark.parametrize(
    "topic",
    [
        "ems/v1/gw/gw/readings",  # gateway id too short
        "ems/v1/gw/GW-001/readings",
        "ems/v2/gw/gw-001/readings",
        "ems/v1/gw/gw-001/ack",
        "ems/v1/gw/gw-001/readings/dc-east",
        "ems/v1/gw/gw-001/ack/dc+east",
        "ems/v1/gw/gw-001/telemetry",
        "ems/v1/gw/gw-001",
        "ems/v1/gw/gw-001/ack/dc-east/x",
        "",
    ],
)
def test_parse_topic_refuses_anything_else(topic: str) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_topic(topic)


def test_subscriptions_cover_every_gateway() -> None:
    assert wire.subscription(wire.Channel.READINGS) == "ems/v1/gw/+/readings"
    assert wire.subscription(wire.Channel.ACK) == "ems/v1/gw/+/ack/+"


@pytest.mark.parametrize("entry", VECTORS["reading_digests"], ids=str)
def test_reading_digest_vectors(entry: dict[str, Any]) -> None:
    assert f"{wire.reading_digest(entry['ts_ms'], entry['value']):016x}" == entry["digest"]


# --- (c) round trips ------------------------------------------------------------------------

gateway_ids = st.from_regex(wire.GATEWAY_ID, fullmatch=True)
point_ids = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=16)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | finite | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
millis = st.integers(0, wire.common.I64 - wire.MAX_COMMAND_TTL_MS)


@st.composite
def batch_rows(draw: st.DrawFn) -> list[tuple[int, str, int, float]]:
    gaps = draw(st.lists(st.just(1) | st.integers(1, 2**32 - 1), max_size=40))
    first = draw(st.integers(0, wire.common.U64 - sum(gaps)))
    seqs = [first]
    for gap in gaps:
        seqs.append(seqs[-1] + gap)
    pool = draw(st.lists(point_ids, min_size=1, max_size=6, unique=True))
    return [
        (seq, draw(st.sampled_from(pool)), draw(st.integers(0, wire.common.I64)), draw(finite))
        for seq in seqs
    ]


def exact(rows: list[tuple[int, str, int, float]]) -> list[tuple[int, str, int, str]]:
    return [(seq, point, ts, value.hex()) for seq, point, ts, value in rows]


@FUZZ
@given(batch_rows(), gateway_ids, st.text(max_size=8), st.integers(0, 2**64 - 1), st.booleans())
def test_batch_round_trip(rows: Any, gateway: str, config: str, sent: int, compress: bool) -> None:
    payload = wire.encode_batch(gateway, config, rows, sent, GATEWAY_KEY, compress)
    batch = wire.decode_batch(payload, GATEWAY_KEY.public_key())
    assert (batch.gateway_id, batch.config_version, batch.sent_at_ms) == (gateway, config, sent)
    assert exact(batch.rows()) == exact(rows)
    assert wire.peek_gateway(payload) == gateway
    assert wire.seq_ranges(batch.seqs) == wire.merge_ranges((s, s) for s in batch.seqs)


ranges = st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 1000)), min_size=1).map(
    lambda pairs: wire.merge_ranges((a, min(a + n, 2**64 - 1)) for a, n in pairs)
)
events = st.builds(
    wire.Event,
    st.integers(0, wire.common.I64),
    st.sampled_from(wire.EventKind),
    st.text(),
    st.none() | st.text(),
    st.none() | st.text(),
    st.none() | point_ids,
)
ledgers = st.builds(
    wire.PointLedger,
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
)
uuids = st.uuids().map(str)


@st.composite
def commands(draw: st.DrawFn) -> wire.Command:
    issued = draw(millis)
    expires = issued + draw(st.integers(1, wire.MAX_COMMAND_TTL_MS))
    name = draw(st.sampled_from(wire.CommandName))
    return wire.Command(draw(gateway_ids), draw(uuids), name, draw(json_objects), issued, expires)


replies = st.builds(
    wire.Reply, gateway_ids, uuids, st.just(True), millis, st.none() | json_objects, st.none()
) | st.builds(
    wire.Reply, gateway_ids, uuids, st.just(False), millis, st.none(), st.text(min_size=1)
)
MESSAGES = {
    "ack": st.builds(
        wire.Ack, gateway_ids, st.from_regex(wire.DC_ID, fullmatch=True), ranges, millis
    ),
    "events": st.builds(
        wire.Events,
        gateway_ids,
        st.lists(events, min_size=1, max_size=4).map(tuple),
        st.none() | st.integers(0, 2**64 - 1),
    ),
    "completeness": st.builds(
        wire.Completeness,
        gateway_ids,
        st.dates().map(str),
        millis,
        st.dictionaries(point_ids, ledgers, max_size=4),
    ),
    "command": commands(),
    "reply": replies,
    "status": st.builds(
        wire.Status, gateway_ids, st.sampled_from(wire.GatewayState), millis, json_objects
    ),
}


@FUZZ
@given(st.data())
@pytest.mark.parametrize("kind", MESSAGES)
def test_message_round_trip(kind: str, data: st.DataObject) -> None:
    message = data.draw(MESSAGES[kind])
    key = KEYS[wv.signer(kind)]
    payload = wv.ENCODERS[kind](message, key)
    assert decode(kind, payload) == message
    assert wv.ENCODERS[kind](wv.build(kind, wv.as_plain(message)), key) == payload
    assert wire.peek_gateway(payload) == message.gateway


# --- (d) fuzzing: only WireError, never a hang ----------------------------------------------

ALL_KINDS = list(wv.DECODERS)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(ALL_KINDS))
def test_random_bytes_raise_wire_error(data: bytes, kind: str) -> None:
    assert isinstance(refuses(kind, data), CodecError)
    refuses(kind, b"EMSR\x01\x00" + data)
    for payload in (data, b"EMSR\x01\x00\x06gw-001" + data):
        try:
            gateway = wire.peek_gateway(payload)
        except wire.WireError:
            continue
        assert wire.GATEWAY_ID.fullmatch(gateway)


@pytest.mark.parametrize("name", VALID)
def test_every_truncation_is_refused(name: str) -> None:
    payload = payload_of(VALID[name])
    for length in range(len(payload)):
        refuses(VALID[name]["kind"], payload[:length])


@FUZZ
@given(st.sampled_from(sorted(VALID)), st.data())
def test_flipped_bits_are_refused(name: str, data: st.DataObject) -> None:
    payload = bytearray(payload_of(VALID[name]))
    bit = data.draw(st.integers(0, len(payload) * 8 - 1))
    payload[bit // 8] ^= 1 << (bit % 8)
    refuses(VALID[name]["kind"], bytes(payload))


@FUZZ
@given(
    st.sampled_from(["readings-small", "readings-edge-values", "readings-backlog-zlib"]),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_resigned_mutations_decode_or_raise_wire_error(name: str, edits: Any) -> None:
    """Past the signature: the parser meets garbage signed with the right key."""
    signed = bytearray(payload_of(VALID[name])[:-64])
    for position, value in edits:
        signed[position % len(signed)] = value
    payload = bytes(signed) + GATEWAY_KEY.sign(bytes(signed))
    try:
        batch = wire.decode_batch(payload, GATEWAY_KEY.public_key())
    except wire.WireError:
        return
    assert len(batch.rows()) == len(batch.seqs) > 0


FIELD_NAMES = st.sampled_from(
    [
        *("gateway", "dc", "ranges", "committed_at_ms", "events", "seq", "day", "at_ms"),
        *("points", "id", "name", "args", "issued_at_ms", "expires_at_ms", "ok", "result"),
        *("error", "state", "info"),
    ]
)


@FUZZ
@given(st.sampled_from(ALL_KINDS[1:]), st.dictionaries(FIELD_NAMES, json_values))
def test_signed_garbage_bodies_raise_wire_error(kind: str, fields: dict[str, Any]) -> None:
    body = {"v": 1, "type": kind} | fields
    payload = wire.seal(body, KEYS[wv.signer(kind)])
    try:
        message = decode(kind, payload)
    except wire.WireError:
        return
    assert message.gateway == body["gateway"]


def test_compressed_bomb_is_refused_quickly() -> None:
    head = b"EMSR\x01\x01\x06gw-001\x00" + struct.pack("<QQIHI", T0, 1, 1, 1, 1)
    signed = head + zlib.compress(b"\0" * 50_000_000, 9)
    error = refuses("readings", signed + GATEWAY_KEY.sign(signed))
    assert "does not end" in str(error)


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 200_000 + b"]" * 200_000,
        b'{"body": {"v": 1, "v": 1}, "sig": ""}',
        b'{"body": {"v": NaN}, "sig": ""}',
        b'{"body": {}, "sig": "not base64!"}',
        b'{"body": [], "sig": ""}',
        b"\xff\xfe{}",
        b" " * (wire.MAX_JSON_BYTES + 1),
    ],
    ids=["deep", "repeated-key", "nan", "sig-not-base64", "body-not-object", "not-utf8", "huge"],
)
def test_hostile_json_is_refused(payload: bytes) -> None:
    refuses("status", payload)


# --- (e) signatures -------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALID)
def test_wrong_key_is_refused(name: str) -> None:
    vector = VALID[name]
    with pytest.raises(wire.WireError, match="signature"):
        wv.DECODERS[vector["kind"]](payload_of(vector), OTHER_KEY.public_key())


@pytest.mark.parametrize("name", [n for n in VALID if VALID[n]["kind"] != "readings"])
def test_edited_json_body_is_refused(name: str) -> None:
    envelope = json.loads(VALID[name]["payload_text"])
    envelope["body"]["gateway"] = "gw-intruder"
    payload = json.dumps(envelope).encode()
    assert "signature" in str(refuses(VALID[name]["kind"], payload))


def test_agent_does_not_accept_a_command_signed_by_a_gateway() -> None:
    payload = payload_of(VALID["command-collect-now"])
    forged = wire.seal(json.loads(payload)["body"], GATEWAY_KEY)
    assert "signature" in str(refuses("command", forged))


# --- field validation names the field -------------------------------------------------------

STATUS = {"v": 1, "type": "status", "gateway": "gw-001", "state": "online", "at_ms": T0, "info": {}}
COMMAND = json.loads(VALID["command-collect-now"]["payload_text"])["body"]
LEDGER = json.loads(VALID["completeness"]["payload_text"])["body"]


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("status", {k: v for k, v in STATUS.items() if k != "at_ms"}, "status.at_ms: expected"),
        ("status", STATUS | {"at_ms": True}, "status.at_ms: expected an integer"),
        ("status", STATUS | {"at_ms": -1}, "status.at_ms: -1 is outside"),
        ("status", STATUS | {"gateway": "GW"}, "status.gateway"),
        ("status", STATUS | {"state": "asleep"}, "status.state"),
        ("status", STATUS | {"info": []}, "status.info: expected an object"),
        ("command", COMMAND | {"id": wv.COMMAND_ID.upper()}, "command.id"),
        ("command", COMMAND | {"expires_at_ms": T0 + 3_600_001}, "command.expires_at_ms"),
        ("command", COMMAND | {"name": "Reboot!"}, "command.name"),
        ("completeness", LEDGER | {"day": "2026-02-30"}, "completeness.day"),
        (
            "completeness",
            LEDGER | {"points": {"M1": {"count": 1, "gaps": 0, "digest": "AB"}}},
            "completeness.points['M1'].digest",
        ),
        ("completeness", LEDGER | {"points": {"": {}}}, "completeness.points['']"),
        ("ack", wv._ack_body([]), "ack.ranges: at least one"),
        ("ack", wv._ack_body([[5, 1]]), "ack.ranges[0]"),
        ("ack", wv._ack_body([[1, 2**64]]), "ack.ranges[0]"),
        ("events", {"v": 1, "type": "events", "gateway": "gw-001", "events": []}, "events.events"),
    ],
)
def test_decoders_name_the_bad_field(kind: str, body: dict[str, Any], message: str) -> None:
    assert message in str(refuses(kind, wire.seal(body, KEYS[wv.signer(kind)])))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "1 to 1000000 rows"),
        ([(1, "a", T0, 1.0), (1, "b", T0, 2.0)], "row 1: seq 1 is outside 2..4294967296"),
        ([(2, "a", T0, 1.0), (1, "b", T0, 2.0)], "row 1: seq"),
        ([(1, "a", T0, 1.0), (2**32 + 1, "a", T0, 2.0)], "row 1: seq"),
        ([(2**64, "a", T0, 1.0)], "row 0: seq"),
        ([(1, "a", T0, float("inf"))], "row 0: value inf"),
        ([(1, "a", T0, 1.0), (2, "b", T0, float("nan"))], "row 1: value nan"),
        ([(1, "a", -1, 1.0)], "row 0: ts_ms -1"),
        ([(1, "a", 2**63, 1.0)], "row 0: ts_ms"),
        ([(1, "a", 1.5, 1.0)], "row 0: ts_ms 1.5"),
        ([(1, "", T0, 1.0)], "row 0: point id"),
        ([(1, "p" * 65, T0, 1.0)], "row 0: point id"),
        ([(1, "a\0b", T0, 1.0)], "row 0: point id"),
        ([(1, "a\nb", T0, 1.0)], "row 0: point id"),
        ([(1, 7, T0, 1.0)], "row 0: point id"),
        ([(1, "a", T0, "1.0")], "row 0: value '1.0'"),
        ([(1, "a", T0)], "row 0: expected a (seq, point_id, ts_ms, value) tuple"),
    ],
)
def test_encode_batch_names_the_bad_row(rows: Any, message: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.encode_batch("gw-001", "c1", rows, T0, GATEWAY_KEY)
    assert message in str(caught.value)


def test_encode_batch_refuses_bad_header_fields() -> None:
    rows = [(1, "a", T0, 1.0)]
    with pytest.raises(wire.WireError, match="gateway id"):
        wire.encode_batch("GW_1", "c", rows, T0, GATEWAY_KEY)
    with pytest.raises(wire.WireError, match="more than 32"):
        wire.encode_batch("gw-001", "c" * 33, rows, T0, GATEWAY_KEY)
    with pytest.raises(wire.WireError, match="sent_at_ms -1"):
        wire.encode_batch("gw-001", "c", rows, -1, GATEWAY_KEY)


def test_encoders_refuse_what_decoders_would() -> None:
    with pytest.raises(wire.WireError, match=r"ack\.ranges"):
        wire.encode_ack(wire.Ack("gw-001", "dc", ((1, 5), (3, 9)), T0), CLOUD_KEY)
    with pytest.raises(wire.WireError, match="unknown command"):
        wire.encode_command(
            wire.Command("gw-001", COMMAND["id"], "reboot", {}, T0, T0 + 1), CLOUD_KEY
        )
    with pytest.raises(wire.WireError, match=r"reply\.error"):
        wire.encode_reply(wire.Reply("gw-001", COMMAND["id"], False, T0), GATEWAY_KEY)
    with pytest.raises(wire.WireError, match="cannot encode as JSON"):
        wire.encode_status(
            wire.Status("gw-001", wire.GatewayState.ONLINE, T0, {"x": {1, 2}}), GATEWAY_KEY
        )


def test_agent_decodes_a_command_it_does_not_know_so_it_can_answer() -> None:
    body = COMMAND | {"name": "rotate_keys"}
    assert decode("command", wire.seal(body, CLOUD_KEY)).name == "rotate_keys"


def test_peek_gateway_refuses_what_names_no_gateway() -> None:
    for payload in (b"EMSR\x01", b"{}", b'{"body": {"gateway": 7}}', b"\x00"):
        with pytest.raises(wire.WireError):
            wire.peek_gateway(payload)


# --- completeness digests -------------------------------------------------------------------


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 2**62), finite), max_size=30), st.randoms())
def test_digest_is_order_independent_and_mergeable(readings: Any, rng: Any) -> None:
    whole, halves = wire.DigestAccumulator(), [wire.DigestAccumulator(), wire.DigestAccumulator()]
    for ts, value in readings:
        whole.add(ts, value)
    shuffled = list(readings)
    rng.shuffle(shuffled)
    for i, (ts, value) in enumerate(shuffled):
        halves[i % 2].add(ts, value)
    halves[0].merge(halves[1])
    assert (halves[0].count, halves[0].hexdigest()) == (whole.count, whole.hexdigest())
    assert len(whole.hexdigest()) == 16


def test_utc_day_cuts_at_utc_midnight() -> None:
    assert wire.utc_day(T0 - 1) == "2025-12-31"
    assert wire.utc_day(T0) == "2026-01-01"


# --- (f) replay rules -----------------------------------------------------------------------


@pytest.mark.parametrize("entry", VECTORS["freshness"], ids=str)
def test_freshness_window(entry: dict[str, Any]) -> None:
    if entry["fresh"]:
        wire.check_fresh(entry["sent_at_ms"], entry["now_ms"])
    else:
        with pytest.raises(wire.ReplayError):
            wire.check_fresh(entry["sent_at_ms"], entry["now_ms"])


def command(
    issued: int = T0, ttl: int = 60_000, gateway: str = "gw-001", n: int = 1
) -> wire.Command:
    return wire.Command(
        gateway, f"00000000-0000-4000-8000-{n:012d}", "collect_now", {}, issued, issued + ttl
    )


def test_command_guard_admits_a_command_once() -> None:
    guard = wire.CommandGuard("gw-001", floor_ms=T0)
    guard.admit(command(), T0 + 10)
    with pytest.raises(wire.ReplayError, match="already received"):
        guard.admit(command(), T0 + 20)
    guard.admit(command(n=2), T0 + 20)


@pytest.mark.parametrize(
    ("cmd", "now", "message"),
    [
        (command(), T0 + 60_001, "expired"),
        (command(issued=T0 + wire.MAX_CLOCK_AHEAD_MS + 1), T0, "in the future"),
        (command(issued=T0 - 1), T0, "before the agent started"),
        (command(gateway="gw-002"), T0, "for gateway 'gw-002'"),
    ],
)
def test_command_guard_refuses(cmd: wire.Command, now: int, message: str) -> None:
    with pytest.raises(wire.ReplayError, match=message):
        wire.CommandGuard("gw-001", floor_ms=T0).admit(cmd, now)


def test_command_guard_forgets_ids_once_they_expire() -> None:
    guard = wire.CommandGuard("gw-001", floor_ms=T0)
    guard.admit(command(), T0)
    guard.admit(command(n=2, issued=T0 + 120_000), T0 + 120_000)
    assert guard._seen.keys() == {command(n=2).id}
    with pytest.raises(wire.ReplayError, match="expired"):
        guard.admit(command(), T0 + 120_000)
