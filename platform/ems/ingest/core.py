"""The ingest's work on a set of MQTT messages: verify, decode, validate, write, then ack.

:meth:`Ingestor.handle` takes the messages one flush collected and either
commits everything they carry in one transaction and returns the signed
application acks to publish, or raises (the database is down) having changed
nothing; the caller then keeps the messages and tries again. Only after the
commit does the caller send the MQTT PUBACKs and the acks: a crash at any
point before loses nothing, since the broker and the gateway both still hold
the messages, and the write is idempotent on (point, ts).

Three layers of validation (construction code), each failure quarantined with
its reason, never dropped:

- network: the topic names a registered, active gateway; the payload's signature
  verifies with its key; the payload names the same gateway; it is fresh
  (``check_fresh``: a replay outside the window, or a sender whose clock is off);
- communication: the payload decodes (format, bounds, finite values);
- business (per reading): a known point, inside the point's value range, not
  ahead of the receiving clock (clock skew), not older than the retention;
  a repeat of a stored reading with a different value is a conflict.

A batch refused whole is not acknowledged (the gateway sends its readings
again); readings refused one by one are acknowledged, since they are stored, in
the quarantine.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql
from psycopg.types.json import Jsonb

from ems.ingest.registry import GatewayInfo, PointInfo, Registry
from ems.telemetry import partitions
from ems.telemetry.models import Layer, Quality
from ems.telemetry.reconcile import CONFLICT_REASON
from ems_edge import wire

log = logging.getLogger(__name__)

# PostgreSQL's binary timestamptz: microseconds since 2000-01-01T00:00:00Z.
_PG_EPOCH_MS = 946_684_800_000
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_ROW = struct.Struct(">hiiiqidih")  # 4 fields: int4 point, timestamptz ts, float8, int2
_DAY_MS = 86_400_000
RAW_KEEP = 65_536  # bytes of a refused payload kept in the quarantine (its size is kept too)


@dataclass(slots=True)
class Message:
    """One MQTT message as received; ``mid`` identifies it for the PUBACK."""

    topic: str
    payload: bytes
    mid: int = 0


@dataclass(slots=True)
class _Tenant:
    schema: str
    rows: list[bytes] = field(default_factory=list)
    count: int = 0
    points: set[int] = field(default_factory=set)
    first_ms: int = 2**63 - 1
    last_ms: int = -1
    months: set[date] = field(default_factory=set)
    quarantine: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    ledgers: dict[tuple[str, str], wire.Completeness] = field(default_factory=dict)
    statuses: dict[str, wire.Status] = field(default_factory=dict)
    replies: list[wire.Reply] = field(default_factory=list)
    batches: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # last seq, cfg, n


@dataclass
class Outcome:
    """What a flush committed and the acks to publish now that it has."""

    acks: list[tuple[str, bytes]] = field(default_factory=list)
    stored: int = 0  # readings staged for storage (new or already present)
    inserted: int = 0  # readings that were new
    quarantined: int = 0  # quarantine entries written (payloads and single readings)
    rejected: int = 0  # messages no tenant could be found for
    stale: int = 0


class Ingestor:
    """Turns messages into committed rows; one instance per database connection."""

    def __init__(
        self,
        registry: Registry,
        dc_name: str,
        dc_key: Ed25519PrivateKey,
        connect: Callable[[], psycopg.Connection],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.dc_name = dc_name
        self.dc_key = dc_key
        self._connect = connect
        self.clock = clock
        self._conn: psycopg.Connection | None = None
        self._months: dict[str, set[date]] = {}

    # -- preparation (no database writes) ---------------------------------------------------

    def _prepare(
        self, messages: Iterable[Message], now_ms: int
    ) -> tuple[
        dict[str, _Tenant], list[tuple[Any, ...]], dict[str, list[tuple[int, int]]], Outcome
    ]:
        tenants: dict[str, _Tenant] = {}
        rejects: list[tuple[Any, ...]] = []
        acks: dict[str, list[tuple[int, int]]] = defaultdict(list)
        outcome = Outcome()
        for message in messages:
            try:
                gateway_id, channel, _ = wire.parse_topic(message.topic)
            except wire.WireError as exc:
                rejects.append((message.topic, str(exc), message.payload))
                continue
            info = self.registry.gateway(gateway_id)
            if info is None:
                rejects.append((message.topic, f"unknown gateway {gateway_id!r}", message.payload))
                continue
            work = tenants.get(info.schema)
            if work is None:
                work = tenants[info.schema] = _Tenant(info.schema)
            refused = self._one(info, channel, message, work, acks, now_ms)
            if refused is not None:
                layer, reason = refused
                if isinstance(refused, _Stale):
                    outcome.stale += 1
                work.quarantine.append(
                    _payload_entry(info.id, channel, layer, reason, message.payload)
                )
        outcome.rejected = len(rejects)
        return tenants, rejects, acks, outcome

    def _one(
        self,
        info: GatewayInfo,
        channel: wire.Channel,
        message: Message,
        work: _Tenant,
        acks: dict[str, list[tuple[int, int]]],
        now_ms: int,
    ) -> tuple[str, str] | None:
        """Handle one message of a known gateway; (layer, reason) when refused whole."""
        if not info.active:
            return (Layer.NETWORK, f"gateway {info.id} is revoked")
        decoder = _DECODERS.get(channel)
        if decoder is None:
            return (Layer.COMMUNICATION, f"the ingest does not consume {channel} messages")
        decoded: Any = None
        error: wire.WireError | None = None
        for key in info.keys:
            try:
                decoded = decoder(message.payload, key)
                break
            except wire.WireError as exc:
                error = exc
                if "bad signature" not in str(exc):
                    break  # the signature held: another key cannot help a format error
        if decoded is None:
            assert error is not None  # noqa: S101 - the loop ran at least once
            layer = Layer.NETWORK if "bad signature" in str(error) else Layer.COMMUNICATION
            return (layer, str(error))
        claimed = decoded.gateway_id if channel is wire.Channel.READINGS else decoded.gateway
        if claimed != info.id:
            return (Layer.NETWORK, f"payload names gateway {claimed!r}, topic {info.id!r}")
        at_ms = getattr(decoded, "at_ms", 0)
        if not 0 <= at_ms <= _MAX_MS:
            return (Layer.COMMUNICATION, f"at_ms {at_ms} is not a representable time")
        if channel is wire.Channel.EVENTS and any(
            not 0 <= e.at_ms <= _MAX_MS for e in decoded.events
        ):
            return (Layer.COMMUNICATION, "an event's at_ms is not a representable time")
        if channel is wire.Channel.READINGS:
            try:
                wire.check_fresh(decoded.sent_at_ms, now_ms)
            except wire.ReplayError as exc:
                return _Stale(Layer.NETWORK, f"replay or clock: {exc}")
            self._readings(info, decoded, work, now_ms)
            acks[info.id].extend(wire.seq_ranges(decoded.seqs))
        elif channel is wire.Channel.EVENTS:
            work.events.extend(
                (info.id, _utc(e.at_ms), str(e.kind), e.reason, e.bus, e.meter, e.point)
                for e in decoded.events
            )
        elif channel is wire.Channel.COMPLETENESS:
            held = work.ledgers.get((info.id, decoded.day))
            if held is None or held.at_ms < decoded.at_ms:
                work.ledgers[(info.id, decoded.day)] = decoded
        elif channel is wire.Channel.REPLIES:
            work.replies.append(decoded)
        elif channel is wire.Channel.STATUS:
            held_status = work.statuses.get(info.id)
            if held_status is None or held_status.at_ms < decoded.at_ms:
                work.statuses[info.id] = decoded
        return None

    def _readings(self, info: GatewayInfo, batch: wire.Batch, work: _Tenant, now_ms: int) -> None:
        catalogue = self.registry.points(info, set(batch.point_ids))
        newest = now_ms + wire.MAX_CLOCK_AHEAD_MS
        oldest = now_ms - info.retention_days * _DAY_MS
        first, last = min(batch.ts_ms), max(batch.ts_ms)
        ids = {code: catalogue.get(code) for code in set(batch.point_ids)}
        clean = (
            all(p is not None and p.min_value is None is p.max_value for p in ids.values())
            and oldest <= first
            and last <= newest
        )
        pack = _ROW.pack
        valid = Quality.VALID
        if clean:  # the usual batch: every point known, no limits to check, times sane
            pid = {code: p.id for code, p in ids.items() if p is not None}
            work.rows.extend(
                pack(4, 4, pid[c], 8, (t - _PG_EPOCH_MS) * 1000, 8, v, 2, valid)
                for c, t, v in zip(batch.point_ids, batch.ts_ms, batch.values, strict=True)
            )
            work.count += len(batch.values)
            work.points.update(pid.values())
            kept_first, kept_last = first, last
        else:
            kept_first, kept_last = 2**63 - 1, -1
            for seq, code, ts, value in batch.rows():
                reason = _refusal(ids[code], code, ts, value, oldest, newest)
                if reason is not None:
                    when = _utc_or_none(ts)
                    entry = (info.id, "readings", Layer.BUSINESS, reason, code, when, value)
                    work.quarantine.append((*entry, seq, None, None))
                    continue
                point = ids[code]
                assert point is not None  # noqa: S101 - _refusal refuses unknown points
                work.rows.append(
                    pack(4, 4, point.id, 8, (ts - _PG_EPOCH_MS) * 1000, 8, value, 2, valid)
                )
                work.count += 1
                work.points.add(point.id)
                kept_first, kept_last = min(kept_first, ts), max(kept_last, ts)
        if kept_last >= 0:
            work.first_ms = min(work.first_ms, kept_first)
            work.last_ms = max(work.last_ms, kept_last)
            month = partitions.month_of(kept_first)
            while month <= partitions.month_of(kept_last):
                work.months.add(month)
                month = partitions.next_month(month)
        seen = work.batches.get(info.id)
        total = len(batch.values) + (seen[2] if seen else 0)
        top = max(batch.seqs[-1], seen[0] if seen else 0)
        work.batches[info.id] = (top, batch.config_version, total)

    # -- the transaction --------------------------------------------------------------------

    def handle(self, messages: list[Message]) -> Outcome:
        """Commit what ``messages`` carry; return the acks to send (raises if nothing committed).

        A database error that is not the database being unreachable is about the data:
        the messages are then written one by one, and one that still fails is kept in
        the rejects with the error, so a poison message cannot block the rest forever.
        """
        try:
            return self._handle(messages)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            if len(messages) > 1:
                log.warning("flush of %d messages failed (%s); one by one", len(messages), exc)
                outcome = Outcome()
                for message in messages:
                    part = self.handle([message])
                    outcome.acks += part.acks
                    for name in ("stored", "inserted", "quarantined", "rejected", "stale"):
                        setattr(outcome, name, getattr(outcome, name) + getattr(part, name))
                return outcome
            log.error("message on %s could not be stored: %s", messages[0].topic, exc)
            self._reject(messages[0], f"could not be stored: {exc}")
            return Outcome(rejected=1)

    def _reject(self, message: Message, reason: str) -> None:
        conn = self._connection()
        with conn.transaction():
            conn.execute(
                "INSERT INTO control.ingest_rejects (received_at, topic, reason, payload, "
                "payload_size) VALUES (now(), %s, %s, %s, %s)",
                (message.topic, reason[:2000], message.payload[:RAW_KEEP], len(message.payload)),
            )

    def _handle(self, messages: list[Message]) -> Outcome:
        now_ms = int(self.clock() * 1000)
        tenants, rejects, acks, outcome = self._prepare(messages, now_ms)
        conn = self._connection()
        try:
            self._ensure_partitions(conn, tenants.values())
            with conn.transaction():
                for work in tenants.values():
                    outcome.stored += work.count
                    outcome.inserted += self._write_tenant(conn, work)
                    outcome.quarantined += len(work.quarantine)
                if rejects:
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO control.ingest_rejects "
                            "(received_at, topic, reason, payload, payload_size) "
                            "VALUES (now(), %s, %s, %s, %s)",
                            [(t, r, p[:RAW_KEEP], len(p)) for t, r, p in rejects],
                        )
        except psycopg.OperationalError:
            self._drop_connection()
            raise
        committed_ms = int(self.clock() * 1000)
        for gateway_id, ranges in acks.items():
            ack = wire.Ack(gateway_id, self.dc_name, wire.merge_ranges(ranges), committed_ms)
            topic = wire.topic(gateway_id, wire.Channel.ACK, self.dc_name)
            outcome.acks.append((topic, wire.encode_ack(ack, self.dc_key)))
        return outcome

    def _ensure_partitions(self, conn: psycopg.Connection, tenants: Iterable[_Tenant]) -> None:
        # In its own short transaction: creating a partition locks the parent table,
        # which must not be held across the big insert.
        for work in tenants:
            known = self._months.get(work.schema)
            if known is None:
                known = self._months[work.schema] = partitions.existing(conn, work.schema)
                conn.commit()
            missing = work.months - known
            if missing:
                with conn.transaction():
                    partitions.ensure(conn, work.schema, missing)
                known |= missing

    def _write_tenant(self, conn: psycopg.Connection, work: _Tenant) -> int:
        schema = sql.Identifier(work.schema)
        inserted = 0
        with conn.cursor() as cur:
            if work.rows:
                with cur.copy(
                    "COPY ingest_staging (point, ts, value, quality) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.write(_COPY_HEADER + b"".join(work.rows) + _COPY_TRAILER)
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {}.readings (point, ts, value, quality) "
                        "SELECT point, ts, value, quality FROM ingest_staging "
                        "ON CONFLICT DO NOTHING"
                    ).format(schema)
                )
                inserted = cur.rowcount
                if inserted < work.count:  # repeats: normal after a resend; conflicts are not
                    cur.execute(
                        sql.SQL(
                            "SELECT p.gateway_id, p.code, s.ts, s.value, r.value "
                            "FROM ingest_staging s JOIN {0}.readings r "
                            "ON r.point = s.point AND r.ts = s.ts "
                            "JOIN {0}.points p ON p.id = s.point "
                            "WHERE float8send(r.value) <> float8send(s.value)"
                        ).format(schema)
                    )
                    for gateway_id, code, ts, value, stored in cur.fetchall():
                        reason = f"{CONFLICT_REASON} {stored!r} at the same time"
                        entry = (gateway_id, "readings", Layer.BUSINESS, reason, code, ts, value)
                        work.quarantine.append((*entry, None, None, None))
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {0}.latest_values AS l "
                        "(point, ts, value, quality, received_at) "
                        "SELECT DISTINCT ON (point) point, ts, value, quality, now() "
                        "FROM ingest_staging ORDER BY point, ts DESC "
                        "ON CONFLICT (point) DO UPDATE SET ts = excluded.ts, "
                        "value = excluded.value, quality = excluded.quality, "
                        "received_at = excluded.received_at "
                        "WHERE l.ts < excluded.ts"
                    ).format(schema)
                )
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {}.dirty_ranges (points, from_ts, to_ts, created_at) "
                        "VALUES (%s, %s, %s, now())"
                    ).format(schema),
                    (sorted(work.points), _utc(work.first_ms), _utc(work.last_ms)),
                )
                cur.execute("TRUNCATE ingest_staging")
            if work.quarantine:
                cur.executemany(
                    sql.SQL(
                        "INSERT INTO {}.quarantine (received_at, gateway_id, channel, layer, "
                        "reason, point_code, ts, value, seq, payload, payload_size) "
                        "VALUES (now(), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    ).format(schema),
                    work.quarantine,
                )
            if work.events:
                cur.executemany(
                    sql.SQL(
                        "INSERT INTO {}.gateway_events "
                        "(gateway_id, at, kind, reason, bus, meter, point, received_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, now()) ON CONFLICT DO NOTHING"
                    ).format(schema),
                    work.events,
                )
            for (gateway_id, day), ledger in work.ledgers.items():
                points = {
                    code: {"count": e.count, "gaps": e.gaps, "digest": e.digest}
                    for code, e in ledger.points.items()
                }
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {}.gateway_ledgers AS g "
                        "(gateway_id, day, at_ms, points, received_at) "
                        "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (gateway_id, day) DO UPDATE "
                        "SET at_ms = excluded.at_ms, points = excluded.points, "
                        "received_at = excluded.received_at WHERE g.at_ms < excluded.at_ms"
                    ).format(schema),
                    (gateway_id, date.fromisoformat(day), ledger.at_ms, Jsonb(points)),
                )
            for reply in work.replies:  # the first reply wins; repeats change nothing
                cur.execute(
                    sql.SQL(
                        "UPDATE {}.gateway_commands SET reply_ok = %s, reply_result = %s, "
                        "reply_error = %s, replied_at = %s "
                        "WHERE id = %s AND gateway_id = %s AND replied_at IS NULL"
                    ).format(schema),
                    (
                        reply.ok,
                        Jsonb(reply.result) if reply.result is not None else None,
                        reply.error,
                        _utc(reply.at_ms),
                        reply.id,
                        reply.gateway,
                    ),
                )
            for gateway_id in work.batches.keys() | work.statuses.keys():
                self._gateway_state(cur, schema, gateway_id, work)
        return inserted

    @staticmethod
    def _gateway_state(
        cur: psycopg.Cursor[Any], schema: sql.Identifier, gateway_id: str, work: _Tenant
    ) -> None:
        cur.execute(
            sql.SQL(
                "INSERT INTO {}.gateway_state (gateway_id, readings_total) VALUES (%s, 0) "
                "ON CONFLICT DO NOTHING"
            ).format(schema),
            (gateway_id,),
        )
        batch = work.batches.get(gateway_id)
        if batch is not None:
            top, config_version, count = batch
            cur.execute(
                sql.SQL(
                    "UPDATE {}.gateway_state SET last_batch_at = now(), "
                    "last_seq = GREATEST(coalesce(last_seq, 0), %s), config_version = %s, "
                    "readings_total = readings_total + %s WHERE gateway_id = %s"
                ).format(schema),
                (top, config_version, count, gateway_id),
            )
        status = work.statuses.get(gateway_id)
        if status is not None:
            cur.execute(
                sql.SQL(
                    "UPDATE {}.gateway_state SET state = %s, state_at = %s, info = %s "
                    "WHERE gateway_id = %s AND (state_at IS NULL OR state_at <= %s)"
                ).format(schema),
                (
                    str(status.state),
                    _utc(status.at_ms),
                    Jsonb(status.info),
                    gateway_id,
                    _utc(status.at_ms),
                ),
            )

    # -- connection -------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS ingest_staging "
                "(point int4, ts timestamptz, value float8, quality int2)"
            )
            conn.commit()
            self._conn = conn
            self._months.clear()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Close the database connection."""
        self._drop_connection()


class _Stale(tuple[str, str]):
    """A refusal for freshness: counted apart (a gateway whose acks were slow re-sends)."""

    __slots__ = ()

    def __new__(cls, layer: str, reason: str) -> _Stale:
        return super().__new__(cls, (layer, reason))


_DECODERS: dict[wire.Channel, Callable[..., Any]] = {
    wire.Channel.READINGS: wire.decode_batch,
    wire.Channel.EVENTS: wire.decode_events,
    wire.Channel.COMPLETENESS: wire.decode_completeness,
    wire.Channel.STATUS: wire.decode_status,
    wire.Channel.REPLIES: wire.decode_reply,
}


_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The last millisecond a timestamptz (and a Python datetime) can hold: the wire allows any
# i64, so a gateway with a broken clock must be refused with a reason, not crash a flush.
_MAX_MS = 253_402_300_799_999


def _utc(ts_ms: int) -> datetime:
    return _UNIX_EPOCH + timedelta(milliseconds=ts_ms)  # exact, unlike a float division


def _utc_or_none(ts_ms: int) -> datetime | None:
    return _utc(ts_ms) if 0 <= ts_ms <= _MAX_MS else None


def _when(ts_ms: int) -> str:
    moment = _utc_or_none(ts_ms)
    return moment.isoformat() if moment is not None else f"{ts_ms} ms after the epoch"


def _refusal(
    point: PointInfo | None, code: str, ts: int, value: float, oldest: int, newest: int
) -> str | None:
    if point is None:
        return f"unknown point {code!r}"
    if point.min_value is not None and value < point.min_value:
        return f"value {value!r} below the point's minimum {point.min_value!r}"
    if point.max_value is not None and value > point.max_value:
        return f"value {value!r} above the point's maximum {point.max_value!r}"
    if ts > newest:
        return f"reading time {_when(ts)} is ahead of the receiving clock (clock skew)"
    if ts < oldest:
        return f"reading time {_when(ts)} is older than the retention period"
    return None


def _payload_entry(
    gateway_id: str, channel: str, layer: str, reason: str, payload: bytes
) -> tuple[Any, ...]:
    where = (None, None, None, None)  # point, ts, value, seq: the payload is refused whole
    return (gateway_id, channel, layer, reason, *where, payload[:RAW_KEEP], len(payload))
