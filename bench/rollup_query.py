"""Rollup benchmark: ``python bench/rollup_query.py [--points 1000] [--days 2] [--runs 50]``.

Creates its own database ``ems_bench_<random>`` on the local PostgreSQL
(``EMS_BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
runs the real control and tenant migrations, registers and provisions a tenant
(Asia/Shanghai) with ``--points`` cumulative points, and drops the database at
the end. Figures:

1. Rollup throughput, through the real code: ``--days`` of quarter-hourly
   readings for every point, written as the ingest writes them (readings plus
   one ``dirty_ranges`` row per hourly batch), rolled up by
   ``rollups.process_dirty`` until no dirty range is left; then the latency of
   one late batch (one reading per point, a day back).
2. Query latency (p50/p95 over ``--runs`` runs, rows fetched into Python):
   a month of daily totals of every point, and month-by-month totals of every
   point for a year, by point list (the primary key) and, for comparison, by
   energy category (``category_rollups``).

**The year of rollup rows queried in (2) is generated with generate_series SQL**,
not computed from readings: hour, day and month rows for every point for the
twelve local months before the real days, inserted month by month in time
order (so the heap is laid out as production writes it, not clustered by
point). Rolling up a year of readings for 1,000 points through the pipeline
would take long; the query cost depends on the rows, not on how they were made.
Quarter-hour rows exist only for the ``--days`` that went through the pipeline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' credit-code helper

from bench.common import admin, drop, percentile  # noqa: E402
from ems.db import Database  # noqa: E402
from ems.migrate import upgrade_control  # noqa: E402
from ems.telemetry import partitions, rollups  # noqa: E402
from ems_tenants import services  # noqa: E402
from tests.conftest import credit  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TZ = "Asia/Shanghai"
# The real days start here (local midnight); the generated year ends here.
REAL_START = datetime(2026, 11, 1, tzinfo=ZoneInfo(TZ)).astimezone(UTC)
YEAR_FIRST_MONTH = date(2025, 11, 1)  # local months 2025-11 .. 2026-10 are generated


def timed(runs: int, action: Callable[[], int]) -> tuple[float, float, int]:
    """p50 and p95 in milliseconds over ``runs`` calls (after one warm-up), and the row count."""
    rows = action()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples), percentile(samples, 0.95), rows


def make_tenant(db: Database, points: int) -> str:
    """A provisioned tenant with ``points`` cumulative electricity points; its schema."""
    tag = uuid.uuid4().hex[:8]
    with db.transaction() as session:
        tenant = services.create_tenant(
            session,
            services.TenantDraft(
                slug=f"bench-{tag}",
                name=f"bench {tag}",
                credit_code=credit(f"91530100{int(tag, 16) % 10**9:09d}"),
                region_code="530100",
                industry_code="C3110",
                timezone=TZ,
                plan="enterprise",
            ),
        )
        services.provision(session, db.engine, REPO / "migrations", tenant)
        schema = tenant.schema_name
    assert schema is not None
    with db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        raw.execute(
            sql.SQL(
                "INSERT INTO {}.points (id, gateway_id, code, name, energy_type, kind, unit, "
                "interval_s, fill_gaps, in_category_total, created_at, updated_at) "
                "SELECT n, 'gw-bench', 'P' || n, 'point ' || n, 'electricity', 'cumulative', "
                "'kWh', 900, false, true, now(), now() FROM generate_series(1, %s) AS n"
            ).format(sql.Identifier(schema)),
            (points,),
        )
    return schema


def real_rollup(
    conn: psycopg.Connection, db: Database, schema: str, points: int, days: int
) -> None:
    """Readings through process_dirty; prints the throughput and a late batch's latency."""
    s = sql.Identifier(schema)
    end = REAL_START + timedelta(days=days)
    months = {date(REAL_START.year, REAL_START.month, 1), date(end.year, end.month, 1)}
    with conn.transaction():
        partitions.ensure(conn, schema, months)
    began = time.perf_counter()
    hour = REAL_START
    while hour < end:
        with conn.transaction():
            # Every point reads 10 kWh per hour plus a little per point, one batch an hour.
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.readings (point, ts, value, quality) "
                    "SELECT p, t, extract(epoch FROM t - %s) / 360.0 + p * 0.001, 0 "
                    "FROM generate_series(1, %s) AS p, "
                    "generate_series(%s::timestamptz, %s::timestamptz, interval '15 minutes') AS t"
                ).format(s),
                (REAL_START, points, hour, hour + timedelta(minutes=45)),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.dirty_ranges (points, from_ts, to_ts, created_at) "
                    "VALUES (%s, %s, %s, now())"
                ).format(s),
                (list(range(1, points + 1)), hour, hour + timedelta(minutes=45)),
            )
        hour += timedelta(hours=1)
    written = time.perf_counter() - began
    readings = points * days * 96
    print(f"readings: {readings:,} ({points} points x {days} days x 96) written in {written:.1f} s")

    began = time.perf_counter()
    total = rollups.Recomputed()
    while True:
        run = rollups.process_dirty(db, schema, TZ, limit=24)
        total.add(run.recomputed)
        if run.ranges == 0:
            break
    took = time.perf_counter() - began
    print(
        f"rollup: {readings:,} readings rolled up in {took:.1f} s = {readings / took:,.0f} "
        f"readings/s ({total.written:,} point rows, {total.categories_written:,} category rows)"
    )

    late = end - timedelta(days=1) + timedelta(minutes=7)
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.readings (point, ts, value, quality) "
                "SELECT p, %s, extract(epoch FROM %s - %s) / 360.0 + p * 0.001, 0 "
                "FROM generate_series(1, %s) AS p"
            ).format(s),
            (late, late, REAL_START, points),
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.dirty_ranges (points, from_ts, to_ts, created_at) "
                "VALUES (%s, %s, %s, now())"
            ).format(s),
            (list(range(1, points + 1)), late, late),
        )
    began = time.perf_counter()
    run = rollups.process_dirty(db, schema, TZ)
    took = time.perf_counter() - began
    print(
        f"late batch: 1 reading x {points} points a day back, recomputed in {took * 1000:.0f} ms "
        f"({run.recomputed.written:,} point rows rewritten)"
    )


def generate_year(conn: psycopg.Connection, schema: str, points: int) -> None:
    """Hour, day and month rows for twelve local months, month by month in time order."""
    s = sql.Identifier(schema)
    began = time.perf_counter()
    month = YEAR_FIRST_MONTH
    for _ in range(12):
        following = partitions.next_month(month)
        with conn.transaction():
            # Hours: every point uses 10 kWh plus a little per point in each hour.
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.point_rollups "
                    "(point, grain, start, consumption, count, flags, computed_at) "
                    "SELECT p, '1h', t, 10 + p * 0.001, 4, 0, now() "
                    "FROM generate_series((%s::timestamp AT TIME ZONE %s), "
                    "(%s::timestamp AT TIME ZONE %s) - interval '1 hour', interval '1 hour') AS t, "
                    "generate_series(1, %s) AS p ORDER BY t, p"
                ).format(s),
                (month, TZ, following, TZ, points),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.point_rollups "
                    "(point, grain, start, consumption, count, flags, computed_at) "
                    "SELECT p, '1d', d::timestamp AT TIME ZONE %s, 24 * (10 + p * 0.001), 96, 0, "
                    "now() FROM generate_series(%s::timestamp, %s::timestamp - interval '1 day', "
                    "interval '1 day') AS d, generate_series(1, %s) AS p ORDER BY d, p"
                ).format(s),
                (TZ, month, following, points),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.point_rollups "
                    "(point, grain, start, consumption, count, flags, computed_at) "
                    "SELECT p, '1mo', %s::timestamp AT TIME ZONE %s, "
                    "(%s::date - %s::date) * 24 * (10 + p * 0.001), "
                    "(%s::date - %s::date) * 96, 0, now() FROM generate_series(1, %s) AS p"
                ).format(s),
                (month, TZ, following, month, following, month, points),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {0}.category_rollups "
                    "(energy_type, unit, grain, start, consumption, points, flags, computed_at) "
                    "SELECT 'electricity', 'kWh', grain, start, sum(consumption), count(*), 0, "
                    "now() FROM {0}.point_rollups WHERE start >= %s::timestamp AT TIME ZONE %s "
                    "AND start < %s::timestamp AT TIME ZONE %s GROUP BY grain, start"
                ).format(s),
                (month, TZ, following, TZ),
            )
        month = following
    conn.execute(sql.SQL("ANALYZE {}.point_rollups").format(s))
    conn.execute(sql.SQL("ANALYZE {}.category_rollups").format(s))
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), pg_size_pretty(pg_total_relation_size('{}.point_rollups')) "
            "FROM {}.point_rollups"
        ).format(sql.SQL(schema), s)
    ).fetchone()
    assert row is not None
    print(
        f"generated: 12 months of 1h/1d/1mo rows in {time.perf_counter() - began:.1f} s; "
        f"point_rollups now {row[0]:,} rows, {row[1]} with indexes"
    )


def queries(conn: psycopg.Connection, schema: str, points: int, runs: int) -> None:
    """p50/p95 of the two report queries."""
    s = sql.Identifier(schema)
    ids = list(range(1, points + 1))
    tz = ZoneInfo(TZ)
    month_start = datetime(2026, 10, 1, tzinfo=tz).astimezone(UTC)
    month_end = datetime(2026, 11, 1, tzinfo=tz).astimezone(UTC)
    year_start = datetime(2025, 11, 1, tzinfo=tz).astimezone(UTC)
    by_points = sql.SQL(
        "SELECT point, start, consumption, flags FROM {}.point_rollups "
        "WHERE point = ANY(%s) AND grain = %s AND start >= %s AND start < %s "
        "ORDER BY point, start"
    ).format(s)
    by_category = sql.SQL(
        "SELECT start, consumption, points, flags FROM {}.category_rollups "
        "WHERE energy_type = 'electricity' AND unit = 'kWh' AND grain = %s "
        "AND start >= %s AND start < %s ORDER BY start"
    ).format(s)

    def run(statement: sql.Composed, params: tuple[Any, ...]) -> Callable[[], int]:
        def action() -> int:
            return len(conn.execute(statement, params).fetchall())

        return action

    cases = [
        ("daily totals, 1 month x all points", by_points, (ids, "1d", month_start, month_end)),
        ("monthly totals, 12 months x all points", by_points, (ids, "1mo", year_start, month_end)),
        ("category daily totals, 1 month", by_category, ("1d", month_start, month_end)),
        ("category monthly totals, 12 months", by_category, ("1mo", year_start, month_end)),
    ]
    for label, statement, params in cases:
        p50, p95, rows = timed(runs, run(statement, params))
        verdict = "ok" if p95 < 100 else "OVER the 100 ms target"
        print(f"{label}: {rows:,} rows, p50 {p50:.1f} ms, p95 {p95:.1f} ms ({verdict})")


def main() -> None:
    """Build, measure, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--days", type=int, default=2, help="days rolled up for real")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    admin_url = os.environ.get("EMS_BENCH_PG", ADMIN_URL)
    name = f"ems_bench_{uuid.uuid4().hex[:10]}"
    admin(admin_url, f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    db = Database(
        make_url(admin_url)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False),
        pool_size=2,
    )
    try:
        upgrade_control(db.engine, REPO / "migrations")
        schema = make_tenant(db, args.points)
        print(f"database {name}, tenant schema {schema}, {args.points} cumulative points ({TZ})")
        with psycopg.connect(url, autocommit=True) as conn:
            real_rollup(conn, db, schema, args.points, args.days)
            generate_year(conn, schema, args.points)
            queries(conn, schema, args.points, args.runs)
    finally:
        db.dispose()
        drop(admin_url, name)


if __name__ == "__main__":
    main()
