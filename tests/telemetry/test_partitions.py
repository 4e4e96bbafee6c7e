"""Partition maintenance on the real test database: months created ahead, expired months
archived (CSV.gz, the rows exactly) and dropped whole, an interrupted retirement finished."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ems.telemetry import partitions
from tests.ingest import conftest as ingest_fixtures
from tests.ingest.conftest import Plant

make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect
Connect = Callable[[], psycopg.Connection]

# Retention 1095 days before 2030-06-15 is 2027-06-16: May 2027 and older have expired.
TODAY = date(2030, 6, 15)


def months(*pairs: tuple[int, int]) -> set[date]:
    return {date(y, m, 1) for y, m in pairs}


def store(connect: Connect, plant: Plant, rows: list[tuple[datetime, float]]) -> None:
    point = plant.points["M1.energy"]
    with connect() as conn:
        with conn.transaction():
            partitions.ensure(conn, plant.schema, {date(t.year, t.month, 1) for t, _ in rows})
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "INSERT INTO {}.readings (point, ts, value, quality) VALUES (%s, %s, %s, 0)"
                ).format(sql.Identifier(plant.schema)),
                [(point, t, v) for t, v in rows],
            )


def stored(connect: Connect, plant: Plant) -> list[tuple[datetime, float]]:
    with connect() as conn:
        return [
            (t, v)
            for t, v in conn.execute(
                sql.SQL("SELECT ts, value FROM {}.readings ORDER BY ts").format(
                    sql.Identifier(plant.schema)
                )
            )
        ]


def test_coming_months_are_created_once(make_plant: Any, connect: Connect) -> None:
    plant = make_plant()
    with connect() as conn:
        first = partitions.maintain(conn, plant.schema, date(2026, 12, 5), 1095, None)
        again = partitions.maintain(conn, plant.schema, date(2026, 12, 5), 1095, None)
        have = partitions.existing(conn, plant.schema)
    assert set(first.created) == months((2026, 12), (2027, 1), (2027, 2))
    assert again.created == [] and again.retired == []
    assert months((2026, 12), (2027, 1), (2027, 2)) <= have


def test_expired_months_are_archived_then_dropped(
    make_plant: Any, connect: Connect, tmp_path: Path
) -> None:
    plant = make_plant()
    old = [
        (datetime(2027, 4, 30, 23, 45, tzinfo=UTC), 1.5),
        (datetime(2027, 5, 1, 0, 0, tzinfo=UTC), 2.25),
        (datetime(2027, 5, 31, 23, 59, tzinfo=UTC), 3.0),
    ]
    kept = [
        (datetime(2027, 6, 1, 0, 0, tzinfo=UTC), 4.0),  # June straddles the horizon: kept
        (datetime(2030, 6, 1, 0, 0, tzinfo=UTC), 5.0),
    ]
    store(connect, plant, old + kept)

    with connect() as conn:
        done = partitions.maintain(conn, plant.schema, TODAY, 1095, tmp_path)
        have = partitions.existing(conn, plant.schema)

    assert [m for m, _ in done.retired] == sorted(months((2027, 4), (2027, 5)))
    assert not months((2027, 4), (2027, 5)) & have
    assert months((2027, 6), (2030, 6), (2030, 7), (2030, 8)) <= have
    assert stored(connect, plant) == kept
    archived: list[tuple[str, str]] = []
    for _, path in done.retired:
        assert path is not None and path.name.endswith(".csv.gz")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            reader = csv.DictReader(io.StringIO(f.read()))
            archived += [(r["ts"], r["value"]) for r in reader]
    assert [float(v) for _, v in archived] == [v for _, v in old]
    assert [datetime.fromisoformat(t) for t, _ in archived] == [t for t, _ in old]


def test_an_interrupted_retirement_is_finished(
    make_plant: Any, connect: Connect, tmp_path: Path
) -> None:
    plant = make_plant()
    store(connect, plant, [(datetime(2027, 3, 3, tzinfo=UTC), 9.5)])
    schema = sql.Identifier(plant.schema)
    with connect() as conn:
        # A crash after the detach, before the archive and the drop.
        conn.execute(
            sql.SQL("ALTER TABLE {}.readings DETACH PARTITION {}.readings_2027_03").format(
                schema, schema
            )
        )
        assert partitions.detached(conn, plant.schema) == months((2027, 3))
        done = partitions.maintain(conn, plant.schema, TODAY, 1095, tmp_path)
        assert partitions.detached(conn, plant.schema) == set()
    ((month, path),) = done.retired
    assert month == date(2027, 3, 1) and path is not None
    with gzip.open(path, "rt", encoding="utf-8") as f:
        assert "9.5" in f.read()


def test_retention_under_three_years_is_refused(make_plant: Any, connect: Connect) -> None:
    plant = make_plant()
    store(connect, plant, [(datetime(2027, 3, 3, tzinfo=UTC), 1.0)])
    with connect() as conn, pytest.raises(ValueError, match="1095 days"):
        partitions.maintain(conn, plant.schema, TODAY, 365, None)
    assert len(stored(connect, plant)) == 1
