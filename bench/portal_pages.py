"""Portal pages benchmark: ``python bench/portal_pages.py [--points 1000] [--runs 30]``.

The tenant of ``bench/actuals_query.py`` (its own database ``ems_bench_<random>``, real
migrations, ``--points`` cumulative points over ten energy types, two years of category
rollups at every grain, dropped at the end), served through the whole portal: login by the
form, tenancy, permissions, the services, Jinja rendering and translation, as a logged-in
viewer with the Flask test client (no network, no browser).

Measured (p50 / p95 / max over ``--runs`` after one warm-up, after ``gc.freeze()`` of the
loaded application as ``ems.wsgi`` does), in Chinese:

1. the dashboard (today, this month, the 30-day trend: three actuals reports, plant health,
   the latest values);
2. the energy actuals page, month by month over 2026 with 同比/环比 and the chart;
3. the dashboard's real-time panel alone (what htmx polls every 10 s);
4. the meter ledger's first page.

No target is set for pages by the design brief; the API's is p95 < 100 ms for a month-by-month
query (§7), and a page that calls it several times is held to the sum.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.*, tests.*

from bench.actuals_query import (
    ADMIN_URL,
    PASSWORD,
    REPO,
    TYPES,
    generate,
    make_app,
    make_tenant,
    timed,
)
from bench.common import admin, drop
from ems.db import Database
from ems.migrate import upgrade_control

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def log_in(client: object, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)  # type: ignore[attr-defined]
    token = CSRF.search(page)
    assert token is not None
    answer = client.post(  # type: ignore[attr-defined]
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.status_code


def measure(app: object, slug: str, email: str, runs: int) -> None:
    client = app.test_client()  # type: ignore[attr-defined]
    log_in(client, email)
    cases = (
        ("dashboard", f"/t/{slug}/", {}),
        (
            "actuals, month by month over 2026",
            f"/t/{slug}/actuals/?period=month&from=2026-01-01&to=2027-01-01",
            {},
        ),
        (
            "real-time panel (htmx)",
            f"/t/{slug}/dashboard/realtime",
            {"HX-Request": "true", "X-EMS-Background": "1"},
        ),
        ("meter ledger, first page", f"/t/{slug}/meters", {}),
    )
    for label, path, headers in cases:

        def action(path: str = path, headers: dict[str, str] = headers) -> int:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)
            return len(response.get_data())

        p50, p95, top, size = timed(runs, action)
        print(
            f"[load {os.getloadavg()[0]:.1f}] {label} ({size:,} bytes of HTML): "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {top:.1f} ms"
        )


def main() -> None:
    """Build, measure, clean up."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
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
        schema, slug, email = make_tenant(db, args.points, len(TYPES))
        with psycopg.connect(url, autocommit=True) as conn:
            generate(conn, schema, args.points, len(TYPES))
        app = make_app(db, sa_url)
        print(f"database {name}, tenant {slug}: {args.points} points, two years of rollups")
        gc.collect()
        gc.freeze()
        measure(app, slug, email, args.runs)
    finally:
        db.dispose()
        drop(admin_url, name)


if __name__ == "__main__":
    main()
