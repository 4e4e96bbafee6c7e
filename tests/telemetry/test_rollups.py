"""Rollups on the real PostgreSQL test database: readings -> 15 min -> hour -> day -> month.

Readings are written as the ingest writes them (the month partition, the
readings and a ``dirty_ranges`` row in one transaction), then rolled up by
:func:`ems.telemetry.rollups.process_dirty`. Every expected value is worked out
by hand in the test as arithmetic; the values are chosen to be exact in binary
floating point, so the comparisons are exact.

Zones: Asia/Shanghai is UTC+8 all year (a local day starts at 16:00 UTC the day
before); Europe/Berlin is UTC+1, and UTC+2 from 2026-03-29 01:00 UTC (local
02:00 becomes 03:00), so that local day runs 2026-03-28 23:00 UTC to
2026-03-29 22:00 UTC: 23 hours.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from ems.telemetry import partitions, rollups
from ems.telemetry.intervals import Flag, Quality
from tests.ingest import conftest as ingest_fixtures
from tests.ingest.conftest import Plant

# The ingest tests' fixtures: a provisioned tenant with a gateway and points,
# and autocommit psycopg connections to the test database.
make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect

SHANGHAI = "Asia/Shanghai"
BERLIN = "Europe/Berlin"
NONE = 0
Connect = Callable[[], psycopg.Connection]
MakePlant = Callable[..., Plant]
Row = tuple[Any, ...]


def utc(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def every(start: datetime, count: int, step: timedelta = timedelta(minutes=15)) -> list[datetime]:
    return [start + i * step for i in range(count)]


def write(
    connect: Connect,
    schema: str,
    point: int,
    readings: Iterable[tuple[datetime, float] | tuple[datetime, float, int]],
) -> int:
    """Store readings and their dirty range in one transaction, as the ingest does.

    Returns the dirty range's id.
    """
    rows = [(r[0], r[1], r[2] if len(r) == 3 else Quality.VALID) for r in readings]
    with connect() as conn:
        with conn.transaction():
            partitions.ensure(conn, schema, {date(ts.year, ts.month, 1) for ts, _, _ in rows})
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "INSERT INTO {}.readings (point, ts, value, quality) VALUES (%s, %s, %s, %s)"
                ).format(sql.Identifier(schema)),
                [(point, ts, value, int(quality)) for ts, value, quality in rows],
            )
            return mark_dirty(
                cur, schema, [point], min(r[0] for r in rows), max(r[0] for r in rows)
            )


def mark_dirty(
    cur: psycopg.Cursor[Any], schema: str, points: list[int], low: datetime, high: datetime
) -> int:
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.dirty_ranges (points, from_ts, to_ts, created_at) "
            "VALUES (%s, %s, %s, now()) RETURNING id"
        ).format(sql.Identifier(schema)),
        (points, low, high),
    )
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


def roll(database: Any, schema: str, tz: str) -> list[rollups.DirtyRun]:
    """process_dirty until no dirty range is left."""
    runs = []
    while True:
        run = rollups.process_dirty(database, schema, tz)
        assert not run.busy
        runs.append(run)
        if run.ranges == 0:
            return runs


def point_rows(connect: Connect, schema: str, point: int, grain: str) -> dict[datetime, Row]:
    """start -> (consumption, minimum, maximum, mean, count, flags) of one point and grain."""
    with connect() as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT start, consumption, minimum, maximum, mean, count, flags "
                "FROM {}.point_rollups WHERE point = %s AND grain = %s ORDER BY start"
            ).format(sql.Identifier(schema)),
            (point, grain),
        ).fetchall()
    return {row[0].astimezone(UTC): tuple(row[1:]) for row in rows}


def consumption(connect: Connect, schema: str, point: int, grain: str) -> dict[datetime, Row]:
    """start -> (consumption, count, flags) of a cumulative point."""
    return {
        start: (row[0], row[4], row[5])
        for start, row in point_rows(connect, schema, point, grain).items()
    }


def category_rows(
    connect: Connect, schema: str, grain: str
) -> dict[tuple[str, str, datetime], Row]:
    """(energy type, unit, start) -> (consumption, points, flags)."""
    with connect() as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT energy_type, unit, start, consumption, points, flags "
                "FROM {}.category_rollups WHERE grain = %s"
            ).format(sql.Identifier(schema)),
            (grain,),
        ).fetchall()
    return {(r[0], r[1], r[2].astimezone(UTC)): (r[3], r[4], r[5]) for r in rows}


def snapshot(connect: Connect, schema: str) -> dict[str, list[Row]]:
    """Every rollup row of the tenant, computed_at included."""
    with connect() as conn:
        s = sql.Identifier(schema)
        points = conn.execute(
            sql.SQL("SELECT * FROM {}.point_rollups ORDER BY point, grain, start").format(s)
        ).fetchall()
        categories = conn.execute(
            sql.SQL(
                "SELECT * FROM {}.category_rollups ORDER BY energy_type, unit, grain, start"
            ).format(s)
        ).fetchall()
    return {"points": points, "categories": categories}


def set_point(connect: Connect, schema: str, point: int, **columns: Any) -> None:
    with connect() as conn:
        for name, value in columns.items():
            conn.execute(
                sql.SQL("UPDATE {}.points SET {} = %s WHERE id = %s").format(
                    sql.Identifier(schema), sql.Identifier(name)
                ),
                (value, point),
            )


def set_timezone(database: Any, plant: Plant, tz: str) -> None:
    from ems_tenants.models import Tenant

    with database.transaction() as session:
        tenant = session.get(Tenant, plant.tenant_id)
        assert tenant is not None
        tenant.timezone = tz


# --- a steady counter ------------------------------------------------------------------------


def test_steady_counter_in_shanghai(make_plant: MakePlant, connect: Connect, database: Any) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    # Local day 2026-03-10 in Shanghai = 2026-03-09 16:00 UTC .. 2026-03-10 16:00 UTC.
    # 97 readings, one per quarter hour, from 1000.0 up by 2.5 each: the last is
    # at local midnight 2026-03-11 and reads 1000 + 96 * 2.5 = 1240.
    start = utc(3, 9, 16)
    write(
        connect,
        plant.schema,
        energy,
        [(ts, 1000.0 + i * 2.5) for i, ts in enumerate(every(start, 97))],
    )
    runs = roll(database, plant.schema, SHANGHAI)
    assert runs[0].ranges == 1 and runs[0].recomputed.points == 1

    quarters = consumption(connect, plant.schema, energy, "15m")
    # Each step lies wholly in the quarter of its earlier reading; the quarter
    # holding the last reading has nothing after it yet.
    expected = dict.fromkeys(every(start, 96), (2.5, 1, NONE))
    expected[utc(3, 10, 16)] = (0.0, 1, NONE)
    assert quarters == expected

    hours = consumption(connect, plant.schema, energy, "1h")
    expected_hours = dict.fromkeys(every(start, 24, timedelta(hours=1)), (4 * 2.5, 4, NONE))
    expected_hours[utc(3, 10, 16)] = (0.0, 1, NONE)
    assert hours == expected_hours

    days = consumption(connect, plant.schema, energy, "1d")
    assert days == {
        utc(3, 9, 16): (1240.0 - 1000.0, 96, NONE),  # local 2026-03-10, = 96 * 2.5
        utc(3, 10, 16): (0.0, 1, NONE),  # local 2026-03-11: its first reading only
    }
    # Local March 2026 starts 2026-02-28 16:00 UTC.
    assert consumption(connect, plant.schema, energy, "1mo") == {
        utc(2, 28, 16): (1240.0 - 1000.0, 97, NONE)
    }
    # The category electricity/kWh is that one counter.
    assert category_rows(connect, plant.schema, "1d") == {
        ("electricity", "kWh", utc(3, 9, 16)): (240.0, 1, NONE),
        ("electricity", "kWh", utc(3, 10, 16)): (0.0, 1, NONE),
    }
    with connect() as conn:
        left = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.dirty_ranges").format(sql.Identifier(plant.schema))
        ).fetchone()
    assert left == (0,)


# --- late data -------------------------------------------------------------------------------


def test_late_reading_changes_exactly_its_buckets(
    make_plant: MakePlant, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    base = utc(4, 1, 0)

    def at(minutes: int) -> datetime:
        return base + timedelta(minutes=minutes)

    # 3 kWh per quarter hour; the 01:00 reading (112) is missing. 00:45 -> 01:15
    # is 30 minutes, not more than max_gap (2 * 900 s), so it is a normal step
    # of 115 - 109 = 6, spread 3 + 3 over its two quarter hours.
    values = {0: 100.0, 15: 103.0, 30: 106.0, 45: 109.0, 75: 115.0, 90: 118.0, 105: 121.0}
    values[120] = 124.0
    write(connect, plant.schema, energy, [(at(m), v) for m, v in values.items()])
    roll(database, plant.schema, SHANGHAI)
    before = snapshot(connect, plant.schema)
    quarters = consumption(connect, plant.schema, energy, "15m")
    assert quarters[at(45)] == (3.0, 1, NONE)
    assert quarters[at(60)] == (3.0, 0, NONE)
    assert consumption(connect, plant.schema, energy, "1h") == {
        at(0): (3.0 + 3.0 + 3.0 + 3.0, 4, NONE),
        at(60): (3.0 + 3.0 + 3.0 + 3.0, 3, NONE),
        at(120): (0.0, 1, NONE),
    }
    time.sleep(0.01)  # a later now() for anything rewritten

    # The late reading: 111 at 01:05 (below the straight line, which would say 113).
    write(connect, plant.schema, energy, [(at(65), 111.0)])
    roll(database, plant.schema, SHANGHAI)
    after = snapshot(connect, plant.schema)
    quarters = consumption(connect, plant.schema, energy, "15m")
    # 00:45 -> 01:05 is 111 - 109 = 2 over 20 minutes: 15/20 of it in 00:45,
    # 5/20 in 01:00; 01:05 -> 01:15 is 115 - 111 = 4, all in 01:00.
    assert quarters[at(45)] == (2.0 * 15 / 20, 1, NONE)
    assert quarters[at(60)] == (2.0 * 5 / 20 + (115.0 - 111.0), 1, NONE)
    assert consumption(connect, plant.schema, energy, "1h") == {
        at(0): (3.0 + 3.0 + 3.0 + 1.5, 4, NONE),
        at(60): (4.5 + 3.0 + 3.0 + 3.0, 4, NONE),
        at(120): (0.0, 1, NONE),
    }
    # Local 2026-04-01 (Shanghai) = 03-31 16:00 UTC .. 04-01 16:00 UTC holds them all.
    assert consumption(connect, plant.schema, energy, "1d") == {
        utc(3, 31, 16): (124.0 - 100.0, 9, NONE)
    }

    # Exactly the rows that depend on 01:05 changed (computed_at shows which were rewritten).
    changed = {(row[0], row[1], row[2]) for row in set(after["points"]) - set(before["points"])}
    # Local 2026-04-01 and local April both start at 03-31 16:00 UTC.
    day = month = utc(3, 31, 16)
    assert changed == {
        (energy, "15m", at(45)),
        (energy, "15m", at(60)),
        (energy, "1h", at(0)),
        (energy, "1h", at(60)),
        (energy, "1d", day),  # same total, one more reading
        (energy, "1mo", month),
    }
    assert len(after["points"]) == len(before["points"])
    # The category rows of those buckets changed the same way; the day's total did not.
    assert category_rows(connect, plant.schema, "1h")[("electricity", "kWh", at(0))] == (
        10.5,
        1,
        NONE,
    )
    assert category_rows(connect, plant.schema, "1d")[("electricity", "kWh", day)] == (24.0, 1, 0)


def test_late_data_across_a_local_day_boundary(
    make_plant: MakePlant, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    midnight = utc(4, 1, 16)  # local 2026-04-02 00:00 in Shanghai
    day1, day2 = utc(3, 31, 16), midnight  # local April 1 and April 2

    # Before the late data: 15:00 500, 15:15 505, 15:30 510, then nothing until
    # 16:30 540. 15:30 -> 16:30 is 60 minutes, more than max_gap (30): a gap,
    # booked wholly in the quarter of 16:30, every quarter it spans flagged GAP.
    write(
        connect,
        plant.schema,
        energy,
        [
            (utc(4, 1, 15, 0), 500.0),
            (utc(4, 1, 15, 15), 505.0),
            (utc(4, 1, 15, 30), 510.0),
            (utc(4, 1, 16, 30), 540.0),
        ],
    )
    roll(database, plant.schema, SHANGHAI)
    gap = int(Flag.GAP)
    assert consumption(connect, plant.schema, energy, "1d") == {
        day1: ((505.0 - 500.0) + (510.0 - 505.0) + 0.0 + 0.0, 3, gap),
        day2: (0.0 + 0.0 + (540.0 - 510.0), 1, gap),
    }

    # The late readings fill the gap across local midnight: 15:45 515, 16:00 520, 16:15 530.
    write(
        connect,
        plant.schema,
        energy,
        [(utc(4, 1, 15, 45), 515.0), (utc(4, 1, 16, 0), 520.0), (utc(4, 1, 16, 15), 530.0)],
    )
    roll(database, plant.schema, SHANGHAI)
    assert consumption(connect, plant.schema, energy, "15m") == {
        utc(4, 1, 15, 0): (5.0, 1, NONE),
        utc(4, 1, 15, 15): (5.0, 1, NONE),
        utc(4, 1, 15, 30): (515.0 - 510.0, 1, NONE),
        utc(4, 1, 15, 45): (520.0 - 515.0, 1, NONE),
        utc(4, 1, 16, 0): (530.0 - 520.0, 1, NONE),
        utc(4, 1, 16, 15): (540.0 - 530.0, 1, NONE),
        utc(4, 1, 16, 30): (0.0, 1, NONE),
    }
    # Each local day holds the counter difference across it: 10 kWh moved from April 2 to 1.
    assert consumption(connect, plant.schema, energy, "1d") == {
        day1: (520.0 - 500.0, 4, NONE),
        day2: (540.0 - 520.0, 3, NONE),
    }
    assert category_rows(connect, plant.schema, "1d") == {
        ("electricity", "kWh", day1): (20.0, 1, NONE),
        ("electricity", "kWh", day2): (20.0, 1, NONE),
    }
    # Both days are in local April (starts 03-31 16:00 UTC).
    assert consumption(connect, plant.schema, energy, "1mo") == {day1: (540.0 - 500.0, 7, NONE)}


def test_berlin_dst_day_has_23_hours(
    make_plant: MakePlant, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    set_timezone(database, plant, BERLIN)
    energy = plant.points["M1.energy"]
    # Local 2026-03-29 in Berlin: 03-28 23:00 UTC (00:00 CET) .. 03-29 22:00 UTC
    # (00:00 CEST) = 23 hours = 92 quarter hours. 93 readings up by 1.25.
    start, end = utc(3, 28, 23), utc(3, 29, 22)
    write(
        connect,
        plant.schema,
        energy,
        [(ts, 50.0 + i * 1.25) for i, ts in enumerate(every(start, 93))],
    )
    roll(database, plant.schema, BERLIN)
    hours = consumption(connect, plant.schema, energy, "1h")
    in_day = {ts: row for ts, row in hours.items() if start <= ts < end}
    assert len(in_day) == 23
    assert set(in_day.values()) == {(4 * 1.25, 4, NONE)}
    berlin = ZoneInfo(BERLIN)
    local_hours = [ts.astimezone(berlin).hour for ts in sorted(in_day)]
    assert local_hours == [0, 1, *range(3, 24)]  # 02:00 does not exist that day
    assert consumption(connect, plant.schema, energy, "1d") == {
        start: (92 * 1.25, 92, NONE),  # = (50 + 92 * 1.25) - 50
        end: (0.0, 1, NONE),
    }
    # Local March starts 02-28 23:00 UTC (CET).
    assert consumption(connect, plant.schema, energy, "1mo") == {
        utc(2, 28, 23): (92 * 1.25, 93, NONE)
    }


# --- rollover, replacement, quality ----------------------------------------------------------


def test_rollover_and_replacement(make_plant: MakePlant, connect: Connect, database: Any) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    set_point(connect, plant.schema, energy, rollover_max=10000.0)

    def at(minutes: int) -> datetime:
        return utc(5, 4, 0) + timedelta(minutes=minutes)

    # 9990, 9998, (rolls over) 6, 16, then the meter is replaced at 00:50: the
    # old one read 20 at the end, the new one started at 0 and reads 3, then 10.
    values = {0: 9990.0, 15: 9998.0, 30: 6.0, 45: 16.0, 60: 3.0, 75: 10.0}
    write(connect, plant.schema, energy, [(at(m), v) for m, v in values.items()])
    roll(database, plant.schema, SHANGHAI)
    rollover, negative, replacement = int(Flag.ROLLOVER), int(Flag.NEGATIVE), int(Flag.REPLACEMENT)
    # Not recorded yet: 16 -> 3 is a negative step (3 < 0.5 * 10000 but 16 is not
    # near the top either), counted 0 and flagged.
    assert consumption(connect, plant.schema, energy, "15m")[at(45)] == (0.0, 1, negative)

    with database.transaction(plant.schema) as session:
        recorded = rollups.record_replacement(session, energy, at(50), 20.0, 0.0, "meter swap")
        assert recorded.id is not None
    roll(database, plant.schema, SHANGHAI)
    assert consumption(connect, plant.schema, energy, "15m") == {
        at(0): (9998.0 - 9990.0, 1, NONE),
        at(15): ((10000.0 - 9998.0) + 6.0, 1, rollover),
        at(30): (16.0 - 6.0, 1, NONE),
        at(45): ((20.0 - 16.0) + (3.0 - 0.0), 1, replacement),
        at(60): (10.0 - 3.0, 1, NONE),
        at(75): (0.0, 1, NONE),
    }
    assert consumption(connect, plant.schema, energy, "1h") == {
        at(0): (8.0 + 8.0 + 10.0 + 7.0, 4, rollover | replacement),
        at(60): (7.0 + 0.0, 2, NONE),
    }
    # Local 2026-05-04 in Shanghai starts 05-03 16:00 UTC.
    assert consumption(connect, plant.schema, energy, "1d") == {
        utc(5, 3, 16): (8.0 + 8.0 + 10.0 + 7.0 + 7.0, 6, rollover | replacement)
    }


def test_instantaneous_statistics_weighted_by_counts(
    make_plant: MakePlant, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    power = plant.points["M1.power"]

    def at(minutes: int) -> datetime:
        return utc(6, 1, 0) + timedelta(minutes=minutes)

    write(
        connect,
        plant.schema,
        power,
        [
            (at(0), 10.0),
            (at(5), 20.0, Quality.ESTIMATED),
            (at(10), 30.0),
            (at(20), 50.0),
            # nothing in 00:30
            (at(45), 4.0),
            (at(50), 6.0, Quality.SUSPECT),
        ],
    )
    roll(database, plant.schema, SHANGHAI)
    estimated, suspect = int(Flag.ESTIMATED), int(Flag.SUSPECT)
    assert point_rows(connect, plant.schema, power, "15m") == {
        at(0): (None, 10.0, 30.0, (10.0 + 20.0 + 30.0) / 3, 3, estimated),
        at(15): (None, 50.0, 50.0, 50.0, 1, NONE),
        at(45): (None, 4.0, 6.0, (4.0 + 6.0) / 2, 2, suspect),
    }
    # Weighted by counts: (20 * 3 + 50 * 1 + 5 * 2) / 6 = 20, not the mean of means (25).
    hour = (None, 4.0, 50.0, (20.0 * 3 + 50.0 * 1 + 5.0 * 2) / 6, 6, estimated | suspect)
    assert point_rows(connect, plant.schema, power, "1h") == {at(0): hour}
    assert point_rows(connect, plant.schema, power, "1d") == {utc(5, 31, 16): hour}
    assert point_rows(connect, plant.schema, power, "1mo") == {utc(5, 31, 16): hour}
    # Instantaneous points have no category total.
    assert category_rows(connect, plant.schema, "1h") == {}


# --- categories ------------------------------------------------------------------------------


CATEGORY_POINTS = (
    ("M1.energy", "cumulative", "kWh", None, None),
    ("M1.other", "cumulative", "kWh", None, None),
    ("M1.sub", "cumulative", "kWh", None, None),  # a sub-meter: not in the total
    ("M1.big", "cumulative", "MWh", None, None),  # another unit: its own row
    ("M1.power", "instantaneous", "kW", None, None),
    ("M2.water", "cumulative", "m3", None, None),
)


def test_category_rollups(make_plant: MakePlant, connect: Connect, database: Any) -> None:
    plant = make_plant(CATEGORY_POINTS)
    p = plant.points
    set_point(connect, plant.schema, p["M1.sub"], in_category_total=False)
    start = utc(5, 1, 0)  # local 08:00 on 2026-05-01 in Shanghai
    steps = {"M1.energy": 4.0, "M1.other": 1.0, "M1.sub": 2.0, "M1.big": 0.25, "M2.water": 0.5}
    for code, step in steps.items():
        write(
            connect,
            plant.schema,
            p[code],
            [(ts, 100.0 + i * step) for i, ts in enumerate(every(start, 5))],
        )
    write(connect, plant.schema, p["M1.power"], [(start, 7.0)])
    roll(database, plant.schema, SHANGHAI)

    quarters = category_rows(connect, plant.schema, "15m")
    for ts in every(start, 4):
        assert quarters[("electricity", "kWh", ts)] == (4.0 + 1.0, 2, NONE)  # not M1.sub
        assert quarters[("electricity", "MWh", ts)] == (0.25, 1, NONE)
        assert quarters[("water", "m3", ts)] == (0.5, 1, NONE)
    assert quarters[("electricity", "kWh", utc(5, 1, 1))] == (0.0, 2, NONE)
    assert len(quarters) == 3 * 5
    hour = {
        ("electricity", "kWh", start): (4 * 4.0 + 4 * 1.0, 2, NONE),
        ("electricity", "MWh", start): (4 * 0.25, 1, NONE),
        ("water", "m3", start): (4 * 0.5, 1, NONE),
        ("electricity", "kWh", utc(5, 1, 1)): (0.0, 2, NONE),
        ("electricity", "MWh", utc(5, 1, 1)): (0.0, 1, NONE),
        ("water", "m3", utc(5, 1, 1)): (0.0, 1, NONE),
    }
    assert category_rows(connect, plant.schema, "1h") == hour
    day = utc(4, 30, 16)  # local 2026-05-01, and local May
    totals = {
        ("electricity", "kWh", day): (20.0, 2, NONE),
        ("electricity", "MWh", day): (1.0, 1, NONE),
        ("water", "m3", day): (2.0, 1, NONE),
    }
    assert category_rows(connect, plant.schema, "1d") == totals
    assert category_rows(connect, plant.schema, "1mo") == totals

    # The sub-meter joins the total once its flag is set and it is recomputed.
    set_point(connect, plant.schema, p["M1.sub"], in_category_total=True)
    with database.transaction(plant.schema) as session:
        rollups.recompute(session, plant.schema, SHANGHAI, [p["M1.sub"]], start, utc(5, 1, 1))
    assert category_rows(connect, plant.schema, "1d")[("electricity", "kWh", day)] == (
        4 * 4.0 + 4 * 1.0 + 4 * 2.0,
        3,
        NONE,
    )


# --- idempotence and concurrency -------------------------------------------------------------


def test_recompute_twice_gives_the_same_rows(
    make_plant: MakePlant, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    energy, power = plant.points["M1.energy"], plant.points["M1.power"]
    start = utc(7, 1, 15)
    write(connect, plant.schema, energy, [(ts, i * 0.75) for i, ts in enumerate(every(start, 13))])
    write(
        connect, plant.schema, power, [(ts, 3.0 + i % 4) for i, ts in enumerate(every(start, 13))]
    )
    roll(database, plant.schema, SHANGHAI)
    first = snapshot(connect, plant.schema)
    assert first["points"] and first["categories"]

    # A second pass over the same range, by range and again from a dirty row.
    with connect() as conn, conn.transaction():
        result = rollups.recompute(
            conn, plant.schema, SHANGHAI, [energy, power], start, start + timedelta(hours=3)
        )
    assert result.written == 0 and result.deleted == 0  # nothing changed, nothing rewritten
    with connect() as conn, conn.cursor() as cur:
        mark_dirty(cur, plant.schema, [energy, power], start, start + timedelta(hours=3))
    roll(database, plant.schema, SHANGHAI)
    assert snapshot(connect, plant.schema) == first

    # From scratch, the whole range at once: the incremental rows are the full ones.
    with connect() as conn:
        for table in ("point_rollups", "category_rollups"):
            conn.execute(
                sql.SQL("DELETE FROM {}.{}").format(*map(sql.Identifier, (plant.schema, table)))
            )
    with database.transaction(plant.schema) as session:
        rollups.recompute(
            session, plant.schema, SHANGHAI, [energy, power], start, start + timedelta(hours=3)
        )
    values = snapshot(connect, plant.schema)
    # computed_at (the last column) differs: it is a new computation.
    assert [r[:-1] for r in values["points"]] == [r[:-1] for r in first["points"]]
    assert [r[:-1] for r in values["categories"]] == [r[:-1] for r in first["categories"]]


def test_claims_skip_rows_another_transaction_holds(
    make_plant: MakePlant, connect: Connect
) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    ids = [
        write(connect, plant.schema, energy, [(utc(8, 1, 0, 15 * i), float(i))]) for i in range(4)
    ]
    with connect() as first, connect() as second:
        first.execute("BEGIN")
        taken = rollups.claim_dirty(first, plant.schema, 2)
        assert [c.id for c in taken] == ids[:2]
        with second.transaction():
            # Same thread: if the claim waited for `first`, the test would hang.
            second.execute("SET LOCAL lock_timeout = '2s'")
            others = rollups.claim_dirty(second, plant.schema, 10)
        assert [c.id for c in others] == ids[2:]
        first.execute("ROLLBACK")  # `first` dies before it commits
    # Its rows are back; those `second` committed are gone.
    with connect() as conn, conn.transaction():
        left = rollups.claim_dirty(conn, plant.schema, 10)
    assert [c.id for c in left] == ids[:2]
    assert left[0].points == (energy,) and left[0].from_ts == utc(8, 1, 0)


def test_concurrent_process_dirty_does_not_double_process(
    make_plant: MakePlant, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    start = utc(9, 1, 0)
    # 12 batches of one hour each (5 readings sharing their edges), 2 kWh per quarter.
    ids = []
    for batch in range(12):
        hour = start + timedelta(hours=batch)
        ids.append(
            write(
                connect,
                plant.schema,
                energy,
                [(ts, 1000.0 + (batch * 4 + i) * 2.0) for i, ts in enumerate(every(hour, 4))],
            )
        )
    barrier = threading.Barrier(2)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            while True:
                run = rollups.process_dirty(database, plant.schema, SHANGHAI, limit=2)
                claimed[name].extend(run.claimed)
                if run.busy:
                    time.sleep(0.005)
                    continue
                if run.ranges == 0:
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    every_claim = claimed["a"] + claimed["b"]
    assert sorted(every_claim) == ids  # each row claimed once, none left out
    # 48 readings, 47 steps of 2 kWh; local day 2026-09-01 starts 08-31 16:00 UTC.
    assert consumption(connect, plant.schema, energy, "1d") == {
        utc(8, 31, 16): (47 * 2.0, 48, NONE)
    }


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_fails_clearly(make_plant: MakePlant, connect: Connect, database: Any) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    aware, naive = utc(10, 1), datetime(2026, 10, 1)  # noqa: DTZ001 - the bad input
    with database.transaction(plant.schema) as session:
        with pytest.raises(ValueError, match="from_ts must be a timezone-aware datetime"):
            rollups.recompute(session, plant.schema, SHANGHAI, [energy], naive, aware)
        with pytest.raises(ValueError, match="to_ts must be a timezone-aware datetime"):
            rollups.recompute(session, plant.schema, SHANGHAI, [energy], aware, naive)
        with pytest.raises(ValueError, match="must not be before"):
            rollups.recompute(
                session, plant.schema, SHANGHAI, [energy], aware, aware - timedelta(1)
            )
        with pytest.raises(ValueError, match=r"unknown point ids .*\[999999\]"):
            rollups.recompute(session, plant.schema, SHANGHAI, [energy, 999_999], aware, aware)
        with pytest.raises(ValueError, match="unknown time zone"):
            rollups.recompute(session, plant.schema, "Mars/Olympus", [energy], aware, aware)
        with pytest.raises(TypeError, match="point ids must be integers"):
            rollups.recompute(session, plant.schema, SHANGHAI, ["1"], aware, aware)  # type: ignore[list-item]
    with (
        connect() as conn,
        pytest.raises(ValueError, match="inside a transaction"),
    ):
        rollups.recompute(conn, plant.schema, SHANGHAI, [energy], aware, aware)
    with (
        pytest.raises(ValueError, match="limit must be positive"),
        connect() as conn,
        conn.transaction(),
    ):
        rollups.claim_dirty(conn, plant.schema, 0)
    with (
        pytest.raises(ValueError, match="at must be a timezone-aware"),
        database.transaction(plant.schema) as session,
    ):
        rollups.record_replacement(session, energy, naive, 1.0, 0.0)

    # A dirty row naming a point that does not exist is reported and dropped,
    # and does not hold back the points next to it.
    write(connect, plant.schema, energy, [(aware, 1.0), (aware + timedelta(minutes=15), 2.0)])
    with connect() as conn, conn.cursor() as cur:
        mark_dirty(cur, plant.schema, [energy, 424_242], aware, aware)
    runs = roll(database, plant.schema, SHANGHAI)
    assert runs[0].unknown_points == (424_242,) and runs[0].ranges == 2
    assert consumption(connect, plant.schema, energy, "15m")[aware] == (1.0, 1, NONE)


# --- the actors ------------------------------------------------------------------------------


ACTOR_SCRIPT = """
import json, sys
from ems.workers import actors
sent = []
actors.rollup_tenant.send = lambda tenant_id: sent.append(tenant_id)
actors.rollup_dirty_tenants()
actors.rollup_tenant(int(sys.argv[1]))
from ems.workers.scheduler import JOBS
jobs = {job.actor.actor_name: job.every_seconds for job in JOBS}
print(json.dumps({"sent": sent, "jobs": jobs}))
"""


def test_actors_roll_up_a_dirty_tenant(
    make_plant: MakePlant, connect: Connect, database: Any, environment: dict[str, str]
) -> None:
    # In a child process: importing the actors sets the global Dramatiq broker,
    # which the worker tests must configure first in this process. The child
    # fakes ``send`` (no broker needed) and calls the actors' functions.
    plant = make_plant()
    set_timezone(database, plant, BERLIN)
    energy = plant.points["M1.energy"]
    # Local 2026-10-25 in Berlin (CEST -> CET): 10-24 22:00 UTC .. 10-25 23:00 UTC, 25 hours.
    start = utc(10, 24, 22)
    write(connect, plant.schema, energy, [(ts, i * 0.5) for i, ts in enumerate(every(start, 101))])
    done = subprocess.run(
        [sys.executable, "-c", ACTOR_SCRIPT, str(plant.tenant_id)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert plant.tenant_id in out["sent"]
    assert out["jobs"]["rollup_dirty_tenants"] == 60
    # rollup_tenant used the registry's zone: one Berlin day of 25 hours.
    hours = consumption(connect, plant.schema, energy, "1h")
    assert len([ts for ts in hours if start <= ts < utc(10, 25, 23)]) == 25
    assert consumption(connect, plant.schema, energy, "1d") == {
        start: (100 * 0.5, 100, NONE),
        utc(10, 25, 23): (0.0, 1, NONE),
    }
    with connect() as conn:
        assert not rollups.has_dirty(conn, plant.schema)
