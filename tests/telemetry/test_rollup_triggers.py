"""Configuration changes that change past figures recompute them: a meter replacement
edited or deleted, a point turned from counter to gauge, a point moved to another energy
category. Real database, real rollup runs; the expected figures are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ems.telemetry import rollups
from ems.telemetry.models import DirtyRange, Point
from ems.telemetry.rollup_models import MeterReplacement
from tests.ingest import conftest as ingest_fixtures
from tests.telemetry.test_rollups import (
    Connect,
    category_rows,
    consumption,
    point_rows,
    roll,
    write,
)

make_plant = ingest_fixtures.make_plant
connect = ingest_fixtures.connect
SHANGHAI = "Asia/Shanghai"
TWO_COUNTERS = (
    ("M1.a", "cumulative", "kWh", None, None),
    ("M1.b", "cumulative", "kWh", None, None),
)


def at(minute: int) -> datetime:
    return datetime(2026, 3, 10, 4, 0, tzinfo=UTC).replace(minute=minute)


def day_total(connect: Connect, schema: str, point: int) -> float:
    return sum(row[0] for row in consumption(connect, schema, point, "1d").values())


def dirty(database: Any, schema: str) -> list[tuple[list[int], datetime, datetime]]:
    with database.session(schema) as session:
        return [
            (d.points, d.from_ts, d.to_ts)
            for d in session.scalars(select(DirtyRange).order_by(DirtyRange.id))
        ]


def test_editing_and_deleting_a_replacement_recomputes(
    make_plant: Any, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    write(connect, plant.schema, energy, [(at(0), 100.0), (at(15), 110.0), (at(30), 5.0)])
    with database.transaction(plant.schema) as session:
        replacement_id = rollups.record_replacement(session, energy, at(20), 112.0, 0.0).id
    roll(database, plant.schema, SHANGHAI)
    # 100 -> 110, then 110 -> 112 on the old meter and 0 -> 5 on the new one.
    assert day_total(connect, plant.schema, energy) == 10.0 + 2.0 + 5.0

    with database.transaction(plant.schema) as session:
        replacement = session.get(MeterReplacement, replacement_id)
        assert replacement is not None
        replacement.new_initial = 1.0  # the fitter misread the new meter's start
    assert dirty(database, plant.schema) == [([energy], at(20), at(20))]
    roll(database, plant.schema, SHANGHAI)
    assert day_total(connect, plant.schema, energy) == 10.0 + 2.0 + 4.0

    with database.transaction(plant.schema) as session:
        replacement = session.get(MeterReplacement, replacement_id)
        replacement.at = at(25)  # moved: both the old and the new moment are dirty
    assert sorted(dirty(database, plant.schema)) == [
        ([energy], at(20), at(20)),
        ([energy], at(25), at(25)),
    ]
    roll(database, plant.schema, SHANGHAI)
    assert day_total(connect, plant.schema, energy) == 10.0 + 2.0 + 4.0

    with database.transaction(plant.schema) as session:
        session.delete(session.get(MeterReplacement, replacement_id))
    assert dirty(database, plant.schema) == [([energy], at(25), at(25))]
    roll(database, plant.schema, SHANGHAI)
    # Without the replacement 110 -> 5 is a negative step: counted as 0 (and flagged).
    assert day_total(connect, plant.schema, energy) == 10.0


def test_a_counter_turned_gauge_is_recomputed_over_its_whole_history(
    make_plant: Any, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    write(connect, plant.schema, energy, [(at(0), 100.0), (at(15), 110.0), (at(45), 130.0)])
    roll(database, plant.schema, SHANGHAI)
    assert day_total(connect, plant.schema, energy) == 30.0

    with database.transaction(plant.schema) as session:
        point = session.get(Point, energy)
        before = {name: getattr(point, name) for name in rollups.ROLLUP_FIELDS}
        point.kind = "instantaneous"
        session.flush()
        rollups.point_changed(session, point, before)
    assert dirty(database, plant.schema) == [([energy], at(0), at(45))]
    roll(database, plant.schema, SHANGHAI)

    days = point_rows(connect, plant.schema, energy, "1d")
    ((consumed, low, high, mean, count, _flags),) = days.values()
    assert (consumed, low, high, count) == (None, 100.0, 130.0, 3)
    assert mean == (100.0 + 110.0 + 130.0) / 3


def test_moving_a_point_to_another_category_rebuilds_both_totals(
    make_plant: Any, connect: Connect, database: Any
) -> None:
    plant = make_plant(TWO_COUNTERS)
    a, b = plant.points["M1.a"], plant.points["M1.b"]
    write(connect, plant.schema, a, [(at(0), 0.0), (at(15), 4.0)])
    write(connect, plant.schema, b, [(at(0), 0.0), (at(15), 8.0)])
    roll(database, plant.schema, SHANGHAI)

    def days() -> dict[str, float]:
        return {k[0]: v[0] for k, v in category_rows(connect, plant.schema, "1d").items()}

    assert days() == {"electricity": 12.0}

    with database.transaction(plant.schema) as session:
        point = session.get(Point, b)
        before = {name: getattr(point, name) for name in rollups.ROLLUP_FIELDS}
        point.energy_type = "heat"
        session.flush()
        rollups.point_changed(session, point, before)
    roll(database, plant.schema, SHANGHAI)

    assert days() == {"electricity": 4.0, "heat": 8.0}


def test_a_change_that_does_not_touch_the_figures_marks_nothing(
    make_plant: Any, connect: Connect, database: Any
) -> None:
    plant = make_plant()
    energy = plant.points["M1.energy"]
    write(connect, plant.schema, energy, [(at(0), 1.0)])
    roll(database, plant.schema, SHANGHAI)
    with database.transaction(plant.schema) as session:
        point = session.get(Point, energy)
        before = {name: getattr(point, name) for name in rollups.ROLLUP_FIELDS}
        point.name = "主进线电能"
        session.flush()
        rollups.point_changed(session, point, before)
    assert dirty(database, plant.schema) == []
