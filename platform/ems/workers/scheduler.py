"""The one scheduler process: enqueues periodic actors on time.

Exactly one scheduler may run, however many are started (one per availability
zone for failover): each holds a PostgreSQL session-level advisory lock while
it schedules, and the others wait on standby until the lock is free. The lock
dies with the holder's connection, so a crashed scheduler is replaced within
one retry interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# An arbitrary constant naming "the EMS scheduler" among advisory locks.
SCHEDULER_LOCK_KEY = 0x454D53_5343  # "EMS" "SC"


@dataclass
class PeriodicJob:
    """An actor to enqueue every ``every_seconds``, aligned to the clock."""

    actor: Any
    every_seconds: int
    next_at: float = 0.0

    def schedule_from(self, now: float) -> None:
        # Aligned to multiples of the period (a 15-minute job runs at :00, :15, ...).
        self.next_at = (now // self.every_seconds + 1) * self.every_seconds


JOBS: list[PeriodicJob] = []
A = TypeVar("A")


def periodic(every_seconds: int) -> Callable[[A], A]:
    """Register an actor as a periodic job."""

    def register(actor: A) -> A:
        JOBS.append(PeriodicJob(actor, every_seconds))
        return actor

    return register


def run_scheduler(
    engine: Engine,
    stop: threading.Event,
    *,
    jobs: list[PeriodicJob] | None = None,
    tick_seconds: float = 1.0,
    standby_seconds: float = 5.0,
    on_leader: Callable[[], None] = lambda: None,
) -> None:
    """Schedule until ``stop`` is set; on standby while another scheduler leads."""
    jobs = JOBS if jobs is None else jobs
    while not stop.is_set():
        with engine.connect() as conn:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK_KEY}
            ).scalar_one()
            conn.commit()
            if not got:
                log.info("another scheduler leads; standing by")
                stop.wait(standby_seconds)
                continue
            log.info("scheduler leading with %d jobs", len(jobs))
            on_leader()
            try:
                _lead(conn, jobs, stop, tick_seconds)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEDULER_LOCK_KEY})
                conn.commit()


def _lead(conn: Any, jobs: list[PeriodicJob], stop: threading.Event, tick: float) -> None:
    now = time.time()
    for job in jobs:
        job.schedule_from(now)
    while not stop.is_set():
        # Keep the connection (and so the lock) provably alive.
        conn.execute(text("SELECT 1"))
        conn.commit()
        now = time.time()
        for job in jobs:
            if now >= job.next_at:
                job.actor.send()
                log.info("enqueued %s", job.actor.actor_name)
                job.schedule_from(now)
        stop.wait(tick)
