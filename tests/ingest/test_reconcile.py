"""Reconciliation on real parts: batches and ledgers go through the real Ingestor into
the test database, then ``ems.telemetry.reconcile`` compares them.

The ledgers are built the way the agent builds them (``wire.DigestAccumulator``
over the readings it holds), so each test states what the agent produced and
what it lost or altered on the way, and checks the report names exactly that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from ems.ingest.core import Ingestor, Message
from ems.ingest.registry import Registry
from ems.telemetry import reconcile
from ems.telemetry.models import GatewayEvent, Point, Reconciliation
from ems_edge import wire
from tests.ingest.conftest import Plant

Connect = Callable[[], psycopg.Connection]
DAY = date(2026, 11, 19)
DAY_MS = int(datetime(2026, 11, 19, tzinfo=UTC).timestamp()) * 1000
STEP_MS = 900_000
# The ingest's clock, and the reconciliation's: 03:00 UTC the next day (the day is settled).
INGEST_MS = DAY_MS + 86_400_000 + 3 * 3_600_000
SETTLED = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
OPEN = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # less than two hours after the day


@pytest.fixture
def ingest(connect: Connect, dc_key: Ed25519PrivateKey, settings: Any) -> Iterator[Ingestor]:
    ing = Ingestor(
        Registry(connect), settings.dc_name, dc_key, connect, clock=lambda: INGEST_MS / 1000
    )
    yield ing
    ing.close()


@pytest.fixture
def plant(make_plant: Any, database: Any) -> Plant:
    """A plant whose points exist since before the day under test."""
    made: Plant = make_plant()
    with database.transaction(made.schema) as session:
        session.execute(update(Point).values(created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    return made


class Agent:
    """What the gateway produced on DAY, point by point, and its ledger of it."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.rows: list[tuple[str, int, float]] = []
        self.gaps: dict[str, int] = {}
        self.seq = 0

    def produce(self, code: str, count: int, *, start: int = 0, value: float = 1.0) -> None:
        for i in range(start, start + count):
            self.rows.append((code, DAY_MS + i * STEP_MS, value + i * 0.25))

    def ledger(
        self, at_ms: int = INGEST_MS - 60_000, omit: frozenset[str] = frozenset()
    ) -> Message:
        """The ledger as the agent sends it: every configured point, silent ones with 0."""
        accumulators = {code: wire.DigestAccumulator() for code in self.plant.points}
        for code, ts, value in self.rows:
            accumulators.setdefault(code, wire.DigestAccumulator()).add(ts, value)
        points = {
            code: wire.PointLedger(acc.count, self.gaps.get(code, 0), acc.hexdigest())
            for code, acc in accumulators.items()
            if code not in omit
        }
        payload = wire.encode_completeness(
            wire.Completeness(self.plant.gateway, DAY.isoformat(), at_ms, points), self.plant.key
        )
        return Message(wire.topic(self.plant.gateway, wire.Channel.COMPLETENESS), payload)

    def batch(self, rows: list[tuple[str, int, float]]) -> Message:
        wire_rows = []
        for code, ts, value in rows:
            self.seq += 1
            wire_rows.append((self.seq, code, ts, value))
        payload = wire.encode_batch(
            self.plant.gateway, "cfg-1", wire_rows, INGEST_MS - 1_000, self.plant.key
        )
        return Message(wire.topic(self.plant.gateway, wire.Channel.READINGS), payload)


def run(database: Any, plant: Plant, now: datetime = SETTLED) -> reconcile.Outcome:
    with database.transaction(plant.schema) as session:
        return reconcile.reconcile_day(session, plant.gateway, DAY, now)


def results(database: Any, plant: Plant) -> dict[str, Reconciliation]:
    with database.session(plant.schema) as session:
        rows = session.query(Reconciliation).filter(Reconciliation.day == DAY).all()
        session.expunge_all()
    return {r.code: r for r in rows}


def events(database: Any, plant: Plant) -> list[tuple[str | None, str]]:
    with database.session(plant.schema) as session:
        return [
            (e.point, e.reason)
            for e in session.query(GatewayEvent)
            .filter(GatewayEvent.kind == reconcile.EVENT_KIND)
            .order_by(GatewayEvent.point)
        ]


def test_everything_stored_matches_and_gaps_count_against_completeness(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 94)
    agent.produce("M1.power", 96, value=5.5)
    agent.produce("M2.flow", 96, value=10.0)
    agent.gaps["M1.energy"] = 2
    ingest.handle([agent.batch(agent.rows), agent.ledger()])

    outcome = run(database, plant)

    got = results(database, plant)
    assert outcome == reconcile.Outcome(rows=3, differences=0, events=0)
    assert set(got) == set(plant.points)
    assert {code: r.status for code, r in got.items()} == dict.fromkeys(got, "match")
    energy = got["M1.energy"]
    assert (energy.agent_count, energy.agent_gaps, energy.stored_count) == (94, 2, 94)
    assert energy.stored_digest == energy.agent_digest
    assert (energy.expected, energy.received) == (96, 94)
    assert energy.settled is True
    assert events(database, plant) == []
    with database.session(plant.schema) as session:
        report = reconcile.completeness(session, DAY, DAY)
    assert (report.expected, report.received) == (96 + 96 + 96, 94 + 96 + 96)
    assert report.rate == pytest.approx(286 / 288)


def test_lost_readings_are_counted_and_raise_an_event_once_settled(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 96)
    ingest.handle([agent.batch(agent.rows[:90]), agent.ledger()])  # six never arrive

    open_day = run(database, plant, OPEN)
    row = results(database, plant)["M1.energy"]
    assert (row.status, row.lost, row.phantom, row.settled) == ("difference", 6, 0, False)
    assert open_day.events == 0 and events(database, plant) == []  # may still be in flight

    settled = run(database, plant)
    again = run(database, plant)  # a rerun replaces its rows and its event

    row = results(database, plant)["M1.energy"]
    assert (row.status, row.lost, row.received, row.expected) == ("difference", 6, 90, 96)
    assert settled.events == again.events == 1
    assert events(database, plant) == [("M1.energy", "gateway counted 96, stored 90: 6 lost")]


def test_late_readings_clear_the_difference(plant: Plant, ingest: Ingestor, database: Any) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 96)
    ingest.handle([agent.batch(agent.rows[:50]), agent.ledger()])
    run(database, plant)
    assert results(database, plant)["M1.energy"].lost == 46

    ingest.handle([agent.batch(agent.rows[50:])])  # the backlog arrives
    run(database, plant)

    row = results(database, plant)["M1.energy"]
    assert (row.status, row.lost, row.stored_count) == ("match", 0, 96)


def test_a_reading_the_agent_never_made_is_phantom(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 10)
    ledger = agent.ledger()
    extra = [("M1.energy", DAY_MS + 50 * STEP_MS, 99.0)]
    ingest.handle([agent.batch(agent.rows + extra), ledger])

    run(database, plant)

    row = results(database, plant)["M1.energy"]
    assert (row.status, row.phantom, row.lost, row.stored_count) == ("difference", 1, 0, 11)
    assert events(database, plant) == [("M1.energy", "gateway counted 10, stored 11: 1 phantom")]


def test_a_second_value_at_a_stored_time_is_a_duplicate_not_a_loss(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 10)
    ingest.handle([agent.batch(agent.rows)])
    # The gateway's clock stepped back: a second reading at an already stored time.
    repeat = ("M1.energy", DAY_MS + 3 * STEP_MS, 42.0)
    agent.rows.append(repeat)
    ingest.handle([agent.batch([repeat]), agent.batch([repeat]), agent.ledger()])

    run(database, plant)

    row = results(database, plant)["M1.energy"]
    # Stored plus the quarantined duplicate account for every reading, digest included.
    assert (row.duplicates, row.lost, row.phantom, row.mismatched) == (1, 0, 0, False)
    assert (row.stored_count, row.agent_count, row.status) == (10, 11, "difference")
    assert events(database, plant) == [("M1.energy", "gateway counted 11, stored 10: 1 duplicates")]


def test_same_count_but_other_values_is_a_mismatch(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 10)
    ingest.handle([agent.batch(agent.rows)])
    # The agent's ledger was made over a different value at one time: altered on the way.
    agent.rows[4] = (agent.rows[4][0], agent.rows[4][1], agent.rows[4][2] + 0.5)
    ingest.handle([agent.ledger()])

    run(database, plant)

    row = results(database, plant)["M1.energy"]
    assert (row.status, row.mismatched, row.lost, row.phantom) == ("difference", True, 0, 0)
    assert row.stored_digest != row.agent_digest


def test_readings_refused_by_validation_are_accounted_as_quarantined(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M2.flow", 8, value=100.0)
    agent.rows.append(("M2.flow", DAY_MS + 20 * STEP_MS, 900.0))  # above the point's maximum
    ingest.handle([agent.batch(agent.rows), agent.ledger()])

    run(database, plant)

    row = results(database, plant)["M2.flow"]
    assert (row.quarantined, row.stored_count, row.lost, row.mismatched) == (1, 8, 0, False)
    assert row.status == "difference"
    assert events(database, plant) == [("M2.flow", "gateway counted 9, stored 8: 1 quarantined")]


def test_unknown_and_unreported_points_are_named(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 4)
    agent.produce("M9.heat", 4)  # not configured in the platform
    # M1.power and M2.flow are configured; the gateway reports neither.
    ingest.handle(
        [
            agent.batch(agent.rows),
            agent.ledger(DAY_MS + 86_400_000 + 60_000, omit=frozenset({"M1.power", "M2.flow"})),
        ]
    )

    run(database, plant)

    got = results(database, plant)
    assert got["M1.energy"].status == "match"
    unknown = got["M9.heat"]
    assert (unknown.status, unknown.point_id, unknown.quarantined) == ("unknown_point", None, 4)
    power = got["M1.power"]
    assert (power.status, power.expected, power.received) == ("not_reported", 96, 0)
    assert {code for code, _ in events(database, plant)} == {"M1.power", "M2.flow", "M9.heat"}


def test_readings_without_any_ledger_are_reported_without_an_event(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 5)
    ingest.handle([agent.batch(agent.rows)])

    outcome = run(database, plant)

    row = results(database, plant)["M1.energy"]
    assert (row.status, row.stored_count, row.expected, row.settled) == ("no_ledger", 5, 0, False)
    assert outcome.events == 0


def test_days_to_check_covers_recent_days_and_changed_ledgers(
    plant: Plant, ingest: Ingestor, database: Any
) -> None:
    agent = Agent(plant)
    agent.produce("M1.energy", 3)
    ingest.handle([agent.batch(agent.rows), agent.ledger()])
    now = datetime.now(UTC)
    with database.session(plant.schema) as session:
        pairs = reconcile.days_to_check(session, now)
    today = now.date()
    assert {(plant.gateway, today - timedelta(days=n)) for n in range(3)} <= pairs
    assert (plant.gateway, DAY) in pairs  # its ledger was received just now
