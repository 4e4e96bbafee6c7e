"""The ingest core against its spec (the docstring of ``ems.ingest.core`` and
``openapi/edge-wire.md``): storage, real-time values, the three layers of
validation, unattributable messages, gateway events/ledgers/status, the point
catalogue's reload on a miss, and a database that goes away.

Every expected value is derived from the inputs of the test. Time is a fixed
clock (``NOW_MS``, a whole second so that ``clock() * 1000`` is exact).
"""

from __future__ import annotations

import base64
import math
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from ems.ingest import registry as registry_module
from ems.ingest.core import RAW_KEEP, Ingestor, Message, Outcome
from ems.ingest.registry import Registry
from ems.telemetry import partitions
from ems.telemetry.models import Quality
from ems_edge import wire
from tests.ingest.conftest import Plant, count_readings, quarantine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW_MS = int(datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC).timestamp()) * 1000
MINUTE_MS = 60_000
DAY_MS = 86_400_000

Row = tuple[int, str, int, float]
Connect = Callable[[], psycopg.Connection]


# -- helpers ----------------------------------------------------------------------------------


def utc(ts_ms: int) -> datetime:
    """A wire time as an aware datetime, exactly (no float division)."""
    return EPOCH + timedelta(milliseconds=ts_ms)


def bits(value: float) -> bytes:
    """The IEEE 754 bits of a double (tells -0.0 from 0.0)."""
    return struct.pack("<d", value)


def readings_topic(gateway: str) -> str:
    return wire.topic(gateway, wire.Channel.READINGS)


def batch(
    plant: Plant,
    rows: list[Row],
    *,
    sent_ms: int = NOW_MS,
    key: Ed25519PrivateKey | None = None,
    claimed: str | None = None,
    config: str = "cfg-1",
) -> Message:
    """A signed readings batch of ``plant`` on its readings topic."""
    payload = wire.encode_batch(
        claimed or plant.gateway, config, rows, sent_ms, key or plant.key, compress=True
    )
    return Message(readings_topic(plant.gateway), payload)


def resign(plant: Plant, signed_part: bytes) -> Message:
    """Arbitrary bytes, validly signed with the plant's key, on its readings topic."""
    return Message(readings_topic(plant.gateway), signed_part + plant.key.sign(signed_part))


def query(connect: Connect, text: str, schema: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``text`` where ``{}`` is the tenant schema."""
    with connect() as conn:
        return conn.execute(
            sql.SQL(text).format(sql.Identifier(schema)),
            params,
        ).fetchall()


def stored(connect: Connect, schema: str) -> dict[tuple[int, datetime], float]:
    """The tenant's readings: (point id, ts) -> value."""
    rows = query(connect, "SELECT point, ts, value FROM {}.readings", schema)
    return {(point, ts): value for point, ts, value in rows}


def expected(plant: Plant, rows: list[Row]) -> dict[tuple[int, datetime], float]:
    return {(plant.points[code], utc(ts)): value for _, code, ts, value in rows}


def latest(connect: Connect, schema: str) -> dict[int, tuple[datetime, float]]:
    rows = query(connect, "SELECT point, ts, value FROM {}.latest_values", schema)
    return {point: (ts, value) for point, ts, value in rows}


def acked(outcome: Outcome, dc_key: Ed25519PrivateKey, dc_name: str) -> dict[str, Any]:
    """The acks of an outcome, verified with the DC's key: gateway -> ranges."""
    result: dict[str, Any] = {}
    for topic, payload in outcome.acks:
        ack = wire.decode_ack(payload, dc_key.public_key())
        assert topic == wire.topic(ack.gateway, wire.Channel.ACK, dc_name)
        assert ack.dc == dc_name
        assert ack.gateway not in result  # one ack per gateway per flush
        result[ack.gateway] = ack.ranges
    return result


def rejects(connect: Connect, topic: str) -> list[tuple[Any, ...]]:
    with connect() as conn:
        return conn.execute(
            "SELECT reason, payload, payload_size FROM control.ingest_rejects "
            "WHERE topic = %s ORDER BY id",
            (topic,),
        ).fetchall()


def retention_days(connect: Connect, plant: Plant) -> int:
    with connect() as conn:
        row = conn.execute(
            "SELECT p.retention_days FROM control.tenants t "
            "JOIN control.plans p ON p.id = t.plan_id WHERE t.id = %s",
            (plant.tenant_id,),
        ).fetchone()
    assert row is not None
    days: int = row[0]
    return days


def partition_names(connect: Connect, schema: str) -> set[str]:
    with connect() as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = %s AND p.relname = 'readings'",
            (schema,),
        ).fetchall()
    return {name for (name,) in rows}


def add_point(database: Any, plant: Plant, code: str) -> int:
    """Register a new (limitless) point for the plant's gateway; its id."""
    from ems.telemetry.models import Point

    with database.transaction(plant.schema) as session:
        point = Point(
            gateway_id=plant.gateway,
            code=code,
            name=code,
            energy_type="electricity",
            kind="instantaneous",
            unit="kW",
        )
        session.add(point)
        session.flush()
        plant.points[code] = point.id
        return point.id


def private_key(raw_b64: str | None) -> Ed25519PrivateKey:
    assert raw_b64 is not None
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw_b64))


@pytest.fixture
def make_ingestor(
    connect: Connect, dc_key: Ed25519PrivateKey, settings: Any
) -> Iterator[Callable[..., Ingestor]]:
    """``make_ingestor(now_ms)``: an Ingestor with its own registry and a fixed clock."""
    made: list[Ingestor] = []

    def make(
        now_ms: int = NOW_MS,
        *,
        db: Connect | None = None,
        registry_clock: Callable[[], float] = time.time,
    ) -> Ingestor:
        assert now_ms % 1000 == 0  # exact through the float clock
        ing = Ingestor(
            Registry(connect, clock=registry_clock),
            settings.dc_name,
            dc_key,
            db or connect,
            clock=lambda: now_ms / 1000,
        )
        made.append(ing)
        return ing

    yield make
    for ing in made:
        ing.close()


@pytest.fixture
def dc_name(settings: Any) -> str:
    name: str = settings.dc_name
    return name


# -- 1. storage -------------------------------------------------------------------------------


def test_values_are_exact_doubles_and_times_exact_to_the_millisecond(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    values = [0.1 + 0.2, 1e-300, -0.0, 1234567.891, 5e-324, 1.7976931348623157e308, -2.5]
    # Distinct odd milliseconds, so a time rounded to the second or truncated would differ.
    rows: list[Row] = [
        (i + 1, "M1.power", NOW_MS - 1_001 * (i + 1) - 7, value) for i, value in enumerate(values)
    ]
    outcome = make_ingestor().handle([batch(plant, rows)])

    assert outcome.inserted == outcome.stored == len(rows)
    assert (outcome.quarantined, outcome.rejected, outcome.stale) == (0, 0, 0)
    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, len(rows)),)}
    got = query(connect, "SELECT point, ts, value, quality FROM {}.readings", plant.schema)
    by_ts = {ts: (point, value, quality) for point, ts, value, quality in got}
    assert set(by_ts) == {utc(ts) for _, _, ts, _ in rows}
    for _, code, ts, value in rows:
        point, got_value, quality = by_ts[utc(ts)]
        assert point == plant.points[code]
        assert bits(got_value) == bits(value), (value, got_value)
        assert quality == Quality.VALID
    (negative_zero,) = (v for _, _, v, _ in got if v == 0.0)
    assert math.copysign(1.0, negative_zero) == -1.0


def test_two_batches_in_one_call_are_stored_and_acknowledged_together(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    first: list[Row] = [
        (1, "M1.energy", NOW_MS - 2_000, 10.0),
        (2, "M1.power", NOW_MS - 2_000, 3.5),
    ]
    second: list[Row] = [(3, "M1.energy", NOW_MS - 1_000, 10.5), (4, "M2.flow", NOW_MS, 42.0)]
    outcome = make_ingestor().handle([batch(plant, first), batch(plant, second)])

    assert outcome.inserted == outcome.stored == 4
    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 4),)}
    assert stored(connect, plant.schema) == expected(plant, first + second)


def test_two_tenants_in_one_call_each_write_only_their_own_schema(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    a, b = make_plant(), make_plant()
    # The same codes (and, per schema, the same point ids): only the schema tells them apart.
    rows_a: list[Row] = [(1, "M1.energy", NOW_MS - 1_000, 111.0), (2, "M1.power", NOW_MS, 1.25)]
    rows_b: list[Row] = [(7, "M1.energy", NOW_MS - 500, 222.0), (8, "M2.flow", NOW_MS, 9.5)]
    bad_a: list[Row] = [(3, "A.unknown", NOW_MS, 1.0)]
    outcome = make_ingestor().handle([batch(a, rows_a + bad_a), batch(b, rows_b)])

    assert outcome.inserted == 4
    assert outcome.quarantined == 1
    assert acked(outcome, dc_key, dc_name) == {a.gateway: ((1, 3),), b.gateway: ((7, 8),)}
    assert stored(connect, a.schema) == expected(a, rows_a)
    assert stored(connect, b.schema) == expected(b, rows_b)
    assert [q["point_code"] for q in quarantine(connect, a.schema)] == ["A.unknown"]
    assert quarantine(connect, b.schema) == []
    assert {p: v for p, (_, v) in latest(connect, a.schema).items()} == {
        a.points["M1.energy"]: 111.0,
        a.points["M1.power"]: 1.25,
    }
    assert {p: v for p, (_, v) in latest(connect, b.schema).items()} == {
        b.points["M1.energy"]: 222.0,
        b.points["M2.flow"]: 9.5,
    }


def test_a_batch_across_a_month_boundary_creates_both_partitions(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    boundary_ms = int(datetime(2031, 1, 1, tzinfo=UTC).timestamp()) * 1000
    december = partitions.partition_name(date(2030, 12, 1))
    january = partitions.partition_name(date(2031, 1, 1))
    assert not {december, january} & partition_names(connect, plant.schema)

    rows: list[Row] = [
        (1, "M1.energy", boundary_ms - 1, 1.0),  # 2030-12-31T23:59:59.999Z
        (2, "M1.energy", boundary_ms, 2.0),  # 2031-01-01T00:00:00.000Z
        (3, "M1.power", boundary_ms + 30_000, 3.0),
    ]
    outcome = make_ingestor(boundary_ms + MINUTE_MS).handle(
        [batch(plant, rows, sent_ms=boundary_ms + MINUTE_MS)]
    )

    assert outcome.inserted == 3
    assert {december, january} <= partition_names(connect, plant.schema)
    placed = query(
        connect,
        "SELECT c.relname, r.ts FROM {}.readings r JOIN pg_class c ON c.oid = r.tableoid",
        plant.schema,
    )
    assert sorted(placed, key=lambda r: r[1]) == [
        (december, utc(boundary_ms - 1)),
        (january, utc(boundary_ms)),
        (january, utc(boundary_ms + 30_000)),
    ]


def test_a_repeat_delivery_inserts_nothing_and_is_acknowledged_again(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    rows: list[Row] = [(40, "M1.energy", NOW_MS - 1_000, 5.0), (41, "M2.flow", NOW_MS, 6.0)]
    message = batch(plant, rows)
    ingestor = make_ingestor()
    first = ingestor.handle([message])
    again = ingestor.handle([message])

    assert (first.inserted, first.stored) == (2, 2)
    assert (again.inserted, again.stored) == (0, 2)
    assert (
        acked(again, dc_key, dc_name)
        == acked(first, dc_key, dc_name)
        == {plant.gateway: ((40, 41),)}
    )
    assert again.quarantined == 0 and quarantine(connect, plant.schema) == []
    assert stored(connect, plant.schema) == expected(plant, rows)


def test_a_batch_with_seq_gaps_is_acknowledged_with_several_ranges(
    make_plant: Any, make_ingestor: Any, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    seqs = [5, 6, 7, 10, 12, 13]
    rows: list[Row] = [(s, "M1.power", NOW_MS - 1_000 * s, float(s)) for s in seqs]
    outcome = make_ingestor().handle([batch(plant, rows)])

    ranges = acked(outcome, dc_key, dc_name)[plant.gateway]
    assert ranges == wire.seq_ranges(seqs) == ((5, 7), (10, 10), (12, 13))
    assert outcome.inserted == len(seqs)


def test_the_ack_is_signed_with_the_commit_time(
    make_plant: Any, make_ingestor: Any, dc_key: Any
) -> None:
    plant = make_plant()
    outcome = make_ingestor().handle([batch(plant, [(1, "M1.power", NOW_MS, 1.0)])])
    ((_, payload),) = outcome.acks
    assert wire.decode_ack(payload, dc_key.public_key()).committed_at_ms == NOW_MS
    with pytest.raises(wire.WireError):  # signed by the DC, not by anyone else
        wire.decode_ack(payload, Ed25519PrivateKey.generate().public_key())


# -- 2. real-time values ----------------------------------------------------------------------


def test_latest_value_is_the_newest_reading_and_a_late_one_does_not_replace_it(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    energy, power = plant.points["M1.energy"], plant.points["M1.power"]
    rows: list[Row] = [  # newest not last, to show it is chosen by time, not by order
        (1, "M1.energy", NOW_MS - 3_000, 1.0),
        (2, "M1.power", NOW_MS - 1_000, 20.0),
        (3, "M1.energy", NOW_MS - 1_000, 3.0),
        (4, "M1.power", NOW_MS - 2_000, 10.0),
        (5, "M1.energy", NOW_MS - 2_000, 2.0),
    ]
    ingestor = make_ingestor()
    ingestor.handle([batch(plant, rows)])
    assert latest(connect, plant.schema) == {
        energy: (utc(NOW_MS - 1_000), 3.0),
        power: (utc(NOW_MS - 1_000), 20.0),
    }

    late: list[Row] = [(6, "M1.energy", NOW_MS - 60_000, 0.5), (7, "M1.power", NOW_MS, 30.0)]
    outcome = ingestor.handle([batch(plant, late)])
    assert outcome.inserted == 2  # the late reading is stored...
    assert stored(connect, plant.schema)[(energy, utc(NOW_MS - 60_000))] == 0.5
    assert latest(connect, plant.schema) == {  # ...but is not the real-time value
        energy: (utc(NOW_MS - 1_000), 3.0),
        power: (utc(NOW_MS), 30.0),
    }


def test_a_refused_reading_never_becomes_the_latest_value(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    rows: list[Row] = [(1, "M2.flow", NOW_MS - 1_000, 12.0), (2, "M2.flow", NOW_MS, 9_999.0)]
    outcome = make_ingestor().handle([batch(plant, rows)])
    assert (outcome.inserted, outcome.quarantined) == (1, 1)
    assert latest(connect, plant.schema) == {plant.points["M2.flow"]: (utc(NOW_MS - 1_000), 12.0)}


# -- 3. network layer -------------------------------------------------------------------------


def assert_refused_whole(
    connect: Connect, plant: Plant, outcome: Outcome, messages: list[Message], layer: str
) -> list[dict[str, Any]]:
    """Each message is in the plant's quarantine whole, nothing is stored or acknowledged."""
    entries = quarantine(connect, plant.schema)
    assert outcome.acks == []
    assert outcome.inserted == outcome.stored == 0
    assert outcome.quarantined == len(messages) == len(entries)
    assert count_readings(connect, plant.schema) == {}
    for entry, message in zip(entries, messages, strict=True):
        assert entry["gateway_id"] == plant.gateway
        assert entry["channel"] == wire.parse_topic(message.topic)[1].value
        assert entry["layer"] == layer
        assert entry["reason"]
        assert bytes(entry["payload"]) == message.payload[:RAW_KEEP]
        assert entry["payload_size"] == len(message.payload)
        assert entry["point_code"] is None and entry["seq"] is None and entry["value"] is None
    return entries


ROWS: list[Row] = [(1, "M1.energy", NOW_MS - 1_000, 1.0), (2, "M1.power", NOW_MS, 2.0)]


def test_a_batch_signed_with_another_key_is_refused_at_the_network_layer(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    message = batch(plant, ROWS, key=Ed25519PrivateKey.generate())
    outcome = make_ingestor().handle([message])
    (entry,) = assert_refused_whole(connect, plant, outcome, [message], "network")
    assert "signature" in entry["reason"]
    assert outcome.stale == 0


def test_a_payload_for_another_gateway_is_refused_at_the_network_layer(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    a, b = make_plant(), make_plant()
    # B's own valid batch, published on A's topic: A's key does not verify it.
    b_on_a = Message(readings_topic(a.gateway), batch(b, ROWS).payload)
    # Signed by A, but naming B: the signature holds, the names differ.
    a_naming_b = batch(a, ROWS, claimed=b.gateway)
    outcome = make_ingestor().handle([b_on_a, a_naming_b])

    signature, mismatch = assert_refused_whole(connect, a, outcome, [b_on_a, a_naming_b], "network")
    assert "signature" in signature["reason"]
    assert b.gateway in mismatch["reason"] and a.gateway in mismatch["reason"]
    assert count_readings(connect, b.schema) == {}
    assert quarantine(connect, b.schema) == []


def test_stale_and_future_batches_are_counted_and_refused(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    old = batch(plant, ROWS, sent_ms=NOW_MS - 11 * MINUTE_MS)
    early = batch(plant, ROWS, sent_ms=NOW_MS + 6 * MINUTE_MS)
    outcome = make_ingestor().handle([old, early])

    assert outcome.stale == 2
    first, second = assert_refused_whole(connect, plant, outcome, [old, early], "network")
    assert str(11 * MINUTE_MS) in first["reason"]
    assert str(6 * MINUTE_MS) in second["reason"]


def test_the_edges_of_the_freshness_window_are_accepted(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    oldest = batch(plant, [(1, "M1.power", NOW_MS - 1_000, 1.0)], sent_ms=NOW_MS - 10 * MINUTE_MS)
    newest = batch(plant, [(2, "M1.power", NOW_MS, 2.0)], sent_ms=NOW_MS + 5 * MINUTE_MS)
    outcome = make_ingestor().handle([oldest, newest])
    assert (outcome.stale, outcome.quarantined, outcome.inserted) == (0, 0, 2)
    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 2),)}


def test_a_revoked_gateway_is_refused(
    make_plant: Any, make_ingestor: Any, connect: Connect, database: Any
) -> None:
    from ems_tenants import gateways
    from ems_tenants.models import Gateway

    plant = make_plant()
    with database.transaction() as session:
        gateways.revoke(session, session.get(Gateway, plant.gateway))
    message = batch(plant, ROWS)
    outcome = make_ingestor().handle([message])
    (entry,) = assert_refused_whole(connect, plant, outcome, [message], "network")
    assert "revoked" in entry["reason"]


def test_after_a_rotation_the_previous_key_verifies_during_its_grace_only(
    make_plant: Any,
    make_ingestor: Any,
    connect: Connect,
    database: Any,
    dc_key: Any,
    dc_name: str,
) -> None:
    from ems_tenants import gateways
    from ems_tenants.models import Gateway

    plant = make_plant()
    with database.transaction() as session:
        issued = gateways.rotate(session, session.get(Gateway, plant.gateway))
        new_key = private_key(issued.signing_key)
    old_rows: list[Row] = [(1, "M1.power", NOW_MS - 2_000, 1.0)]
    new_rows: list[Row] = [(2, "M1.power", NOW_MS - 1_000, 2.0)]
    outcome = make_ingestor().handle(
        [batch(plant, old_rows, key=plant.key), batch(plant, new_rows, key=new_key)]
    )
    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 2),)}
    assert stored(connect, plant.schema) == expected(plant, old_rows + new_rows)

    forged = batch(plant, [(3, "M1.power", NOW_MS, 3.0)], key=Ed25519PrivateKey.generate())
    refused = make_ingestor().handle([forged])
    assert refused.acks == [] and refused.inserted == 0
    (entry,) = quarantine(connect, plant.schema)
    assert entry["layer"] == "network" and bytes(entry["payload"]) == forged.payload

    # Once the grace (gateways.KEY_GRACE) is over, the previous key is refused.
    after = (datetime.now(UTC) + gateways.KEY_GRACE + timedelta(hours=1)).timestamp()
    late = make_ingestor(registry_clock=lambda: after)
    expired = batch(plant, [(4, "M1.power", NOW_MS, 4.0)], key=plant.key)
    fresh = batch(plant, [(5, "M1.power", NOW_MS, 5.0)], key=new_key)
    outcome = late.handle([expired, fresh])
    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((5, 5),)}
    entries = quarantine(connect, plant.schema)
    assert [(e["layer"], bytes(e["payload"])) for e in entries[1:]] == [
        ("network", expired.payload)
    ]


# -- 4. communication layer -------------------------------------------------------------------


def test_signed_bytes_that_are_not_a_batch_are_refused_at_the_communication_layer(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    real = wire.encode_batch(plant.gateway, "cfg-1", ROWS, NOW_MS, plant.key, compress=False)
    signed_part = real[:-64]
    wrong_magic = resign(plant, b"XXXX" + signed_part[4:])
    truncated = resign(plant, signed_part[:-8])  # one value short, signed as such
    nan_value = resign(plant, signed_part[:-8] + struct.pack("<d", math.nan))
    outcome = make_ingestor().handle([wrong_magic, truncated, nan_value])

    messages = [wrong_magic, truncated, nan_value]
    entries = assert_refused_whole(connect, plant, outcome, messages, "communication")
    assert "magic" in entries[0]["reason"]
    assert "nan" in entries[2]["reason"].lower()
    assert outcome.stale == 0


def test_a_batch_cut_short_fails_its_signature_so_the_network_layer_refuses_it(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    cut = Message(readings_topic(plant.gateway), batch(plant, ROWS).payload[:-10])
    outcome = make_ingestor().handle([cut])
    (entry,) = assert_refused_whole(connect, plant, outcome, [cut], "network")
    assert "signature" in entry["reason"]


def test_garbage_on_a_json_channel_is_refused_at_the_communication_layer(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    garbage = Message(wire.topic(plant.gateway, wire.Channel.EVENTS), b"\x00\xffnot json{")
    outcome = make_ingestor().handle([garbage])
    assert_refused_whole(connect, plant, outcome, [garbage], "communication")


# -- 5. business layer ------------------------------------------------------------------------


def test_readings_refused_one_by_one_are_quarantined_and_the_batch_acknowledged(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    oldest_ms = NOW_MS - retention_days(connect, plant) * DAY_MS
    newest_ms = NOW_MS + wire.MAX_CLOCK_AHEAD_MS
    good: list[Row] = [
        (1, "M1.energy", NOW_MS - 1_000, 100.0),
        (3, "M2.flow", NOW_MS - 3_000, 0.0),  # the limits themselves are inside
        (5, "M2.flow", NOW_MS - 5_000, 500.0),
        (8, "M1.power", newest_ms, 8.0),  # exactly as far ahead as allowed
        (10, "M1.power", oldest_ms, 10.0),  # exactly as old as the retention
    ]
    bad: list[tuple[Row, str]] = [
        ((2, "M9.nothing", NOW_MS - 2_000, 2.0), "M9.nothing"),
        ((4, "M2.flow", NOW_MS - 4_000, 500.5), repr(500.5)),
        ((6, "M2.flow", NOW_MS - 6_000, -0.25), repr(-0.25)),
        ((7, "M1.power", newest_ms + 1, 7.0), "clock"),
        ((9, "M1.power", oldest_ms - 1, 9.0), "retention"),
    ]
    rows = sorted(good + [row for row, _ in bad])
    outcome = make_ingestor().handle([batch(plant, rows)])

    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 10),)}
    assert outcome.inserted == outcome.stored == len(good)
    assert outcome.quarantined == len(bad)
    assert stored(connect, plant.schema) == expected(plant, good)
    entries = quarantine(connect, plant.schema)
    assert len(entries) == len(bad)
    for entry, ((seq, code, ts, value), word) in zip(entries, bad, strict=True):
        assert entry["layer"] == "business"
        assert entry["channel"] == "readings"
        assert entry["gateway_id"] == plant.gateway
        assert (entry["seq"], entry["point_code"], entry["ts"]) == (seq, code, utc(ts))
        assert bits(entry["value"]) == bits(value)
        assert word in entry["reason"], entry["reason"]
        assert entry["payload"] is None


def test_a_repeat_with_a_different_value_is_a_conflict_and_changes_nothing(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    ingestor = make_ingestor()
    original: list[Row] = [(1, "M1.energy", NOW_MS, 100.0)]
    ingestor.handle([batch(plant, original)])

    conflicting: list[Row] = [(1, "M1.energy", NOW_MS, 101.0), (2, "M1.power", NOW_MS, 1.0)]
    outcome = ingestor.handle([batch(plant, conflicting)])

    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 2),)}
    assert outcome.inserted == 1
    assert outcome.quarantined == 1
    assert stored(connect, plant.schema) == expected(plant, original + conflicting[1:])
    (entry,) = quarantine(connect, plant.schema)
    assert entry["layer"] == "business" and entry["channel"] == "readings"
    assert (entry["gateway_id"], entry["point_code"]) == (plant.gateway, "M1.energy")
    assert (entry["ts"], entry["value"]) == (utc(NOW_MS), 101.0)
    assert "conflict" in entry["reason"] and repr(100.0) in entry["reason"]
    # The real-time value is the stored reading, not the refused one.
    assert latest(connect, plant.schema)[energy] == (utc(NOW_MS), 100.0)


def test_a_reading_absurdly_far_in_the_future_is_quarantined_not_fatal(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    # A meter clock glitch: ts_ms 10**15 (year ~33658) is valid on the wire (0..2**63-1)
    # and must be refused as clock skew like any reading ahead of the clock.
    plant = make_plant()
    good: list[Row] = [(1, "M1.power", NOW_MS, 1.0)]
    glitch: Row = (2, "M1.power", 10**15, 2.0)
    outcome = make_ingestor().handle([batch(plant, [*good, glitch])])

    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 2),)}
    assert stored(connect, plant.schema) == expected(plant, good)
    (entry,) = quarantine(connect, plant.schema)
    assert (entry["layer"], entry["seq"], entry["point_code"]) == ("business", 2, "M1.power")
    assert "clock" in entry["reason"]


@pytest.mark.parametrize("channel", [wire.Channel.EVENTS, wire.Channel.STATUS])
def test_an_event_or_status_absurdly_far_in_the_future_does_not_block_the_flush(
    make_plant: Any,
    make_ingestor: Any,
    connect: Connect,
    dc_key: Any,
    dc_name: str,
    channel: wire.Channel,
) -> None:
    # at_ms 10**15 (year ~33658) is valid on the wire (0..2**63-1); whatever the ingest
    # makes of it, the good batch of the same flush is committed and the message kept.
    plant = make_plant()
    far = 10**15
    if channel is wire.Channel.EVENTS:
        event = wire.Event(far, wire.EventKind.CLOCK_SET, "clock glitch")
        payload = wire.encode_events(wire.Events(plant.gateway, (event,)), plant.key)
        table = "gateway_events"
    else:
        status = wire.Status(plant.gateway, wire.GatewayState.ONLINE, far, {})
        payload = wire.encode_status(status, plant.key)
        table = "gateway_state WHERE state IS NOT NULL"
    odd = Message(wire.topic(plant.gateway, channel), payload)
    good: list[Row] = [(1, "M1.power", NOW_MS, 1.0)]
    outcome = make_ingestor().handle([batch(plant, good), odd])

    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 1),)}
    assert stored(connect, plant.schema) == expected(plant, good)
    ((kept_rows,),) = query(connect, f"SELECT count(*) FROM {{}}.{table}", plant.schema)
    kept = kept_rows + len(quarantine(connect, plant.schema)) + len(rejects(connect, odd.topic))
    assert kept == 1


# -- 6. unattributable messages ---------------------------------------------------------------


def test_an_unknown_gateway_is_kept_in_the_rejects(
    make_ingestor: Any, connect: Connect, make_plant: Any
) -> None:
    plant = make_plant()
    stranger = f"zz-{uuid.uuid4().hex[:12]}"
    payload = wire.encode_batch(stranger, "cfg", ROWS, NOW_MS, plant.key)
    message = Message(readings_topic(stranger), payload)
    outcome = make_ingestor().handle([message])

    assert outcome.rejected == 1 and outcome.acks == [] and outcome.quarantined == 0
    ((reason, kept, size),) = rejects(connect, message.topic)
    assert stranger in reason
    assert (bytes(kept), size) == (payload, len(payload))


@pytest.mark.parametrize(
    "topic",
    [
        "factory/{tag}/temperature",
        "ems/v1/gw/gw-{tag}/nonsense",
        "ems/v2/gw/gw-{tag}/readings",
        "ems/v1/gw/Bad_Id_{tag}/readings",
    ],
)
def test_a_topic_that_is_not_an_ems_topic_is_kept_in_the_rejects(
    make_ingestor: Any, connect: Connect, topic: str
) -> None:
    name = topic.format(tag=uuid.uuid4().hex[:10])
    payload = b"some bytes \x00\x01"
    outcome = make_ingestor().handle([Message(name, payload)])
    assert outcome.rejected == 1 and outcome.acks == []
    ((reason, kept, size),) = rejects(connect, name)
    assert reason
    assert (bytes(kept), size) == (payload, len(payload))


def test_a_huge_payload_keeps_its_first_64_kib_and_its_full_size(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    size = 1 << 20
    garbage = (bytes(range(251)) * (size // 251 + 1))[:size]
    unknown_topic = readings_topic(f"zz-{uuid.uuid4().hex[:12]}")
    known = Message(readings_topic(plant.gateway), garbage)
    outcome = make_ingestor().handle([Message(unknown_topic, garbage), known])

    assert RAW_KEEP == 65_536
    ((_, kept, kept_size),) = rejects(connect, unknown_topic)
    assert (bytes(kept), kept_size) == (garbage[:65_536], size)
    # On a known gateway's topic the same rule holds in the tenant's quarantine.
    (entry,) = assert_refused_whole(connect, plant, outcome, [known], "network")
    assert (len(entry["payload"]), entry["payload_size"]) == (65_536, size)


def test_garbage_does_not_stop_the_good_batches_of_the_same_flush(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    tag = uuid.uuid4().hex[:10]
    noise = [
        Message(f"not/ems/{tag}", b"\x00" * 10),
        Message(readings_topic(f"zz-{tag}"), b"junk"),
        Message(wire.topic(plant.gateway, wire.Channel.STATUS), b"{]"),
    ]
    good: list[Row] = [(1, "M1.power", NOW_MS, 1.0), (2, "M1.energy", NOW_MS, 2.0)]
    outcome = make_ingestor().handle([noise[0], batch(plant, good), noise[1], noise[2]])

    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 2),)}
    assert stored(connect, plant.schema) == expected(plant, good)
    assert (outcome.rejected, outcome.quarantined) == (2, 1)
    assert len(rejects(connect, noise[0].topic)) == len(rejects(connect, noise[1].topic)) == 1
    (entry,) = quarantine(connect, plant.schema)
    assert (entry["channel"], entry["layer"]) == ("status", "communication")


def test_a_message_the_database_refuses_is_rejected_and_the_rest_committed(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    # A NUL in a JSON string is valid on the wire, but PostgreSQL text cannot hold it.
    plant = make_plant()
    poison_event = wire.Event(NOW_MS, wire.EventKind.METER_FAULT, "bad\x00byte")
    poison = Message(
        wire.topic(plant.gateway, wire.Channel.EVENTS),
        wire.encode_events(wire.Events(plant.gateway, (poison_event,)), plant.key),
    )
    good: list[Row] = [(1, "M1.power", NOW_MS, 1.0)]
    outcome = make_ingestor().handle([batch(plant, good), poison])

    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 1),)}
    assert stored(connect, plant.schema) == expected(plant, good)
    assert outcome.rejected == 1
    ((reason, kept, size),) = rejects(connect, poison.topic)
    assert reason and (bytes(kept), size) == (poison.payload, len(poison.payload))


def test_a_message_on_a_channel_the_ingest_does_not_consume_is_kept_not_fatal(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    # parse_topic accepts every channel, the cloud -> agent ones too (commands, ack/{dc});
    # handle() must not crash on one it has no decoder for, nor drop the message silently.
    plant = make_plant()
    odd = Message(wire.topic(plant.gateway, wire.Channel.COMMANDS), b'{"not":"for the cloud"}')
    good: list[Row] = [(1, "M1.power", NOW_MS, 1.0)]
    outcome = make_ingestor().handle([odd, batch(plant, good)])

    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 1),)}
    assert stored(connect, plant.schema) == expected(plant, good)
    kept = [bytes(e["payload"]) for e in quarantine(connect, plant.schema)]
    kept += [bytes(p) for _, p, _ in rejects(connect, odd.topic)]
    assert kept == [odd.payload]


# -- 7. events, completeness ledgers, status, gateway state -----------------------------------


def test_events_are_stored_once_however_often_they_come(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    events = (
        wire.Event(NOW_MS - 5_000, wire.EventKind.METER_FAULT, "no answer", "bus1", "m1", None),
        wire.Event(NOW_MS - 4_000, wire.EventKind.RECOVERED, "answers again", "bus1", "m1"),
        wire.Event(NOW_MS - 3_000, wire.EventKind.AGENT_STARTED, "started"),  # no where: NULLs
    )
    message = Message(
        wire.topic(plant.gateway, wire.Channel.EVENTS),
        wire.encode_events(wire.Events(plant.gateway, events, seq=7), plant.key),
    )
    ingestor = make_ingestor()
    ingestor.handle([message, message])
    ingestor.handle([message])

    got = query(
        connect,
        "SELECT gateway_id, at, kind, reason, bus, meter, point FROM {}.gateway_events ORDER BY at",
        plant.schema,
    )
    assert got == [
        (plant.gateway, utc(e.at_ms), str(e.kind), e.reason, e.bus, e.meter, e.point)
        for e in events
    ]


def test_a_later_completeness_ledger_supersedes_an_earlier_one(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    day_ms = NOW_MS - NOW_MS % DAY_MS
    day = wire.utc_day(day_ms)

    def ledger(at_ms: int, values: list[float]) -> tuple[Message, dict[str, Any]]:
        acc = wire.DigestAccumulator()
        for i, value in enumerate(values):
            acc.add(day_ms + i * 900_000, value)
        entry = wire.PointLedger(acc.count, 96 - acc.count, acc.hexdigest())
        payload = wire.encode_completeness(
            wire.Completeness(plant.gateway, day, at_ms, {"M1.energy": entry}), plant.key
        )
        points = {"M1.energy": {"count": entry.count, "gaps": entry.gaps, "digest": entry.digest}}
        return Message(wire.topic(plant.gateway, wire.Channel.COMPLETENESS), payload), points

    def held() -> list[tuple[Any, ...]]:
        return query(
            connect, "SELECT gateway_id, day, at_ms, points FROM {}.gateway_ledgers", plant.schema
        )

    early, early_points = ledger(NOW_MS - 60_000, [1.0])
    later, later_points = ledger(NOW_MS - 30_000, [1.0, 2.0])
    latest_msg, latest_points = ledger(NOW_MS, [1.0, 2.0, 3.0])
    ingestor = make_ingestor()

    ingestor.handle([later, early])  # in one flush, the later wins whatever the order
    assert held() == [(plant.gateway, date.fromisoformat(day), NOW_MS - 30_000, later_points)]
    ingestor.handle([early])  # an earlier one in a later flush changes nothing
    assert held() == [(plant.gateway, date.fromisoformat(day), NOW_MS - 30_000, later_points)]
    ingestor.handle([latest_msg])
    assert held() == [(plant.gateway, date.fromisoformat(day), NOW_MS, latest_points)]
    assert early_points != later_points != latest_points


def test_the_status_with_the_newest_at_ms_wins(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    topic = wire.topic(plant.gateway, wire.Channel.STATUS)

    def status(state: wire.GatewayState, at_ms: int, info: dict[str, Any]) -> Message:
        return Message(
            topic, wire.encode_status(wire.Status(plant.gateway, state, at_ms, info), plant.key)
        )

    def state() -> list[tuple[Any, ...]]:
        return query(
            connect, "SELECT gateway_id, state, state_at, info FROM {}.gateway_state", plant.schema
        )

    online = status(wire.GatewayState.ONLINE, NOW_MS, {"version": "2.0", "buffer": 3})
    older = status(wire.GatewayState.OFFLINE, NOW_MS - 10_000, {})
    ingestor = make_ingestor()
    ingestor.handle([online, older])
    assert state() == [(plant.gateway, "online", utc(NOW_MS), {"version": "2.0", "buffer": 3})]
    ingestor.handle([older])  # a retained, older status delivered late
    assert state() == [(plant.gateway, "online", utc(NOW_MS), {"version": "2.0", "buffer": 3})]
    ingestor.handle([status(wire.GatewayState.OFFLINE, NOW_MS + 1_000, {})])
    assert state() == [(plant.gateway, "offline", utc(NOW_MS + 1_000), {})]


def test_gateway_state_counts_the_readings_and_keeps_the_highest_seq(
    make_plant: Any, make_ingestor: Any, connect: Connect
) -> None:
    plant = make_plant()
    first: list[Row] = [(s, "M1.power", NOW_MS - 10_000 + s, float(s)) for s in (1, 2, 3)]
    second: list[Row] = [(s, "M1.power", NOW_MS - 10_000 + s, float(s)) for s in (10, 12)]
    third: list[Row] = [(s, "M1.energy", NOW_MS - 10_000 + s, float(s)) for s in (20, 21, 22, 23)]
    ingestor = make_ingestor()
    ingestor.handle([batch(plant, first, config="c1")])
    ingestor.handle([batch(plant, second, config="c2"), batch(plant, third, config="c3")])

    ((total, last_seq, config, last_batch_at),) = query(
        connect,
        "SELECT readings_total, last_seq, config_version, last_batch_at FROM {}.gateway_state",
        plant.schema,
    )
    assert total == len(first) + len(second) + len(third)
    assert last_seq == third[-1][0]
    assert config == "c3"
    assert last_batch_at is not None

    ingestor.handle([batch(plant, first, config="c1")])  # a late resend of old seqs
    ((again,),) = query(connect, "SELECT last_seq FROM {}.gateway_state", plant.schema)
    assert again == third[-1][0]


# -- 8. the catalogue reloads on a miss, at most once per 5 s per gateway --------------------


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The registry's monotonic clock, set by the test (``tick[0]``)."""
    tick = [1_000.0]
    monkeypatch.setattr(
        registry_module, "time", SimpleNamespace(monotonic=lambda: tick[0], time=time.time)
    )
    return tick


def test_a_point_registered_later_is_accepted_and_misses_reload_at_most_every_5_s(
    make_plant: Any,
    make_ingestor: Any,
    connect: Connect,
    database: Any,
    dc_key: Any,
    dc_name: str,
    monotonic: list[float],
) -> None:
    plant = make_plant()
    ingestor = make_ingestor()
    ingestor.handle([batch(plant, [(1, "M1.power", NOW_MS - 9_000, 1.0)])])  # cached

    add_point(database, plant, "M3.temp")  # after the catalogue was cached
    outcome = ingestor.handle([batch(plant, [(2, "M3.temp", NOW_MS - 8_000, 2.0)])])
    assert outcome.inserted == 1 and quarantine(connect, plant.schema) == []

    add_point(database, plant, "M4.temp")
    monotonic[0] += registry_module.MISS_INTERVAL - 1  # too soon for another reload
    outcome = ingestor.handle([batch(plant, [(3, "M4.temp", NOW_MS - 7_000, 3.0)])])
    assert outcome.inserted == 0
    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((3, 3),)}
    (entry,) = quarantine(connect, plant.schema)
    assert (entry["layer"], entry["point_code"], entry["seq"]) == ("business", "M4.temp", 3)

    monotonic[0] += 2  # now past the interval since the last reload on a miss
    outcome = ingestor.handle([batch(plant, [(4, "M4.temp", NOW_MS - 6_000, 4.0)])])
    assert outcome.inserted == 1

    add_point(database, plant, "M5.temp")
    ingestor.registry.forget()  # a caller that knows of the change need not wait
    outcome = ingestor.handle([batch(plant, [(5, "M5.temp", NOW_MS - 5_000, 5.0)])])
    assert outcome.inserted == 1
    assert count_readings(connect, plant.schema) == {
        plant.points[code]: 1 for code in ("M1.power", "M3.temp", "M4.temp", "M5.temp")
    }


def test_a_gateway_registered_later_is_accepted_on_a_miss(
    make_plant: Any, make_ingestor: Any, connect: Connect, monotonic: list[float]
) -> None:
    a = make_plant()
    ingestor = make_ingestor()
    assert ingestor.handle([batch(a, ROWS)]).inserted == 2  # the registry is loaded

    b = make_plant()
    assert ingestor.handle([batch(b, ROWS)]).inserted == 2  # first miss: reloaded

    c = make_plant()
    monotonic[0] += 1  # a second miss so soon is not reloaded: C is unknown for now
    message = batch(c, ROWS)
    outcome = ingestor.handle([message])
    assert (outcome.rejected, outcome.inserted) == (1, 0)
    assert len(rejects(connect, message.topic)) == 1

    monotonic[0] += registry_module.MISS_INTERVAL
    assert ingestor.handle([message]).inserted == 2
    assert stored(connect, c.schema) == expected(c, ROWS)


# -- 9. the database goes away ----------------------------------------------------------------


def test_an_unreachable_database_raises_and_nothing_is_written(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    up = [False]

    def flaky() -> psycopg.Connection:
        if not up[0]:
            raise psycopg.OperationalError("connection refused (the test's database is down)")
        return connect()

    ingestor = make_ingestor(db=flaky)
    stranger = Message(readings_topic(f"zz-{uuid.uuid4().hex[:12]}"), b"junk")
    good: list[Row] = [(1, "M1.power", NOW_MS, 1.0)]
    messages = [
        batch(plant, good),
        batch(plant, ROWS, key=Ed25519PrivateKey.generate()),  # for the quarantine
        stranger,  # for the rejects
    ]
    with pytest.raises(psycopg.OperationalError):
        ingestor.handle(messages)
    assert count_readings(connect, plant.schema) == {}
    assert quarantine(connect, plant.schema) == []
    assert rejects(connect, stranger.topic) == []

    up[0] = True
    outcome = ingestor.handle(messages)
    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((1, 1),)}
    assert (outcome.inserted, outcome.quarantined, outcome.rejected) == (1, 1, 1)
    assert stored(connect, plant.schema) == expected(plant, good)


def test_a_connection_killed_between_flushes_raises_then_the_next_flush_reconnects(
    make_plant: Any, make_ingestor: Any, connect: Connect, dc_key: Any, dc_name: str
) -> None:
    plant = make_plant()
    opened: list[psycopg.Connection] = []

    def tracking() -> psycopg.Connection:
        conn = connect()
        opened.append(conn)
        return conn

    ingestor = make_ingestor(db=tracking)
    first: list[Row] = [(1, "M1.power", NOW_MS - 1_000, 1.0)]
    assert ingestor.handle([batch(plant, first)]).inserted == 1
    (conn,) = opened
    with connect() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

    second: list[Row] = [(2, "M1.power", NOW_MS, 2.0)]
    message = batch(plant, second)
    with pytest.raises(psycopg.OperationalError):
        ingestor.handle([message])
    assert stored(connect, plant.schema) == expected(plant, first)

    outcome = ingestor.handle([message])
    assert len(opened) == 2 and opened[1] is not conn
    assert acked(outcome, dc_key, dc_name) == {plant.gateway: ((2, 2),)}
    assert stored(connect, plant.schema) == expected(plant, first + second)
