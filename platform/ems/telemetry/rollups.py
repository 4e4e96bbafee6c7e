"""Rollups: raw readings -> 15 minutes -> hour -> day -> month, per point and per energy category.

The ingest commits, with every batch of readings, a ``dirty_ranges`` row naming
the points and the time range it wrote. :func:`process_dirty` claims such rows
and recomputes what they touch; :func:`recompute` does it for an explicit range.

What is recomputed for a point whose readings changed in [from_ts, to_ts]:

* **15 minutes**: the quarter hours from the one holding the last reading
  *before* ``from_ts`` to the one holding the first reading *after* ``to_ts``.
  A changed reading alters the two counter steps around it, and no step
  outside those neighbours; a late reading that splits a gap changes every
  quarter hour of the gap. The quarter hours are computed by the pure
  functions of :mod:`ems.telemetry.intervals` from the window's readings plus
  one reading on either side (so its edge steps are complete) and the point's
  meter replacements, then upserted; rows of the window that are no longer
  produced are deleted.
* **hour, day, month**: every parent bucket (in the tenant's zone, via
  :func:`ems.telemetry.calendar.parent`) of a recomputed bucket, rebuilt from all
  of its children *rows* with ``combine_intervals`` / ``combine_samples`` -
  never patched with a difference, so a result cannot drift.
* **categories**: every bucket, at every grain, touched above, for the energy
  categories (energy type and unit) of the recomputed cumulative points: the
  sum of the rows of all cumulative points of the category whose
  ``in_category_total`` is true.

Sums use ``math.fsum`` (correctly rounded, so independent of row order) and an
upsert only rewrites a row whose values changed: recomputing twice leaves the
same rows, ``computed_at`` included.

Concurrency: two transactions rebuilding one tenant's parents at once would each
miss the other's uncommitted children and the later commit would win with a
stale total, so a tenant's rollups are serialised by a transaction-level
advisory lock. Dirty rows are claimed with ``FOR UPDATE SKIP LOCKED`` and deleted
in the recomputing transaction: a crash leaves them in place for the next run.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ems.telemetry.calendar import Grain, bucket_end, buckets_between, parent
from ems.telemetry.intervals import (
    CounterSpec,
    Flag,
    Interval,
    Quality,
    Reading,
    Replacement,
    Sample,
    combine_intervals,
    combine_samples,
    cumulative_intervals,
    instantaneous_samples,
)
from ems.telemetry.models import DirtyRange, Point, PointKind
from ems.telemetry.models import Reading as ReadingRow
from ems.telemetry.rollup_models import MeterReplacement

if TYPE_CHECKING:
    from ems.db import Database

__all__ = [
    "Claimed",
    "DirtyRun",
    "Recomputed",
    "claim_dirty",
    "has_dirty",
    "merge_windows",
    "process_dirty",
    "recompute",
    "record_replacement",
]

log = logging.getLogger(__name__)

Executor = Session | Connection | psycopg.Connection[Any]
Window = tuple[datetime, datetime]
T = TypeVar("T")

QUARTER = timedelta(minutes=15)
# Ranges of one point closer than this are recomputed as one window: the few
# unchanged readings in between cost less than a second pass over the edges.
MERGE_GAP = timedelta(hours=1)
# A long range (a replayed backlog) is cut into pieces of this span, and pieces
# are loaded together until their spans add up to CHUNK_SPAN (or CHUNK_PIECES
# of them): the readings held in memory stay bounded (100 point-days of
# one-minute readings is 144,000), while many short ranges (a late batch for
# every point) still go in few round trips.
PIECE = timedelta(days=1)
CHUNK_SPAN = timedelta(days=100)
CHUNK_PIECES = 2000
# Parent buckets and category buckets per query.
BATCH = 5000
# First key of the tenant's advisory lock (the second is hashtext(schema)); the
# two-key lock space never overlaps the scheduler's one-key lock.
LOCK_CLASS = 0x524F4C4C  # "ROLL"
_CHILD = {Grain.H1: Grain.M15, Grain.D1: Grain.H1, Grain.MO1: Grain.D1}
_COARSER = {child: coarser for coarser, child in _CHILD.items()}


# --- results -------------------------------------------------------------------------------


@dataclass(slots=True)
class Recomputed:
    """What one recomputation wrote: rows inserted or changed, and rows deleted."""

    points: int = 0
    windows: int = 0
    written: int = 0  # point_rollups rows, all grains
    deleted: int = 0
    categories_written: int = 0
    categories_deleted: int = 0

    def add(self, other: Recomputed) -> None:
        """Accumulate ``other`` into this one."""
        self.points += other.points
        self.windows += other.windows
        self.written += other.written
        self.deleted += other.deleted
        self.categories_written += other.categories_written
        self.categories_deleted += other.categories_deleted


@dataclass(frozen=True, slots=True)
class Claimed:
    """A dirty_ranges row taken by this transaction."""

    id: int
    points: tuple[int, ...]
    from_ts: datetime
    to_ts: datetime


@dataclass(slots=True)
class DirtyRun:
    """The outcome of one :func:`process_dirty` call.

    ``busy``: another transaction holds the tenant's rollup lock, nothing was
    claimed (that transaction, or the next run, takes the rows).
    ``unknown_points``: ids in claimed rows that are not (any more) points of
    the tenant; their ranges are dropped, since nothing can be rolled up.
    """

    claimed: tuple[int, ...] = ()  # ids of the dirty_ranges rows taken
    busy: bool = False
    unknown_points: tuple[int, ...] = ()
    recomputed: Recomputed = field(default_factory=Recomputed)

    @property
    def ranges(self) -> int:
        """How many dirty ranges were claimed (and are gone once committed)."""
        return len(self.claimed)


# --- input checks --------------------------------------------------------------------------


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _point_ids(point_ids: Iterable[int]) -> list[int]:
    ids = list(point_ids)
    for point_id in ids:
        # bool is an int subclass; True as a point id is always a mistake.
        if not isinstance(point_id, int) or isinstance(point_id, bool):
            raise TypeError(f"point ids must be integers, got {point_id!r}")
    return sorted(set(ids))


def _driver(executor: Executor, *, transaction: bool = True) -> psycopg.Connection[Any]:
    """The psycopg connection under ``executor``, in the caller's transaction.

    The rollups move arrays of thousands of values per statement, which psycopg
    does directly; a Session or Connection is unwrapped to its DBAPI connection,
    so the work still commits or rolls back with the caller's transaction.
    """
    if isinstance(executor, psycopg.Connection):
        raw: object = executor
        # Outside a transaction every statement would commit alone: the
        # advisory lock would end at once and a failure would leave half a
        # recomputation behind.
        idle = executor.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if transaction and executor.autocommit and idle:
            raise ValueError("the rollups must run inside a transaction (conn.transaction())")
    else:
        connection = executor.connection() if isinstance(executor, Session) else executor
        raw = connection.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError("the rollups need a PostgreSQL connection through psycopg")
    return raw


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


# --- points and the calendar ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Point:
    id: int
    kind: str
    energy_type: str
    unit: str
    interval_s: int
    rollover_max: float | None
    fill_gaps: bool
    in_category_total: bool

    @property
    def cumulative(self) -> bool:
        return self.kind == PointKind.CUMULATIVE

    def spec(self) -> CounterSpec:
        # intervals.CounterSpec: "twice the polling interval, at least 15 minutes".
        max_gap = max(timedelta(seconds=2 * max(self.interval_s, 0)), QUARTER)
        return CounterSpec(self.rollover_max, max_gap, self.fill_gaps)


class _Calendar:
    """The tenant's buckets, with the conversions the recomputation repeats cached."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._hours: dict[Window, tuple[datetime, ...]] = {}
        self._parents: dict[tuple[Grain, datetime], datetime] = {}
        self._ends: dict[tuple[Grain, datetime], datetime] = {}

    def hours(self, window: Window) -> tuple[datetime, ...]:
        """The hour buckets overlapping a window of whole quarter hours."""
        found = self._hours.get(window)
        if found is None:
            found = self._hours[window] = tuple(buckets_between(*window, Grain.H1, self.tz))
        return found

    def up(self, grain: Grain, start: datetime) -> tuple[Grain, datetime] | None:
        """The parent bucket of a bucket (None for a month)."""
        key = (grain, start)
        found = self._parents.get(key)
        if found is None:
            above = parent(start, grain, self.tz)
            if above is None:
                return None
            found = self._parents[key] = above[1]
        return _COARSER[grain], found

    def end(self, grain: Grain, start: datetime) -> datetime:
        """Where the bucket starting at ``start`` ends."""
        key = (grain, start)
        found = self._ends.get(key)
        if found is None:
            found = self._ends[key] = bucket_end(start, grain, self.tz)
        return found


def _quarters(window: Window) -> Iterator[datetime]:
    start, end = window
    while start < end:
        yield start
        start += QUARTER


def _floor_quarter(instant: datetime) -> datetime:
    return instant - (instant - datetime(1970, 1, 1, tzinfo=UTC)) % QUARTER


# --- SQL -----------------------------------------------------------------------------------


class _Sql:
    """The statements of one tenant schema (the name comes from the registry)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        s = sql.Identifier(schema)
        self.points = sql.SQL(
            "SELECT id, kind, energy_type, unit, interval_s, rollover_max, fill_gaps, "
            "in_category_total FROM {}.points WHERE id = ANY(%b::int[])"
        ).format(s)
        # The neighbours of each range: index probes on (point, ts); on the
        # partitioned table PostgreSQL walks the partitions in order and stops
        # at the first hit.
        self.neighbours = sql.SQL(
            "SELECT w.i, "
            "(SELECT r.ts FROM {0}.readings r WHERE r.point = w.point AND r.ts < w.lo "
            " ORDER BY r.ts DESC LIMIT 1), "
            "(SELECT r.ts FROM {0}.readings r WHERE r.point = w.point AND r.ts > w.hi "
            " ORDER BY r.ts LIMIT 1) "
            "FROM unnest(%b::int[], %b::int[], %b::timestamptz[], %b::timestamptz[]) "
            "AS w(i, point, lo, hi)"
        ).format(s)
        self.readings = sql.SQL(
            "SELECT w.i, r.ts, r.value, r.quality "
            "FROM unnest(%b::int[], %b::int[], %b::timestamptz[], %b::timestamptz[]) "
            "AS w(i, point, ws, we) CROSS JOIN LATERAL ("
            " (SELECT ts, value, quality FROM {0}.readings "
            "  WHERE point = w.point AND ts < w.ws ORDER BY ts DESC LIMIT 1)"
            " UNION ALL"
            " (SELECT ts, value, quality FROM {0}.readings "
            "  WHERE point = w.point AND ts >= w.ws AND ts < w.we)"
            " UNION ALL"
            " (SELECT ts, value, quality FROM {0}.readings "
            "  WHERE point = w.point AND ts >= w.we ORDER BY ts LIMIT 1)"
            ") AS r"
        ).format(s)
        self.replacements = sql.SQL(
            "SELECT point, at, old_final, new_initial FROM {}.meter_replacements "
            "WHERE point = ANY(%b::int[])"
        ).format(s)
        # Only rows whose values changed are rewritten (no dead tuple, and
        # computed_at says when the value last changed).
        self.upsert = sql.SQL(
            "INSERT INTO {}.point_rollups AS t "
            "(point, grain, start, consumption, minimum, maximum, mean, count, flags, computed_at) "
            "SELECT u.point, %s, u.start, u.consumption, u.minimum, u.maximum, u.mean, "
            "u.count, u.flags, now() "
            "FROM unnest(%b::int[], %b::timestamptz[], %b::float8[], %b::float8[], "
            "%b::float8[], %b::float8[], %b::int[], %b::int[]) "
            "AS u(point, start, consumption, minimum, maximum, mean, count, flags) "
            "ON CONFLICT (point, grain, start) DO UPDATE SET "
            "consumption = excluded.consumption, minimum = excluded.minimum, "
            "maximum = excluded.maximum, mean = excluded.mean, count = excluded.count, "
            "flags = excluded.flags, computed_at = excluded.computed_at "
            "WHERE (t.consumption, t.minimum, t.maximum, t.mean, t.count, t.flags) "
            "IS DISTINCT FROM (excluded.consumption, excluded.minimum, excluded.maximum, "
            "excluded.mean, excluded.count, excluded.flags)"
        ).format(s)
        # Rows at bucket starts the recomputation covered but did not produce:
        # deleted by their exact keys (index probes; usually there are none).
        self.delete_keys = sql.SQL(
            "DELETE FROM {}.point_rollups t USING unnest(%b::int[], %b::timestamptz[]) "
            "AS k(point, start) WHERE t.point = k.point AND t.grain = %s AND t.start = k.start"
        ).format(s)
        self.children = sql.SQL(
            "SELECT t.point, t.start, c.start, c.consumption, c.minimum, c.maximum, c.mean, "
            "c.count, c.flags "
            "FROM unnest(%b::int[], %b::timestamptz[], %b::timestamptz[]) AS t(point, start, stop) "
            "JOIN {}.point_rollups c ON c.point = t.point AND c.grain = %s "
            "AND c.start >= t.start AND c.start < t.stop"
        ).format(s)
        self.category_rows = sql.SQL(
            "SELECT p.energy_type, p.unit, r.start, r.consumption, r.flags "
            "FROM {0}.points p JOIN {0}.point_rollups r ON r.point = p.id "
            "WHERE p.kind = %s AND p.in_category_total "
            "AND (p.energy_type, p.unit) IN "
            "(SELECT * FROM unnest(%b::varchar[], %b::varchar[])) "
            "AND r.grain = %s AND r.start = ANY(%b::timestamptz[]) "
            "AND r.consumption IS NOT NULL"
        ).format(s)
        self.category_upsert = sql.SQL(
            "INSERT INTO {}.category_rollups AS t "
            "(energy_type, unit, grain, start, consumption, points, flags, computed_at) "
            "SELECT u.energy_type, u.unit, %s, u.start, u.consumption, u.points, u.flags, now() "
            "FROM unnest(%b::varchar[], %b::varchar[], %b::timestamptz[], %b::float8[], "
            "%b::int[], %b::int[]) AS u(energy_type, unit, start, consumption, points, flags) "
            "ON CONFLICT (energy_type, unit, grain, start) DO UPDATE SET "
            "consumption = excluded.consumption, points = excluded.points, "
            "flags = excluded.flags, computed_at = excluded.computed_at "
            "WHERE (t.consumption, t.points, t.flags) "
            "IS DISTINCT FROM (excluded.consumption, excluded.points, excluded.flags)"
        ).format(s)
        self.category_delete = sql.SQL(
            "DELETE FROM {}.category_rollups t "
            "USING unnest(%b::varchar[], %b::varchar[], %b::timestamptz[]) "
            "AS d(energy_type, unit, start) "
            "WHERE t.energy_type = d.energy_type AND t.unit = d.unit AND t.grain = %s "
            "AND t.start = d.start"
        ).format(s)
        self.claim = sql.SQL(
            "WITH claimed AS (SELECT id FROM {0}.dirty_ranges ORDER BY id LIMIT %s "
            "FOR UPDATE SKIP LOCKED) "
            "DELETE FROM {0}.dirty_ranges d USING claimed c WHERE d.id = c.id "
            "RETURNING d.id, d.points, d.from_ts, d.to_ts"
        ).format(s)
        self.any_dirty = sql.SQL("SELECT EXISTS (SELECT 1 FROM {}.dirty_ranges)").format(s)


def _lock(cur: psycopg.Cursor[Any], schema: str, *, wait: bool) -> bool:
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    cur.execute(
        sql.SQL("SELECT {}(%s, hashtext(%s))").format(sql.Identifier(function)),
        (LOCK_CLASS, schema),
    )
    row = cur.fetchone()
    # pg_advisory_xact_lock returns void (None): it only returns once it holds the lock.
    return wait or bool(row and row[0])


def _load_points(cur: psycopg.Cursor[Any], q: _Sql, ids: Sequence[int]) -> dict[int, _Point]:
    cur.execute(q.points, (list(ids),))
    return {row[0]: _Point(*row) for row in cur.fetchall()}


# --- the recomputation ---------------------------------------------------------------------


@dataclass(slots=True)
class _Touched:
    """Buckets a recomputation touched, to rebuild above it."""

    parents: dict[Grain, set[tuple[int, datetime]]] = field(
        default_factory=lambda: {grain: set() for grain in (Grain.H1, Grain.D1, Grain.MO1)}
    )
    # Per grain, the bucket starts of the categories' recomputed points.
    category_buckets: dict[Grain, set[datetime]] = field(
        default_factory=lambda: {grain: set() for grain in Grain}
    )
    categories: set[tuple[str, str]] = field(default_factory=set)


def _pieces(windows: dict[int, list[Window]]) -> list[tuple[int, datetime, datetime]]:
    """Each point's windows cut into pieces of at most PIECE (inclusive ranges)."""
    pieces: list[tuple[int, datetime, datetime]] = []
    for point_id in sorted(windows):
        for low, high in windows[point_id]:
            begin = low
            while high - begin > PIECE:
                # Adjacent pieces share their boundary instant: both recompute its
                # quarter hour the same way, which is harmless.
                pieces.append((point_id, begin, begin + PIECE))
                begin += PIECE
            pieces.append((point_id, begin, high))
    return pieces


def _chunked_pieces(
    pieces: Sequence[tuple[int, datetime, datetime]],
) -> Iterator[Sequence[tuple[int, datetime, datetime]]]:
    """Consecutive runs of pieces whose spans add up to at most CHUNK_SPAN (CHUNK_PIECES)."""
    begin, span = 0, timedelta(0)
    for end, (_, low, high) in enumerate(pieces):
        # A piece also loads its neighbours: count at least a quarter hour each.
        span += max(high - low, QUARTER)
        if span > CHUNK_SPAN or end - begin >= CHUNK_PIECES:
            if end > begin:
                yield pieces[begin:end]
            begin, span = end, max(high - low, QUARTER)
    if begin < len(pieces):
        yield pieces[begin:]


def _rows_of(values: Iterable[Interval | Sample], point_id: int) -> Iterator[tuple[Any, ...]]:
    """(point, start, consumption, minimum, maximum, mean, count, flags) rows."""
    for value in values:
        if isinstance(value, Interval):
            yield (
                point_id,
                value.start,
                value.consumption,
                None,
                None,
                None,
                value.count,
                int(value.flags),
            )
        else:
            yield (
                point_id,
                value.start,
                None,
                value.minimum,
                value.maximum,
                value.mean,
                value.count,
                int(value.flags),
            )


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


def _upsert(
    cur: psycopg.Cursor[Any], q: _Sql, grain: Grain, rows: Sequence[tuple[Any, ...]]
) -> int:
    if not rows:
        return 0
    cur.execute(q.upsert, (grain.value, *_columns(rows, 8)))
    return max(cur.rowcount, 0)


def _delete_keys(
    cur: psycopg.Cursor[Any], q: _Sql, grain: Grain, keys: Iterable[tuple[int, datetime]]
) -> int:
    gone = sorted(keys)
    if not gone:
        return 0
    cur.execute(q.delete_keys, ([k[0] for k in gone], [k[1] for k in gone], grain.value))
    return max(cur.rowcount, 0)


def _quarter_hours(
    cur: psycopg.Cursor[Any],
    q: _Sql,
    points: dict[int, _Point],
    pieces: Sequence[tuple[int, datetime, datetime]],
    calendar: _Calendar,
    touched: _Touched,
    result: Recomputed,
) -> None:
    """Recompute the 15-minute rows of some pieces (one chunk) and note what they touch."""
    indexes = list(range(len(pieces)))
    cur.execute(
        q.neighbours,
        (indexes, [p[0] for p in pieces], [p[1] for p in pieces], [p[2] for p in pieces]),
    )
    windows: list[Window] = [(p[1], p[2]) for p in pieces]
    for i, before, after in cur.fetchall():
        _, low, high = pieces[i]
        # From the quarter of the reading before the range to the end of the
        # quarter of the reading after it: every step a change can alter.
        start = _floor_quarter(before.astimezone(UTC) if before is not None else low)
        end = _floor_quarter(after.astimezone(UTC) if after is not None else high) + QUARTER
        windows[i] = (start, end)
    cur.execute(
        q.readings,
        (indexes, [p[0] for p in pieces], [w[0] for w in windows], [w[1] for w in windows]),
    )
    loaded: dict[int, list[Reading]] = defaultdict(list)
    for i, ts, value, quality in cur.fetchall():
        loaded[i].append(Reading(ts, value, Quality(quality)))
    swaps: dict[int, list[Replacement]] = defaultdict(list)
    cur.execute(q.replacements, (sorted({p[0] for p in pieces}),))
    for point_id, at, old_final, new_initial in cur.fetchall():
        swaps[point_id].append(Replacement(at, old_final, new_initial))

    # Keyed by (point, start): adjacent pieces of one point overlap at their
    # edge quarter hour, and one INSERT ... ON CONFLICT may not touch a row twice.
    rows: dict[tuple[int, datetime], tuple[Any, ...]] = {}
    covered: set[tuple[int, datetime]] = set()
    for i, (point_id, _, _) in enumerate(pieces):
        point = points[point_id]
        window = windows[i]
        values: list[Interval] | list[Sample]
        if point.cumulative:
            values = cumulative_intervals(
                loaded.get(i, []), point.spec(), swaps.get(point_id, []), window=window
            )
        else:
            values = instantaneous_samples(loaded.get(i, []), window=window)
        for row in _rows_of(values, point_id):
            rows[(point_id, row[1])] = row
        covered.update((point_id, quarter) for quarter in _quarters(window))
        touched.parents[Grain.H1].update((point_id, hour) for hour in calendar.hours(window))
        if point.cumulative:
            touched.categories.add((point.energy_type, point.unit))
            touched.category_buckets[Grain.M15].update(_quarters(window))
    # Quarter hours of the windows that are no longer produced (readings gone,
    # or an instantaneous point's quarter hour without readings any more).
    result.deleted += _delete_keys(cur, q, Grain.M15, covered.difference(rows))
    result.written += _upsert(cur, q, Grain.M15, list(rows.values()))
    result.windows += len(pieces)


def _combine(
    point: _Point, children: list[tuple[Any, ...]], start: datetime
) -> tuple[Any, ...] | None:
    """One parent row from its children rows (start, consumption, min, max, mean, count, flags).

    Children of the other kind (left behind if a point's kind was changed) are
    ignored; None when no child is usable.
    """
    combined: Interval | Sample
    if point.cumulative:
        intervals = [
            Interval(child[0], child[1], child[5], Flag(child[6]))
            for child in children
            if child[1] is not None
        ]
        if not intervals:
            return None
        combined = combine_intervals(intervals, start)
    else:
        samples = [
            Sample(child[0], child[2], child[3], child[4], child[5], Flag(child[6]))
            for child in children
            if child[2] is not None and child[5] > 0
        ]
        if not samples:
            return None
        combined = combine_samples(samples, start)
    return next(_rows_of([combined], point.id))


def _parents(
    cur: psycopg.Cursor[Any],
    q: _Sql,
    points: dict[int, _Point],
    grain: Grain,
    buckets: set[tuple[int, datetime]],
    calendar: _Calendar,
    touched: _Touched,
    result: Recomputed,
) -> None:
    """Rebuild the ``grain`` buckets of some points from their children rows."""
    child = _CHILD[grain]
    for batch in _chunks(sorted(buckets), BATCH):
        spans = [(point_id, start, calendar.end(grain, start)) for point_id, start in batch]
        cur.execute(q.children, (*_columns(spans, 3), child.value))
        groups: dict[tuple[int, datetime], list[tuple[Any, ...]]] = defaultdict(list)
        for point_id, start, *values in cur.fetchall():
            groups[(point_id, start)].append(tuple(values))
        rows: list[tuple[Any, ...]] = []
        for (point_id, start), children in groups.items():
            row = _combine(points[point_id], children, start)
            if row is not None:
                rows.append(row)
        # A parent none of whose children exist any more goes too.
        kept = {(row[0], row[1]) for row in rows}
        result.deleted += _delete_keys(cur, q, grain, set(batch).difference(kept))
        result.written += _upsert(cur, q, grain, rows)
        for point_id, start in batch:
            above = calendar.up(grain, start)
            if above is not None:
                touched.parents[above[0]].add((point_id, above[1]))
            if points[point_id].cumulative:
                touched.category_buckets[grain].add(start)


def _category_rollups(
    cur: psycopg.Cursor[Any], q: _Sql, touched: _Touched, result: Recomputed
) -> None:
    """Rebuild the category buckets touched, at every grain."""
    if not touched.categories:
        return
    types = [c[0] for c in sorted(touched.categories)]
    units = [c[1] for c in sorted(touched.categories)]
    for grain in Grain:
        for starts in _chunks(sorted(touched.category_buckets[grain]), BATCH):
            cur.execute(
                q.category_rows, (PointKind.CUMULATIVE.value, types, units, grain.value, starts)
            )
            sums: dict[tuple[str, str, datetime], tuple[list[float], int]] = {}
            for energy_type, unit, start, consumption, flags in cur.fetchall():
                key = (energy_type, unit, start)
                parts, mask = sums.get(key, ([], 0))
                parts.append(consumption)
                sums[key] = (parts, mask | flags)
            rows = [
                (key[0], key[1], key[2], math.fsum(parts), len(parts), mask)
                for key, (parts, mask) in sums.items()
            ]
            gone = [
                (energy_type, unit, start)
                for energy_type, unit in sorted(touched.categories)
                for start in starts
                if (energy_type, unit, start) not in sums
            ]
            if gone:
                cur.execute(q.category_delete, (*_columns(gone, 3), grain.value))
                result.categories_deleted += max(cur.rowcount, 0)
            if rows:
                cur.execute(q.category_upsert, (grain.value, *_columns(rows, 6)))
                result.categories_written += max(cur.rowcount, 0)


def _recompute(
    conn: psycopg.Connection[Any],
    q: _Sql,
    tz: ZoneInfo,
    points: dict[int, _Point],
    windows: dict[int, list[Window]],
) -> Recomputed:
    result = Recomputed(points=len(windows))
    calendar = _Calendar(tz)
    touched = _Touched()
    with conn.cursor() as cur:
        for chunk in _chunked_pieces(_pieces(windows)):
            _quarter_hours(cur, q, points, chunk, calendar, touched, result)
        for grain in (Grain.H1, Grain.D1, Grain.MO1):
            _parents(cur, q, points, grain, touched.parents[grain], calendar, touched, result)
        _category_rollups(cur, q, touched, result)
    return result


# --- public API ----------------------------------------------------------------------------


def recompute(
    session_or_conn: Executor,
    schema: str,
    tz: ZoneInfo | str,
    point_ids: Iterable[int],
    from_ts: datetime,
    to_ts: datetime,
) -> Recomputed:
    """Recompute the rollups of ``point_ids`` for readings changed in [from_ts, to_ts].

    Runs in the caller's transaction (the caller commits) and waits for the
    tenant's rollup lock. ``schema`` must come from the tenant registry; ``tz``
    is the tenant's zone (a ZoneInfo or its name). Raises ValueError for naive
    datetimes, an end before the start, an unknown zone or ids that are not
    points of the tenant.
    """
    low, high = _aware(from_ts, "from_ts"), _aware(to_ts, "to_ts")
    if high < low:
        raise ValueError(
            f"to_ts ({high.isoformat()}) must not be before from_ts ({low.isoformat()})"
        )
    zone = _zone(tz)
    ids = _point_ids(point_ids)
    if not ids:
        return Recomputed()
    conn = _driver(session_or_conn)
    q = _Sql(schema)
    with conn.cursor() as cur:
        _lock(cur, schema, wait=True)
        points = _load_points(cur, q, ids)
    unknown = [point_id for point_id in ids if point_id not in points]
    if unknown:
        raise ValueError(f"unknown point ids in tenant schema {schema!r}: {unknown}")
    return _recompute(conn, q, zone, points, {point_id: [(low, high)] for point_id in ids})


def merge_windows(ranges: Iterable[Claimed]) -> dict[int, list[Window]]:
    """Per point, the claimed ranges merged where they overlap or lie within MERGE_GAP."""
    per_point: dict[int, list[Window]] = defaultdict(list)
    for claimed in ranges:
        low, high = sorted((claimed.from_ts.astimezone(UTC), claimed.to_ts.astimezone(UTC)))
        for point_id in claimed.points:
            per_point[point_id].append((low, high))
    merged: dict[int, list[Window]] = {}
    for point_id, spans in per_point.items():
        spans.sort()
        out = [spans[0]]
        for low, high in spans[1:]:
            last_low, last_high = out[-1]
            if low <= last_high + MERGE_GAP:
                out[-1] = (last_low, max(last_high, high))
            else:
                out.append((low, high))
        merged[point_id] = out
    return merged


def claim_dirty(session_or_conn: Executor, schema: str, limit: int) -> list[Claimed]:
    """Take up to ``limit`` dirty_ranges rows (oldest first) in the caller's transaction.

    The rows are deleted, and locked until the transaction ends: a concurrent
    claimer skips them, a rollback (or a crash) puts them back.
    """
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    with _driver(session_or_conn).cursor() as cur:
        cur.execute(_Sql(schema).claim, (limit,))
        return [
            Claimed(row_id, tuple(points), from_ts.astimezone(UTC), to_ts.astimezone(UTC))
            for row_id, points, from_ts, to_ts in cur.fetchall()
        ]


def process_dirty(
    database: Database, schema: str, tz: ZoneInfo | str, limit: int = 200
) -> DirtyRun:
    """Claim up to ``limit`` dirty ranges of one tenant and recompute them, in one transaction.

    Returns ``busy`` without claiming anything when another transaction is
    rolling up this tenant. Ids that are not points of the tenant are reported
    and dropped (a stuck row would otherwise block the tenant for good).
    """
    zone = _zone(tz)
    run = DirtyRun()
    with database.transaction(schema) as session:
        conn = _driver(session)
        q = _Sql(schema)
        with conn.cursor() as cur:
            if not _lock(cur, schema, wait=False):
                run.busy = True
                return run
        claimed = claim_dirty(conn, schema, limit)
        run.claimed = tuple(c.id for c in claimed)
        if not claimed:
            return run
        windows = merge_windows(claimed)
        with conn.cursor() as cur:
            points = _load_points(cur, q, sorted(windows))
        run.unknown_points = tuple(sorted(set(windows) - set(points)))
        if run.unknown_points:
            log.warning(
                "%s: dirty ranges name unknown points %s; dropped",
                schema,
                list(run.unknown_points),
            )
        known = {point_id: spans for point_id, spans in windows.items() if point_id in points}
        run.recomputed = _recompute(conn, q, zone, points, known)
    return run


def has_dirty(session_or_conn: Executor, schema: str) -> bool:
    """Whether the tenant has dirty ranges waiting."""
    with _driver(session_or_conn, transaction=False).cursor() as cur:
        cur.execute(_Sql(schema).any_dirty)
        row = cur.fetchone()
    return bool(row and row[0])


def record_replacement(
    session: Session,
    point_id: int,
    at: datetime,
    old_final: float,
    new_initial: float,
    note: str | None = None,
) -> MeterReplacement:
    """Record a meter replacement and mark the point dirty at ``at`` (caller commits).

    ``session`` is bound to the tenant's schema. The dirty range makes the next
    rollup recompute the counter step that spans the replacement.
    """
    moment = _aware(at, "at")
    replacement = MeterReplacement(
        point=point_id, at=moment, old_final=old_final, new_initial=new_initial, note=note
    )
    session.add(replacement)
    session.add(DirtyRange(points=[point_id], from_ts=moment, to_ts=moment))
    session.flush()
    return replacement


# --- configuration changes that change past figures --------------------------------------

# Fields of a point that its rollups are computed from; changing one recomputes its past.
ROLLUP_FIELDS = frozenset(
    {"kind", "rollover_max", "fill_gaps", "interval_s", "energy_type", "unit", "in_category_total"}
)
# Fields that decide which category total a point counts in.
CATEGORY_FIELDS = frozenset({"energy_type", "unit", "in_category_total", "kind"})


def mark_history_dirty(session: Session, point_ids: Iterable[int]) -> None:
    """Mark the whole span of each point's stored readings dirty (caller commits).

    One indexed min/max per point and partition, then one dirty range per point: the
    next rollup run recomputes its every bucket.
    """
    for point_id in sorted(set(point_ids)):
        low, high = session.execute(
            select(func.min(ReadingRow.ts), func.max(ReadingRow.ts)).where(
                ReadingRow.point == point_id
            )
        ).one()
        if low is not None:
            session.add(DirtyRange(points=[point_id], from_ts=low, to_ts=high))
    session.flush()


def point_changed(session: Session, point: Point, before: dict[str, Any]) -> None:
    """After a point's fields changed from ``before``: recompute what they affect.

    A change of category also rebuilds the old category's totals, by marking the
    points still in it (the point's own recompute only touches its new category).
    """
    changed = {name for name in ROLLUP_FIELDS if before.get(name) != getattr(point, name)}
    if not changed:
        return
    ids = {point.id}
    if changed & CATEGORY_FIELDS and before.get("kind") == PointKind.CUMULATIVE:
        ids |= set(
            session.scalars(
                select(Point.id).where(
                    Point.energy_type == before["energy_type"],
                    Point.unit == before["unit"],
                    Point.kind == PointKind.CUMULATIVE,
                    Point.in_category_total.is_(True),
                )
            )
        )
    mark_history_dirty(session, ids)
