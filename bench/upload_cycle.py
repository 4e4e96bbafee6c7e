"""Upload cycle benchmark: ``python bench/upload_cycle.py [--tenants 1000] [--threads 8]``.

Options: ``--codes 10`` (mapped codes per tenant), ``--setup auto|clone|alembic``,
``--full-days`` (a history of accepted items since local midnight yesterday, what the
statistics published by every cycle read; default: only the last 3 hours).

Computes and sends one 15-minute upload cycle for ``--tenants`` tenants against ONE
simulated platform (``ems_provsim``, profile national, in-process, open registration),
through the real code: ``ems.upload.service.cycle`` per tenant (advisory lock, queue from
the rollups, send over HTTP, statistics published to the control schema).

Set-up (not measured), in a private database ``ems_bench_<random>`` on the local PostgreSQL
(``EMS_BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432/postgres``), dropped at the
end even on error:

1. control migrations; a template tenant created and provisioned the normal way
   (``create_tenant`` + ``provision``: the tenant migrations; Asia/Shanghai); its site, five
   process units, the points (``--codes`` - 4 cumulative points: electricity, natural gas,
   fresh water, steam, all counted in the category totals), a registration on the simulator
   (real ``register`` and ``check_version``: the 17 dictionaries downloaded) and ``--codes``
   mapped codes (realtime + day): 4 whole-plant category codes (electricity, gas, water,
   steam consumption) and one process-level (scope 2) code per point;
2. the other tenants: if provisioning through Alembic took more than 0.3 s, cloned from the
   template (``pg_dump -n <template> --inserts`` with the schema name replaced, applied with
   psycopg; the static rows - points, units, dictionary entries, codes, the registration -
   come along) with their own ``control.tenants`` row (active, distinct valid credit codes
   from ``make_uscc``); else provisioned the same way. Each clone registers itself on the
   simulator (real ``register``: its own device id and secret key);
3. readings: 15-minute counter readings of every point over the last 3 hours, COPYed per
   schema with their dirty range and rolled up by the real ``rollups.process_dirty``;
4. registration state: registered 3 hours ago, versions checked an hour ago (no version
   check due), so no day item is due; then an untimed warm-up cycle queues and sends every
   quarter up to the one before the last complete quarter (the steady state of a worker
   that runs every cycle).

Measured: the cycle at ``now`` = end of the last complete quarter + 5 minutes, for all
tenants, where exactly one new quarter is due (``--codes`` new real-time items per tenant;
the 2-hour look-back recomputes the 7 quarters before it, which are unchanged):
(a) sequentially in one thread, (b) with ``--threads`` worker threads. The state is reset
between the two (the new quarter's items, their copies and the data requests deleted,
``realtime_queued_to`` put back, the simulator's records cleared).

Printed per mode: tenants, codes per tenant, rows accepted by the simulator (must equal
tenants x codes), HTTP data requests, wall time, tenants/s, per-tenant cycle time p50 / p95 /
max, and the split of the per-tenant time: queue (compute the figures, insert the items),
send (of which HTTP: the data request and the simulator's answer), statistics, other (tenant
and registration look-up, advisory lock, commits).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import admin, drop, percentile  # noqa: E402
from ems.db import Database  # noqa: E402
from ems.migrate import upgrade_control  # noqa: E402
from ems.org.models import Unit  # noqa: E402
from ems.sites.models import Site  # noqa: E402
from ems.telemetry import partitions, rollups  # noqa: E402
from ems.telemetry.models import Point  # noqa: E402
from ems.upload import client as upload_client  # noqa: E402
from ems.upload import outbox, registration, service  # noqa: E402
from ems.upload.models import UploadCode, UploadRegistration  # noqa: E402
from ems_provsim.server import Simulator  # noqa: E402
from ems_provsim.testing import make_uscc  # noqa: E402
from ems_tenants import services as tenant_services  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
REGION = "330100"
QUARTER = timedelta(minutes=15)
HISTORY = timedelta(hours=3)  # readings and registration age
CLONE_ABOVE_S = 0.3
# Whole-plant consumption codes (scope 1, source category): code, energy type, name.
CATEGORY_CODES = [
    ("0000000002120002", "electricity", "全厂电力消费量"),
    ("0000000001090002", "natural_gas_field", "全厂天然气消费量"),
    ("0000000003210002", "fresh_water", "全厂新水消费量"),
    ("0000000002130002", "steam_low_pressure", "全厂蒸汽消费量"),
]
# Point energies: energy type, unit, data type (dictionary 7), item (dictionary 8/9),
# increment per quarter hour (exact in binary).
ENERGIES = [
    ("electricity", "kWh", "02", "1200", 12.5),
    ("natural_gas_field", "m3", "01", "0900", 3.75),
    ("fresh_water", "t", "03", "2100", 1.5),
    ("steam_low_pressure", "t", "02", "1300", 0.125),
]
PROCESSES = ["01", "02", "03", "04", "05"]  # dictionary 3 of the simulator
MAX_CODES = len(CATEGORY_CODES) + len(PROCESSES) * len(ENERGIES)


def point_specs(count: int) -> list[tuple[str, str, str, str, float]]:
    """(process, energy type, unit, code, increment) of each point: distinct codes."""
    out = []
    for k in range(count):
        process = PROCESSES[k % len(PROCESSES)]
        energy, unit, data_type, item, step = ENERGIES[k % len(ENERGIES)]
        out.append((process, energy, unit, f"{process}000000{data_type}{item}02", step))
    return out


@dataclass
class Clock:
    """The instants of the run (UTC)."""

    t0: datetime  # end of the last complete quarter (the measured one)
    now: datetime  # the measured cycle: t0 + 5 minutes
    warm: datetime  # the warm-up cycle: t0 - 15 minutes + 5 minutes
    registered_at: datetime
    checked_at: datetime

    @classmethod
    def pick(cls) -> Clock:
        wall = datetime.now(UTC)
        t0 = wall.replace(minute=wall.minute // 15 * 15, second=0, microsecond=0)
        if (t0 - HISTORY).astimezone(TZ).date() != (t0 + QUARTER).astimezone(TZ).date():
            # Keep every instant inside one local day: no day item is due.
            t0 = datetime.combine(t0.astimezone(TZ).date(), datetime.min.time(), tzinfo=TZ)
            t0 = (t0 - timedelta(hours=1)).astimezone(UTC)
        return cls(
            t0=t0,
            now=t0 + timedelta(minutes=5),
            warm=t0 - QUARTER + timedelta(minutes=5),
            registered_at=t0 - HISTORY,
            checked_at=t0 - timedelta(hours=1),
        )


@dataclass
class TenantRow:
    id: int
    schema: str
    credit_code: str
    index: int


# --- set-up -----------------------------------------------------------------------------------


def create_template(db: Database, serial: int) -> TenantRow:
    """A tenant created and provisioned the normal way (Alembic)."""
    credit_code = make_uscc(serial, region=REGION)
    with db.transaction() as session:
        tenant = tenant_services.create_tenant(
            session,
            tenant_services.TenantDraft(
                slug=f"bench-{serial:05d}",
                name=f"bench {serial:05d}",
                credit_code=credit_code,
                region_code=REGION,
                industry_code="C3110",
                timezone=TZ_NAME,
                plan="enterprise",
            ),
        )
        tenant_services.provision(session, db.engine, REPO / "migrations", tenant)
        session.flush()
        assert tenant.schema_name is not None
        return TenantRow(tenant.id, tenant.schema_name, credit_code, serial)


def static_rows(db: Database, schema: str, codes: int, months: set[date], url: str) -> None:
    """Site, process units and points of a tenant; readings partitions for ``months``."""
    specs = point_specs(codes - len(CATEGORY_CODES))
    with db.transaction(schema) as session:
        site = Site(code="S1", name="bench plant", timezone=TZ_NAME, region_code=REGION)
        session.add(site)
        session.flush()
        for process in PROCESSES:
            session.add(
                Unit(
                    site_id=site.id,
                    code=f"P{process}",
                    name=f"process {process}",
                    kind="process",
                    process_code=process,
                )
            )
        for n, (process, energy, unit, _code, _step) in enumerate(specs, start=1):
            session.add(
                Point(
                    gateway_id="gw-bench",
                    code=f"P{n}.{process}.{energy}",
                    name=f"point {n}",
                    energy_type=energy,
                    kind="cumulative",
                    unit=unit,
                    interval_s=900,
                    fill_gaps=False,
                    in_category_total=True,
                )
            )
    with psycopg.connect(url) as conn, conn.transaction():
        partitions.ensure(conn, schema, months)


def new_registration(
    db: Database, schema: str, sim: Simulator, tenant: TenantRow, secret: str, factory: Any
) -> None:
    """The template's registration: registered and dictionaries in, through the real code."""
    with db.transaction(schema) as session:
        reg = UploadRegistration(
            profile=sim.profile.code,
            base_url=sim.base_url,
            enterprise_code=tenant.credit_code,
            region_code=REGION,
            enabled=True,
            realtime_minutes=15,
            status="new",
            urls={},
            consecutive_failures=0,
        )
        session.add(reg)
        session.flush()
        with factory(reg) as client:
            answer = registration.register(session, reg, client, secret)
            assert answer.ok, answer.message
        with factory(reg) as client:
            registration.check_version(session, reg, client, secret)
        assert reg.dic_version is not None, "no dictionary downloaded"


def mapped_codes(db: Database, schema: str, codes: int) -> None:
    """``codes`` UploadCode rows: whole-plant category codes, then point codes at process level."""
    with db.transaction(schema) as session:
        reg = session.scalars(select(UploadRegistration)).one()
        units = {u.process_code: u.id for u in session.scalars(select(Unit))}
        points = list(session.scalars(select(Point).order_by(Point.id)))
        rows: list[UploadCode] = []
        for code, energy, name in CATEGORY_CODES[:codes]:
            rows.append(
                UploadCode(
                    registration_id=reg.id,
                    code=code,
                    name=name,
                    scope=1,
                    source="category",
                    energy_type=energy,
                )
            )
        specs = point_specs(codes - len(CATEGORY_CODES))
        for point, (process, _energy, _unit, code, _step) in zip(points, specs, strict=True):
            rows.append(
                UploadCode(
                    registration_id=reg.id,
                    code=code,
                    name=f"{point.name} 消费量",
                    scope=2,
                    unit_id=units[process],
                    source="point",
                    point_id=point.id,
                )
            )
        for row in rows:
            row.input_type = 2
            row.realtime, row.day, row.month, row.year, row.enabled = True, True, False, False, True
            session.add(row)


def dump_template(url: str, schema: str) -> str:
    """The template schema, DDL and rows, as SQL (``pg_dump --inserts``)."""
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [  # noqa: S607 - pg_dump of the server's version, from PATH
            "pg_dump",
            "--dbname",
            url,
            "--schema",
            schema,
            "--inserts",
            "--no-owner",
            "--no-privileges",
            f"--exclude-table-data={schema}.upload_requests",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # psql meta-commands (\restrict in recent pg_dump) are not SQL.
    return "\n".join(line for line in done.stdout.splitlines() if not line.startswith("\\"))


def clone_all(
    url: str, dump: str, template: TenantRow, count: int, workers: int
) -> list[TenantRow]:
    """``count`` clones of the template schema, each with its own control.tenants row."""
    pattern = re.compile(rf"\b{re.escape(template.schema)}\b")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT plan_id, industry_code FROM control.tenants WHERE id = %s", (template.id,)
        ).fetchone()
    assert row is not None
    plan_id, industry = row

    def clone(indexes: list[int]) -> list[TenantRow]:
        made = []
        with psycopg.connect(url) as conn:
            for index in indexes:
                slug = f"bench-{index:05d}"
                schema = "t_" + slug.replace("-", "_")
                credit_code = make_uscc(index, region=REGION)
                values = (slug, f"bench {index:05d}", credit_code, REGION, industry, TZ_NAME)
                values = (*values, plan_id, schema)
                with conn.transaction():
                    conn.execute(pattern.sub(schema, dump))
                    tenant_id = conn.execute(
                        "INSERT INTO control.tenants (slug, name, credit_code, region_code, "
                        "industry_code, timezone, plan_id, status, schema_name, created_at, "
                        "approved_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'active', %s, now(), "
                        "now()) RETURNING id",
                        values,
                    ).fetchone()
                assert tenant_id is not None
                made.append(TenantRow(int(tenant_id[0]), schema, credit_code, index))
        return made

    indexes = list(range(template.index + 1, template.index + 1 + count))
    chunks = [indexes[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        done = [t for part in pool.map(clone, chunks) for t in part]
    return sorted(done, key=lambda t: t.index)


def register_clone(db: Database, tenant: TenantRow, secret: str, factory: Any) -> None:
    """The clone's own registration on the simulator (real ``register``)."""
    with db.transaction(tenant.schema) as session:
        reg = session.scalars(select(UploadRegistration)).one()
        reg.enterprise_code = tenant.credit_code
        reg.device_id = reg.secret_key = None
        with factory(reg) as client:
            answer = registration.register(session, reg, client, secret)
            assert answer.ok, answer.message


def readings(url: str, tenant: TenantRow, clock: Clock) -> None:
    """Counter readings every 15 minutes over HISTORY, COPYed, with their dirty range."""
    with psycopg.connect(url) as conn:
        s = sql.Identifier(tenant.schema)
        points = conn.execute(
            sql.SQL("SELECT id, energy_type FROM {}.points ORDER BY id").format(s)
        ).fetchall()
        steps = {e[0]: e[4] for e in ENERGIES}
        start = clock.t0 - HISTORY
        quarters = int(HISTORY / QUARTER)
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(
                sql.SQL("COPY {}.readings (point, ts, value, quality) FROM STDIN").format(s)
            ) as copy:
                for point_id, energy in points:
                    counter = 1000.0 + 10 * point_id + tenant.index % 7
                    step = steps[energy] * (1 + tenant.index % 3)
                    for q in range(quarters + 1):
                        copy.write_row((point_id, start + q * QUARTER, counter, 0))
                        counter += step + step * (q % 4) / 4
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.dirty_ranges (points, from_ts, to_ts, created_at) "
                    "VALUES (%s, %s, %s, now())"
                ).format(s),
                ([p for p, _ in points], start, clock.t0),
            )


def roll(db: Database, schema: str) -> None:
    while rollups.process_dirty(db, schema, TZ_NAME).ranges:
        pass


def set_state(url: str, tenants: list[TenantRow], clock: Clock, full_days: bool) -> int:
    """Registered HISTORY ago, versions checked an hour ago, nothing queued yet.

    ``full_days``: also accepted items (synthetic values) for every quarter from local
    midnight yesterday to the registration, and yesterday's day items, as a tenant uploading
    since long has: what the statistics published each cycle read. Returns rows added.
    """
    yesterday = clock.t0.astimezone(TZ).date() - timedelta(days=1)
    since = datetime.combine(yesterday, datetime.min.time(), tzinfo=TZ).astimezone(UTC)
    added = 0
    with psycopg.connect(url) as conn, conn.transaction():
        for t in tenants:
            s = sql.Identifier(t.schema)
            conn.execute(
                sql.SQL(
                    "UPDATE {}.upload_registrations SET registered_at = %s, checked_at = %s, "
                    "realtime_queued_to = NULL, backoff_until = NULL, consecutive_failures = 0"
                ).format(s),
                (clock.registered_at, clock.checked_at),
            )
            if not full_days:
                continue
            columns = sql.SQL(
                "INSERT INTO {}.upload_items (registration_id, code_id, code, stat_type, "
                "period_start, version, value, input_type, scope, valid, flags, status, "
                "attempts, queued_at, last_attempt_at, accepted_at, due_at) "
            ).format(s)
            added += conn.execute(
                columns
                + sql.SQL(
                    "SELECT c.registration_id, c.id, c.code, 0, q, 1, 1, c.input_type, c.scope, "
                    "true, 0, 'accepted', 1, q + interval '20 minutes', "
                    "q + interval '20 minutes', q + interval '20 minutes', q + interval '75 "
                    "minutes' FROM {}.upload_codes c, generate_series(%s::timestamptz, "
                    "%s::timestamptz - interval '15 minutes', interval '15 minutes') AS q "
                    "WHERE c.realtime"
                ).format(s),
                (since, clock.registered_at),
            ).rowcount
            added += conn.execute(
                columns
                + sql.SQL(
                    "SELECT c.registration_id, c.id, c.code, 1, %s, 1, 24, c.input_type, "
                    "c.scope, true, 0, 'accepted', 1, %s, %s, %s, %s "
                    "FROM {}.upload_codes c WHERE c.day"
                ).format(s),
                (since, *[since + timedelta(days=1, hours=1)] * 3, since + timedelta(days=2)),
            ).rowcount
    return added


def reset(url: str, tenants: list[TenantRow], clock: Clock, sim: Simulator) -> None:
    """Back to the state before the measured cycle (its quarter not queued, nothing sent)."""
    quarter = clock.t0 - QUARTER
    with psycopg.connect(url) as conn, conn.transaction():
        for t in tenants:
            s = sql.Identifier(t.schema)
            conn.execute(
                sql.SQL("DELETE FROM {}.upload_items WHERE period_start >= %s").format(s),
                (quarter,),
            )
            conn.execute(
                sql.SQL("DELETE FROM {}.upload_requests WHERE at = %s").format(s), (clock.now,)
            )
            conn.execute(
                sql.SQL(
                    "UPDATE {}.upload_registrations SET realtime_queued_to = %s, "
                    "checked_at = %s, backoff_until = NULL, consecutive_failures = 0"
                ).format(s),
                (quarter, clock.checked_at),
            )
        conn.execute("DELETE FROM control.uploaded_figures WHERE period_start >= %s", (quarter,))
    sim.reset()


# --- measurement ------------------------------------------------------------------------------

_phases = threading.local()


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = getattr(_phases, "spent", None)
            if spent is not None:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - began

    return wrapper


def instrument() -> None:
    """Time the phases of a cycle (per thread): queue, send, HTTP data, statistics, version."""
    outbox.queue = _timed("queue", outbox.queue)  # type: ignore[method-assign]
    outbox.send = _timed("send", outbox.send)  # type: ignore[method-assign]
    service._publish = _timed("publish", service._publish)  # type: ignore[attr-defined]
    registration.check_version = _timed("version", registration.check_version)  # type: ignore[method-assign]
    cls = upload_client.PlatformClient
    cls.data = _timed("http", cls.data)  # type: ignore[method-assign]


@dataclass
class Outcome:
    seconds: float
    phases: dict[str, float]
    new: int = 0
    unchanged: int = 0
    other_queued: int = 0
    accepted: int = 0
    requests: int = 0
    problems: list[str] = field(default_factory=list)


def one_cycle(db: Database, tenant: TenantRow, secret: str, now: datetime) -> Outcome:
    factory = registration.client_factory(secret, clock=lambda: now)
    _phases.spent = {}
    began = time.perf_counter()
    reports = service.cycle(db, tenant.id, secret, now, factory=factory)
    out = Outcome(time.perf_counter() - began, _phases.spent)
    _phases.spent = None
    if len(reports) != 1:
        out.problems.append(f"{tenant.schema}: {len(reports)} registrations cycled")
    for report in reports:
        if report.skipped:
            out.problems.append(f"{tenant.schema}: skipped: {report.skipped}")
        if report.queued is not None:
            out.new += report.queued.new
            out.unchanged += report.queued.unchanged
            out.other_queued += report.queued.corrected + report.queued.for_correction
        if report.sent is not None:
            out.accepted += report.sent.accepted
            out.requests += report.sent.requests
            if report.sent.failed or report.sent.for_correction:
                out.problems.append(f"{tenant.schema}: {report.sent.reason}")
    return out


def run_all(
    db: Database, tenants: list[TenantRow], secret: str, now: datetime, threads: int
) -> tuple[float, list[Outcome]]:
    began = time.perf_counter()
    if threads <= 1:
        outcomes = [one_cycle(db, t, secret, now) for t in tenants]
    else:
        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(lambda t: one_cycle(db, t, secret, now), tenants))
    return time.perf_counter() - began, outcomes


def report(
    label: str, wall: float, outcomes: list[Outcome], sim: Simulator, codes: int, clock: Clock
) -> None:
    tenants = len(outcomes)
    records = sim.records()
    stamp = (clock.t0 - QUARTER).astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")
    on_quarter = sum(1 for r in records if r["statType"] == 0 and r["statDate"] == stamp)
    sim_requests = sum(1 for r in sim.requests() if r["endpoint"] == "data")
    expected = tenants * codes
    problems = [p for o in outcomes for p in o.problems]
    samples = [o.seconds * 1000 for o in outcomes]
    spent: dict[str, float] = {}
    for o in outcomes:
        for name, value in o.phases.items():
            spent[name] = spent.get(name, 0.0) + value
    total = sum(o.seconds for o in outcomes)
    other = total - spent.get("queue", 0) - spent.get("send", 0) - spent.get("publish", 0)
    other -= spent.get("version", 0)

    def per(name: str, seconds: float) -> str:
        return f"{name} {seconds / tenants * 1000:.1f} ms ({100 * seconds / total:.0f}%)"

    print(f"-- {label} [load {os.getloadavg()[0]:.1f}]")
    print(
        f"tenants {tenants}, codes per tenant {codes}; queued new {sum(o.new for o in outcomes)}, "
        f"recomputed unchanged {sum(o.unchanged for o in outcomes)}, "
        f"corrected/for correction {sum(o.other_queued for o in outcomes)}"
    )
    verdict = "ok" if len(records) == expected == on_quarter else "MISMATCH"
    print(
        f"rows accepted by the simulator {len(records)} (expected {expected} = tenants x codes, "
        f"{on_quarter} of the measured quarter {stamp}: {verdict}); sender says accepted "
        f"{sum(o.accepted for o in outcomes)}"
    )
    print(f"HTTP data requests {sum(o.requests for o in outcomes)} (simulator saw {sim_requests})")
    print(
        f"wall {wall:.2f} s, {tenants / wall:.1f} tenants/s; per-tenant cycle p50 "
        f"{statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms, "
        f"max {max(samples):.1f} ms"
    )
    print(
        "per-tenant split (mean): "
        + ", ".join(
            [
                per("queue", spent.get("queue", 0)),
                per("send", spent.get("send", 0)),
                f"of which HTTP {spent.get('http', 0) / tenants * 1000:.1f} ms",
                per("statistics", spent.get("publish", 0)),
                per("version check", spent.get("version", 0)),
                per("other", other),
            ]
        )
    )
    if problems:
        print(f"PROBLEMS ({len(problems)}): {problems[:5]}")


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--codes", type=int, default=10, choices=range(1, MAX_CODES + 1))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--full-days",
        action="store_true",
        help="give every tenant a history of accepted items since local midnight yesterday",
    )
    parser.add_argument(
        "--setup",
        choices=["auto", "clone", "alembic"],
        default="auto",
        help="how tenants after the first are made (auto: clone when one tenant's set-up "
        f"through the real code takes more than {CLONE_ABOVE_S} s)",
    )
    args = parser.parse_args()
    admin_url = os.environ.get("EMS_BENCH_PG", ADMIN_URL)
    name = f"ems_bench_{uuid.uuid4().hex[:10]}"
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    sa_url = (
        make_url(admin_url)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    secret = "bench-" + uuid.uuid4().hex
    clock = Clock.pick()
    setup_factory = registration.client_factory(secret, timeout=10)
    admin(admin_url, f'CREATE DATABASE "{name}"')
    db = Database(sa_url, pool_size=max(2, args.threads * 2))
    sim = Simulator("national", open_registration=True, check_uscc_digit=True).start()
    try:
        began = time.perf_counter()
        upgrade_control(db.engine, REPO / "migrations")
        t = time.perf_counter()
        template = create_template(db, 1)
        provision_s = time.perf_counter() - t
        months = {
            date(d.year, d.month, 1) for d in (clock.t0 - HISTORY, clock.t0 + timedelta(hours=1))
        }
        t = time.perf_counter()
        static_rows(db, template.schema, args.codes, months, url)
        new_registration(db, template.schema, sim, template, secret, setup_factory)
        mapped_codes(db, template.schema, args.codes)
        rest_s = time.perf_counter() - t
        tenants = [template]
        others = args.tenants - 1
        one = (
            f"one tenant through the real code: provisioned (Alembic) in {provision_s:.2f} s, "
            f"points, codes, registration and dictionary download in {rest_s:.2f} s"
        )
        clone = args.setup == "clone" or (
            args.setup == "auto" and provision_s + rest_s > CLONE_ABOVE_S
        )
        t = time.perf_counter()
        if clone and others:
            dump = dump_template(url, template.schema)
            tenants += clone_all(url, dump, template, others, workers=2)
            clone_s = time.perf_counter() - t
            t = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda x: register_clone(db, x, secret, setup_factory), tenants[1:]))
            how = (
                f"{one}; the other {others} cloned from its pg_dump (DDL and static rows, "
                f"dictionary included) in {clone_s:.1f} s, each registered on the simulator "
                f"(real register call) in {time.perf_counter() - t:.1f} s"
            )
        else:
            for serial in range(2, args.tenants + 1):
                tenant = create_template(db, serial)
                static_rows(db, tenant.schema, args.codes, months, url)
                new_registration(db, tenant.schema, sim, tenant, secret, setup_factory)
                mapped_codes(db, tenant.schema, args.codes)
                tenants.append(tenant)
            how = f"{one}; the other {others} the same way in {time.perf_counter() - t:.1f} s"
        t = time.perf_counter()

        def fill(tenant: TenantRow) -> None:
            readings(url, tenant, clock)
            roll(db, tenant.schema)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(fill, tenants))
        fill_s = time.perf_counter() - t
        history = set_state(url, tenants, clock, args.full_days)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
        t = time.perf_counter()
        instrument()
        wall, warm = run_all(db, tenants, secret, clock.warm, args.threads)
        warm_rows = sum(o.accepted for o in warm)
        warm_problems = [p for o in warm for p in o.problems]
        assert not warm_problems, warm_problems[:5]
        sim.reset()
        print(
            f"database {name}; {len(tenants)} tenants ({TZ_NAME}), {args.codes} codes each "
            f"({min(args.codes, 4)} whole-plant category, {max(0, args.codes - 4)} process-level "
            f"point codes), one simulated platform (national) at {sim.base_url}"
        )
        print(f"set-up: {how}")
        print(
            f"set-up: readings ({int(HISTORY / QUARTER) + 1} per point) COPYed and rolled up in "
            f"{fill_s:.1f} s; warm-up cycle (every earlier quarter, {warm_rows} rows) "
            f"{wall:.1f} s; set-up total {time.perf_counter() - began:.1f} s"
        )
        if args.full_days:
            print(
                f"set-up: --full-days: {history} accepted items inserted (every quarter since "
                "local midnight yesterday before the registration, and yesterday's day items)"
            )
        print(
            f"measured cycle at now = {clock.now.astimezone(TZ):%Y-%m-%d %H:%M} local: one new "
            f"quarter due ({(clock.t0 - QUARTER).astimezone(TZ):%H:%M}-"
            f"{clock.t0.astimezone(TZ):%H:%M}), no version check, no day item"
        )
        wall, outcomes = run_all(db, tenants, secret, clock.now, 1)
        report("(a) sequential, one thread", wall, outcomes, sim, args.codes, clock)
        reset(url, tenants, clock, sim)
        wall, outcomes = run_all(db, tenants, secret, clock.now, args.threads)
        report(f"(b) {args.threads} threads", wall, outcomes, sim, args.codes, clock)
    finally:
        sim.stop()
        db.dispose()
        drop(admin_url, name)


if __name__ == "__main__":
    main()
