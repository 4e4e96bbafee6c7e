"""Actuals benchmark: ``python bench/actuals_query.py [--points 1000] [--types 10] [--runs 50]``.

Creates its own database ``ems_bench_<random>`` on the local PostgreSQL
(``EMS_BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432/postgres``), runs the real
control and tenant migrations, provisions a tenant (Asia/Shanghai) with ``--points``
cumulative points spread over ``--types`` energy types of the catalogue, and drops the
database at the end.

**The rollup rows are generated with generate_series SQL**, as bench/rollup_query.py does:
the category rows (``category_rollups``) at every grain (15m, 1h, 1d, 1mo) for two local
years, 2025 and 2026 (the year measured and the year-on-year base), month by month in time
order; each category is the sum of its points (``points`` = points of the type). That is
what a year of 15-minute data of 1,000 points rolls up to; the actuals read only these rows
(never raw readings or point rows), so the point-level rows are not generated. The tenant
also has a coefficient override changing in mid-month and a few manual quantities, so the
measured path includes the coefficient segments and the manual spreading.

Measured (p50 / p95 / max over ``--runs`` runs, after one warm-up), both through the service
(``ems.actuals.reports.actuals_report`` in a tenant session) and through the HTTP API (Flask test
client, a logged-in viewer: authentication, tenancy, rate limit, JSON included):

1. month by month over 2026, with year-on-year and period-on-period comparisons;
2. day by day over October 2026, with comparisons.

Each case is measured twice: with the default garbage collector, then after ``gc.freeze()``
of the loaded application (what a server does after start-up), which removes the collector's
full passes from the tail.

Target: p95 < 100 ms (design brief §7). Each line shows the machine's 1-minute load average
when it was measured: on a 2-core machine shared with other work, the tail is the scheduler's.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' credit-code helper

from bench.common import admin, drop, percentile  # noqa: E402
from ems.actuals import manual, reports  # noqa: E402
from ems.actuals.periods import Period  # noqa: E402
from ems.config import load_settings  # noqa: E402
from ems.db import Database  # noqa: E402
from ems.energy.models import CoefficientOverride  # noqa: E402
from ems.migrate import upgrade_control  # noqa: E402
from ems.telemetry import partitions  # noqa: E402
from ems_tenants import members  # noqa: E402
from ems_tenants import services as tenant_services  # noqa: E402
from tests.conftest import PASSWORD, credit  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TZ = "Asia/Shanghai"
FIRST_MONTH = date(2025, 1, 1)
MONTHS = 24
# Catalogue types and the unit their counters read in (the catalogue's usual unit).
TYPES = [
    ("electricity", "kWh"),
    ("natural_gas_field", "m3"),
    ("steam_low_pressure", "t"),
    ("heat", "GJ"),
    ("fresh_water", "t"),
    ("softened_water", "t"),
    ("compressed_air", "m3"),
    ("oxygen", "m3"),
    ("nitrogen_by_product", "m3"),
    ("diesel", "t"),
]


def timed(runs: int, action: Callable[[], int]) -> tuple[float, float, float, int]:
    """p50, p95 and max in milliseconds over ``runs`` calls (after one warm-up); buckets."""
    size = action()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples), percentile(samples, 0.95), max(samples), size


def make_tenant(db: Database, points: int, types: int) -> tuple[str, str, Any]:
    """A provisioned tenant with ``points`` cumulative points over ``types`` energy types,
    and a viewer; returns (schema, slug, the viewer's e-mail)."""
    tag = uuid.uuid4().hex[:8]
    email = f"viewer-{tag}@bench.example.com"
    with db.transaction() as session:
        tenant = tenant_services.create_tenant(
            session,
            tenant_services.TenantDraft(
                slug=f"bench-{tag}",
                name=f"bench {tag}",
                credit_code=credit(f"91530100{int(tag, 16) % 10**9:09d}"),
                region_code="530100",
                industry_code="C3110",
                timezone=TZ,
                plan="enterprise",
            ),
        )
        tenant_services.provision(session, db.engine, REPO / "migrations", tenant)
        members.create_user(session, email=email, name="bench viewer", password=PASSWORD)
        members.add_member(session, tenant, email, "viewer")
        schema, slug = tenant.schema_name, tenant.slug
    assert schema is not None
    kinds = TYPES[:types]
    with db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        raw.execute(
            sql.SQL(
                "INSERT INTO {}.points (id, gateway_id, code, name, energy_type, kind, unit, "
                "interval_s, fill_gaps, in_category_total, created_at, updated_at) "
                "SELECT n, 'gw-bench', 'P' || n, 'point ' || n, (%s::text[])[n %% %s + 1], "
                "'cumulative', (%s::text[])[n %% %s + 1], 900, false, true, now(), now() "
                "FROM generate_series(1, %s) AS n"
            ).format(sql.Identifier(schema)),
            ([k[0] for k in kinds], len(kinds), [k[1] for k in kinds], len(kinds), points),
        )
    return schema, slug, email


def generate(conn: psycopg.Connection, schema: str, points: int, types: int) -> None:
    """Category rows at every grain for MONTHS local months, month by month in time order."""
    s = sql.Identifier(schema)
    kinds = TYPES[:types]
    # Point n has type n mod types (as make_tenant assigns them).
    counts = [sum(1 for n in range(1, points + 1) if n % types == i) for i in range(types)]
    began = time.perf_counter()
    month = FIRST_MONTH
    for _ in range(MONTHS):
        following = partitions.next_month(month)
        with conn.transaction():
            # A quarter hour of type k: (points of the type) x 0.25 x (k + 1), exact in binary.
            grains = (
                ("15m", "interval '15 minutes'", 1),
                ("1h", "interval '1 hour'", 4),
                ("1d", "interval '1 day'", 96),
            )
            for grain, step, quarters in grains:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {table} "
                        "(energy_type, unit, grain, start, consumption, points, flags, "
                        "computed_at) "
                        "SELECT k.energy_type, k.unit, %s, t AT TIME ZONE %s, "
                        "k.n * 0.25 * k.i * {quarters}, k.n, 0, now() "
                        "FROM generate_series(%s::timestamp, %s::timestamp - {step}, {step}) "
                        "AS t, unnest(%s::text[], %s::text[], %s::int[], %s::int[]) "
                        "AS k(energy_type, unit, n, i) ORDER BY t"
                    ).format(
                        table=sql.Identifier(schema, "category_rollups"),
                        quarters=sql.Literal(quarters),
                        step=sql.SQL(step),
                    ),
                    (
                        grain,
                        TZ,
                        month,
                        following,
                        [k[0] for k in kinds],
                        [k[1] for k in kinds],
                        counts,
                        list(range(1, len(kinds) + 1)),
                    ),
                )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {0}.category_rollups "
                    "(energy_type, unit, grain, start, consumption, points, flags, computed_at) "
                    "SELECT energy_type, unit, '1mo', %s::timestamp AT TIME ZONE %s, "
                    "sum(consumption), max(points), 0, now() FROM {0}.category_rollups "
                    "WHERE grain = '1d' AND start >= %s::timestamp AT TIME ZONE %s "
                    "AND start < %s::timestamp AT TIME ZONE %s GROUP BY energy_type, unit"
                ).format(s),
                (month, TZ, month, TZ, following, TZ),
            )
        month = following
    conn.execute(sql.SQL("ANALYZE {}.category_rollups").format(s))
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), pg_size_pretty(pg_total_relation_size('{}.category_rollups')) "
            "FROM {}.category_rollups"
        ).format(sql.SQL(schema), s)
    ).fetchone()
    assert row is not None
    print(
        f"generated: {MONTHS} months of 15m/1h/1d/1mo category rows in "
        f"{time.perf_counter() - began:.1f} s; category_rollups {row[0]:,} rows, {row[1]}"
    )


def extras(db: Database, schema: str) -> None:
    """A coefficient override from the middle of a month, and manual quantities."""
    with db.transaction(schema) as session:
        session.add(
            CoefficientOverride(
                energy_type="electricity",
                basis="equivalent",
                value=Decimal("0.1300"),
                unit="kgce/kWh",
                valid_from=date(2026, 6, 16),
                valid_to=None,
                reason="bench",
                recorded_by="bench",
            )
        )
        for month in range(1, 13):
            manual.create_quantity(
                session,
                {
                    "energy_type": "raw_coal",
                    "unit": "t",
                    "quantity": Decimal(310 + month),
                    "period_from": date(2026, month, 1),
                    "period_to": partitions.next_month(date(2026, month, 1)),
                    "reason": "bench",
                },
                datetime.now(UTC),
            )


CASES = [
    ("month by month over a year", Period.MONTH, date(2026, 1, 1), date(2027, 1, 1)),
    ("day by day over a month", Period.DAY, date(2026, 10, 1), date(2026, 11, 1)),
]


def measure_service(db: Database, schema: str, runs: int) -> None:
    """The service in a tenant session, as the API calls it."""
    tz = ZoneInfo(TZ)
    for label, period, first, end in CASES:
        query = reports.ActualsQuery(period, first, end)

        def action(query: reports.ActualsQuery = query) -> int:
            with db.session(schema) as session:
                report = reports.actuals_report(session, tz, "530100", query, datetime.now(UTC))
            return len(report["buckets"])

        p50, p95, top, size = timed(runs, action)
        verdict = "ok" if p95 < 100 else "OVER the 100 ms target"
        print(
            f"[load {os.getloadavg()[0]:.1f}] service, {label} ({size} buckets, with comparisons): "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {top:.1f} ms ({verdict})"
        )


def make_app(db: Database, url: str) -> Any:
    """The API application on the bench database (a private secret and Redis prefix)."""
    from ems.app import create_app

    settings = dataclasses.replace(
        load_settings(),
        database_url=url,
        secret_key="bench-" + uuid.uuid4().hex,
        redis_prefix=f"ems-bench-{uuid.uuid4().hex[:8]}:",
        data_dir=Path(tempfile.mkdtemp(prefix="ems-bench-")),
    )
    return create_app(settings, db)


def measure_api(app: Any, slug: str, email: str, runs: int) -> None:
    """GET /actuals through the whole request pipeline, as a logged-in viewer."""
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.get_json()
    for label, period, first, end in CASES:
        path = (
            f"/api/v1/tenants/{slug}/actuals?period={period.value}"
            f"&from={first.isoformat()}&to={end.isoformat()}"
        )

        def action(path: str = path) -> int:
            response = client.get(path)
            assert response.status_code == 200, response.get_json()
            return len(response.get_json()["buckets"])

        p50, p95, top, size = timed(runs, action)
        verdict = "ok" if p95 < 100 else "OVER the 100 ms target"
        print(
            f"[load {os.getloadavg()[0]:.1f}] API, {label} ({size} buckets, with comparisons): "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {top:.1f} ms ({verdict})"
        )


def main() -> None:
    """Build, measure, clean up."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--types", type=int, default=10, choices=range(1, len(TYPES) + 1))
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    admin_url = os.environ.get("EMS_BENCH_PG", ADMIN_URL)
    name = f"ems_bench_{uuid.uuid4().hex[:10]}"
    admin(admin_url, f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    sa_url = (
        make_url(admin_url)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    db = Database(sa_url, pool_size=2)
    try:
        upgrade_control(db.engine, REPO / "migrations")
        schema, slug, email = make_tenant(db, args.points, args.types)
        print(
            f"database {name}, tenant schema {schema}, {args.points} cumulative points over "
            f"{args.types} energy types ({TZ})"
        )
        with psycopg.connect(url, autocommit=True) as conn:
            generate(conn, schema, args.points, args.types)
        extras(db, schema)
        app = make_app(db, sa_url)
        print("-- default garbage collector")
        measure_service(db, schema, args.runs)
        measure_api(app, slug, email, args.runs)
        # The tail above is the cyclic garbage collector's full passes over every object the
        # process holds (application, metadata, modules): a report allocates enough to trigger
        # one every few calls. Frozen after start-up (gc.freeze(), as a server does once the
        # app is loaded), those objects are no longer scanned.
        gc.collect()
        gc.freeze()
        print("-- after gc.freeze() of the loaded application")
        measure_service(db, schema, args.runs)
        measure_api(app, slug, email, args.runs)
    finally:
        db.dispose()
        drop(admin_url, name)


if __name__ == "__main__":
    main()
