"""Readings: the hot path, a signed, columnar binary batch (agent -> cloud, ``readings``).

All integers are little-endian; ``N`` rows, ``P`` distinct points, ``T`` table bytes::

    offset  size     field
    0       4        magic "EMSR"
    4       1        format version = 1
    5       1        flags: bit 0 = body is zlib-compressed; other bits 0
    6       1        G = length of the gateway id
    7       G        gateway id (ASCII, [a-z0-9][a-z0-9-]{2,63})
    7+G     1        C = length of the config version
    8+G     C        config version (UTF-8, <= 32 bytes)
    8+G+C   8        sent_at_ms u64
            8        first_seq u64
            4        N u32, rows (1..1,000,000)
            2        P u16, distinct points (1..N)
            4        T u32, bytes of the point table
    body (raw length T + 22N - 4; zlib stream of it when flag bit 0):
            T        point ids, UTF-8, NUL-separated, in order of first use
            4(N-1)   seq deltas u32: seq[i] - seq[i-1] >= 1
            2N       point index u16 into the table
            8N       ts_ms i64: ts[0], then ts[i] - ts[i-1]
            8N       value f64 (IEEE 754), finite
    64               Ed25519 signature over every byte before it

Columns are built and read with :mod:`array`, ``map`` and ``accumulate``, so the
work per row runs in C, not in a Python loop.
"""

from __future__ import annotations

import math
import re
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import sub
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ems_edge.wire.common import (
    GATEWAY_ID,
    I64,
    MAX_POINT_ID_BYTES,
    U64,
    WireError,
    check_pattern,
    finite,
    point_id_ok,
)
from ems_edge.wire.envelope import parse_json

MAGIC = b"EMSR"
FORMAT_VERSION = 1
FLAG_ZLIB = 0x01
MAX_ROWS = 1_000_000
MAX_CONFIG_VERSION_BYTES = 32
SIGNATURE_BYTES = 64

_FIXED = struct.Struct("<QQIHI")  # sent_at_ms, first_seq, N, P, T
_TABLE_CONTROL = re.compile(rb"[\x01-\x1f\x7f]")  # NUL separates ids; counting the parts finds it
_SMALLEST_HEADER = 4 + 3 + 3 + 1 + _FIXED.size
_SWAP = sys.byteorder == "big"  # the columns are little-endian on the wire


@dataclass(frozen=True, slots=True)
class Batch:
    """A decoded readings batch, column by column (``rows()`` zips them)."""

    gateway_id: str
    config_version: str
    sent_at_ms: int
    seqs: list[int]
    point_ids: list[str]
    ts_ms: list[int]
    values: list[float]

    def rows(self) -> list[tuple[int, str, int, float]]:
        """The readings as (seq, point id, ts_ms, value) tuples."""
        return list(zip(self.seqs, self.point_ids, self.ts_ms, self.values, strict=True))


@dataclass(frozen=True, slots=True)
class _Header:
    flags: int
    gateway_id: str
    config_version: str
    sent_at_ms: int
    first_seq: int
    count: int
    points: int
    table_bytes: int
    end: int


def encode_batch(
    gateway_id: str,
    config_version: str,
    rows: Sequence[tuple[int, str, int, float]],
    sent_at_ms: int,
    key: Ed25519PrivateKey,
    compress: bool = True,
) -> bytes:
    """Sign and encode readings (seq strictly increasing) as one binary batch."""
    check_pattern(GATEWAY_ID, gateway_id, "gateway id")
    if not 0 < len(rows) <= MAX_ROWS:
        raise WireError(f"a batch holds 1 to {MAX_ROWS} rows, not {len(rows)}")
    try:
        parts, points, first = _columns_out(rows)
        config = config_version.encode("utf-8")
        fixed = _FIXED.pack(sent_at_ms, first, len(rows), points, len(parts[0]))
    except (WireError, TypeError, ValueError, OverflowError, struct.error) as exc:
        raise WireError(_explain(rows, config_version, sent_at_ms) or str(exc)) from exc
    if len(config) > MAX_CONFIG_VERSION_BYTES:
        raise WireError(f"config version is {len(config)} bytes, more than 32")
    body, flags = b"".join(parts), 0
    if compress and len(packed := zlib.compress(body, 1)) < len(body):
        body, flags = packed, FLAG_ZLIB
    head = MAGIC + bytes((FORMAT_VERSION, flags, len(gateway_id))) + gateway_id.encode()
    signed = b"".join((head, bytes((len(config),)), config, fixed, body))
    return signed + key.sign(signed)


def _columns_out(rows: Sequence[tuple[int, str, int, float]]) -> tuple[list[Any], int, int]:
    """The body's parts, built column at a time; raises on any bad row (``_explain`` says which)."""
    seqs, points, stamps, values = zip(*rows, strict=True)
    table = list(dict.fromkeys(points))
    if len(table) > 0xFFFF:
        raise WireError(f"a batch names at most 65535 points, not {len(table)}")
    raw_table = "\0".join(table).encode("utf-8")
    _check_table(raw_table, len(table))
    deltas = array("I", map(sub, seqs[1:], seqs))
    ts = array("q", chain(stamps[:1], map(sub, stamps[1:], stamps)))
    numbers = array("d", values)
    if (deltas and min(deltas) == 0) or not all(map(math.isfinite, numbers)):
        raise ValueError("bad row")
    if not 0 <= seqs[0] <= seqs[-1] <= U64 or min(stamps) < 0 or max(stamps) > I64:
        raise ValueError("bad row")
    if len(table) == len(points):  # a poll cycle: every point once, in table order
        index = array("H", range(len(points)))
    else:
        index = array(
            "H", map(dict(zip(table, range(len(table)), strict=True)).__getitem__, points)
        )
    columns = [deltas, index, ts, numbers]
    if _SWAP:
        for column in columns:
            column.byteswap()
    return [raw_table, *columns], len(table), seqs[0]


def _explain(rows: Sequence[Any], config_version: object, sent_at_ms: object) -> str | None:
    """Name the first bad row or field; runs only once the fast path has failed."""
    if not isinstance(config_version, str):
        return "config version must be a string"
    if not isinstance(sent_at_ms, int) or not 0 <= sent_at_ms <= U64:
        return f"sent_at_ms {sent_at_ms!r} is not a u64"
    previous: int | None = None
    for i, row in enumerate(rows):
        if not isinstance(row, tuple) or len(row) != 4:
            return f"row {i}: expected a (seq, point_id, ts_ms, value) tuple"
        seq, point, ts, value = row
        low, high = (0, U64) if previous is None else (previous + 1, previous + 2**32 - 1)
        if not isinstance(seq, int) or not low <= seq <= min(U64, high):
            span = f"{low}..{min(U64, high)}"
            return f"row {i}: seq {seq!r} is outside {span} (strictly increasing u64, gaps < 2**32)"
        if not point_id_ok(point):
            return f"row {i}: point id {point!r:.80} is not 1-64 bytes of printable UTF-8"
        if not isinstance(ts, int) or not 0 <= ts <= I64:
            return f"row {i}: ts_ms {ts!r} is not a non-negative i64"
        if not finite(value):
            return f"row {i}: value {value!r:.40} is not a finite number"
        previous = seq
    return None


def _check_table(raw: bytes, count: int) -> None:
    parts = raw.split(b"\0")
    if len(parts) != count or not all(parts) or max(map(len, parts)) > MAX_POINT_ID_BYTES:
        raise WireError("point table: ids must be 1-64 bytes each, NUL-separated")
    if _TABLE_CONTROL.search(raw):
        raise WireError("point table: ids must not hold control characters")


def _read_header(payload: bytes) -> _Header:
    """The batch header, unverified (``peek_gateway`` reads it before the key is known)."""
    if payload[:4] != MAGIC:
        raise WireError("not a readings batch (bad magic)")
    try:
        version, flags, size = payload[4], payload[5], payload[6]
        if version != FORMAT_VERSION:
            raise WireError(f"unsupported readings format version {version}")
        if flags & ~FLAG_ZLIB:
            raise WireError(f"unknown flags {flags:#04x}")
        gateway = check_pattern(GATEWAY_ID, payload[7 : 7 + size].decode("ascii"), "gateway id")
        pos = 7 + size
        config_end = pos + 1 + payload[pos]
        config = payload[pos + 1 : config_end].decode("utf-8")
        sent, first, count, points, table = _FIXED.unpack_from(payload, config_end)
    except (IndexError, UnicodeDecodeError, struct.error) as exc:
        raise WireError(f"readings header is truncated or garbled: {exc}") from exc
    if not 0 < count <= MAX_ROWS or not 0 < points <= count or table > points * 65:
        raise WireError(f"impossible counts: {count} rows, {points} points, {table} table bytes")
    end = config_end + _FIXED.size
    return _Header(flags, gateway, config, sent, first, count, points, table, end)


def peek_gateway(payload: bytes) -> str:
    """The gateway a payload (batch or envelope) claims, unverified: only to pick the key."""
    if payload[:4] == MAGIC:
        return _read_header(payload).gateway_id
    envelope = parse_json(payload)
    body = envelope.get("body") if isinstance(envelope, dict) else None
    gateway = body.get("gateway") if isinstance(body, dict) else None
    return check_pattern(GATEWAY_ID, gateway, "gateway id")


def decode_batch(payload: bytes, public_key: Ed25519PublicKey) -> Batch:
    """Verify the signature, then decode and bounds-check a readings batch."""
    payload = bytes(payload)
    if len(payload) < _SMALLEST_HEADER + SIGNATURE_BYTES:
        raise WireError(f"readings batch of {len(payload)} bytes is too short")
    signed = payload[:-SIGNATURE_BYTES]
    try:
        public_key.verify(payload[-SIGNATURE_BYTES:], signed)
    except InvalidSignature:
        raise WireError("readings batch: bad signature (tampered, or not this key)") from None
    head = _read_header(signed)
    size = head.table_bytes + 22 * head.count - 4
    body = signed[head.end :]
    if head.flags & FLAG_ZLIB:
        body = _inflate(body, size)
    if len(body) != size:
        raise WireError(f"body is {len(body)} bytes, {size} expected")
    return _columns_in(head, body)


def _inflate(data: bytes, size: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, size + 1)  # bounded: a zip bomb stops at size + 1
    except zlib.error as exc:
        raise WireError(f"compressed body is corrupt: {exc}") from exc
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        raise WireError("compressed body does not end where the payload does")
    return out


def _columns_in(head: _Header, body: bytes) -> Batch:
    n, t = head.count, head.table_bytes
    _check_table(body[:t], head.points)
    try:
        table = body[:t].decode("utf-8").split("\0")
    except UnicodeDecodeError as exc:
        raise WireError(f"point table is not UTF-8: {exc}") from exc
    seq_end = t + 4 * (n - 1)
    index_end = seq_end + 2 * n
    ts_end = index_end + 8 * n
    deltas, index = _column("I", body[t:seq_end]), _column("H", body[seq_end:index_end])
    ts, values = _column("q", body[index_end:ts_end]), array("d", body[ts_end:])
    if _SWAP:
        values.byteswap()
    if deltas and min(deltas) == 0:
        raise WireError(f"row {deltas.index(0) + 1}: seq does not increase")
    seqs = list(accumulate(deltas, initial=head.first_seq))
    stamps = list(accumulate(ts))
    if seqs[-1] > U64 or min(stamps) < 0 or max(stamps) > I64:
        raise WireError("a seq or ts_ms is out of range")
    if max(index) >= head.points or list(dict.fromkeys(index)) != list(range(head.points)):
        raise WireError("point index does not match the point table (order of first use)")
    if len(set(table)) != head.points:
        raise WireError("point table names a point twice")
    if not all(map(math.isfinite, values)):
        row = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise WireError(f"row {row}: value {values[row]!r} is not finite")
    points = list(map(table.__getitem__, index))
    meta = (head.gateway_id, head.config_version, head.sent_at_ms)
    return Batch(*meta, seqs, points, stamps, values.tolist())


def _column(code: str, data: bytes) -> array[int]:
    column = array(code, data)
    if _SWAP:
        column.byteswap()
    return column


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Inclusive ranges sorted, with overlapping and touching ones merged."""
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return tuple((first, last) for first, last in merged)


def seq_ranges(seqs: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The inclusive ranges covering exactly ``seqs`` (ascending), e.g. a batch to acknowledge."""
    if seqs and seqs[-1] - seqs[0] + 1 == len(seqs):
        return ((seqs[0], seqs[-1]),)  # the usual case, a contiguous batch: no loop
    return merge_ranges((seq, seq) for seq in seqs)
