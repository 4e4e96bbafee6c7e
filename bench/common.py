"""What the database benchmarks share: admin statements, dropping the database, percentiles."""

from __future__ import annotations

import sys
import time

import psycopg


def admin(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def drop(url: str, name: str) -> None:
    """Drop the bench database, waiting out a server restart (other tests restart it)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                print(f"could not drop {name}; drop it by hand", file=sys.stderr)
                raise
            time.sleep(2)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
