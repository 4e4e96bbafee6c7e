"""Monthly partitions of a tenant's ``readings``: created ahead and on demand, dropped whole.

Partitions cut at UTC month starts: retention is a matter of whole months, so
the tenant's time zone does not matter here (the rollups cut local calendars).
Raw data is kept at least three years (construction code 4.1.4, 4.4.3): the
plans' ``retention_days`` never go below 1095, and :func:`expired` refuses less.
Before a partition is dropped it can be archived as gzipped CSV.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

MIN_RETENTION_DAYS = 1095
_NAME = re.compile(r"readings_(\d{4})_(\d{2})")


def month_of(ts_ms: int) -> date:
    """The first day of the UTC month containing ``ts_ms``."""
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    """The first day of the following month."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    """``readings_YYYY_MM``."""
    return f"readings_{month.year:04d}_{month.month:02d}"


def existing(conn: psycopg.Connection, schema: str) -> set[date]:
    """The months that have a partition in ``schema``."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE n.nspname = %s AND p.relname = 'readings'",
        (schema,),
    ).fetchall()
    months = set()
    for (name,) in rows:
        match = _NAME.fullmatch(name)
        if match:
            months.add(date(int(match[1]), int(match[2]), 1))
    return months


def ensure(conn: psycopg.Connection, schema: str, months: Iterable[date]) -> None:
    """Create the partitions of ``months`` that do not exist (inside the caller's transaction)."""
    for month in sorted(set(months)):
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} PARTITION OF {}.readings "
                "FOR VALUES FROM ({}) TO ({})"
            ).format(
                sql.Identifier(schema),
                sql.Identifier(partition_name(month)),
                sql.Identifier(schema),
                sql.Literal(datetime(month.year, month.month, 1, tzinfo=UTC)),
                sql.Literal(datetime.combine(next_month(month), datetime.min.time(), UTC)),
            )
        )


def expired(months: Iterable[date], today: date, retention_days: int) -> list[date]:
    """Months wholly older than ``retention_days`` before ``today`` (never under 3 years)."""
    if retention_days < MIN_RETENTION_DAYS:
        raise ValueError(
            f"retention_days {retention_days} is below the {MIN_RETENTION_DAYS} days "
            "the construction code requires for raw data"
        )
    horizon = today - timedelta(days=retention_days)
    return sorted(m for m in months if next_month(m) <= horizon)


def detached(conn: psycopg.Connection, schema: str) -> set[date]:
    """Months whose table exists in ``schema`` but is no longer a partition of ``readings``.

    That is a retirement interrupted between its detach and its drop; :func:`maintain`
    finishes it.
    """
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND NOT c.relispartition "
        "AND c.relname ~ '^readings_[0-9]{4}_[0-9]{2}$'",
        (schema,),
    ).fetchall()
    return {date(int(m[1]), int(m[2]), 1) for (name,) in rows if (m := _NAME.fullmatch(name))}


@dataclass
class Maintenance:
    """What one :func:`maintain` run did to a tenant's partitions."""

    created: list[date] = field(default_factory=list)
    retired: list[tuple[date, Path | None]] = field(default_factory=list)


def maintain(
    conn: psycopg.Connection,
    schema: str,
    today: date,
    retention_days: int,
    archive_dir: Path | None,
    months_ahead: int = 2,
) -> Maintenance:
    """Create this and the next months' partitions; archive and drop the expired ones.

    ``conn`` must be in autocommit mode: a partition is detached CONCURRENTLY (which
    cannot run in a transaction) so that the ingest's inserts into ``readings`` are
    never blocked behind the drop's lock.
    """
    done = Maintenance()
    have = existing(conn, schema)
    month = date(today.year, today.month, 1)
    wanted = set()
    for _ in range(months_ahead + 1):
        wanted.add(month)
        month = next_month(month)
    missing = sorted(wanted - have)
    if missing:
        with conn.transaction():
            ensure(conn, schema, missing)
        done.created = missing
    leftovers = detached(conn, schema)
    for month in sorted(set(expired(have, today, retention_days)) | leftovers):
        if month not in leftovers:
            conn.execute(
                sql.SQL("ALTER TABLE {}.readings DETACH PARTITION {}.{} CONCURRENTLY").format(
                    sql.Identifier(schema),
                    sql.Identifier(schema),
                    sql.Identifier(partition_name(month)),
                )
            )
        done.retired.append((month, archive_and_drop(conn, schema, month, archive_dir)))
    return done


def archive_and_drop(
    conn: psycopg.Connection, schema: str, month: date, archive_dir: Path | None
) -> Path | None:
    """Drop one month's partition, after writing it to ``archive_dir`` as CSV.gz if given."""
    name = partition_name(month)
    target = None
    if archive_dir is not None:
        archive_dir.mkdir(parents=True, exist_ok=True)
        target = archive_dir / f"{schema}.{name}.csv.gz"
        partial = target.with_suffix(".partial")
        query = sql.SQL(
            "COPY (SELECT * FROM {}.{} ORDER BY point, ts) TO STDOUT (FORMAT CSV, HEADER)"
        )
        with (
            gzip.open(partial, "wb") as out,
            conn.cursor() as cur,
            cur.copy(query.format(sql.Identifier(schema), sql.Identifier(name))) as copy,
        ):
            for chunk in copy:
                out.write(chunk)
        partial.replace(target)  # the archive exists whole, or not at all, before the drop
    conn.execute(
        sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
    )
    return target
