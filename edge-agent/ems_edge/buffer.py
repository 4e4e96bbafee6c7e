"""The durable local buffer: every reading is on disk before anything is sent.

DESIGN.md section 4, step 2, and construction code 4.3.7(5) (store what could
not be uploaded, re-send when the network is back). SQLite in WAL mode with
``synchronous=FULL``: a reading the poller was told is stored survives a
SIGKILL and a power cut. Each reading gets the next gateway sequence number;
sequences are contiguous, so "what a data centre still needs" is a set of
ranges (:class:`~ems_edge.ranges.RangeSet`) and the buffer's depth is
arithmetic. A reading is deleted only when *every* configured data centre has
acknowledged it after its database commit.

Capacity is computed from the configuration (readings per day x buffer days,
at least 15 days). When the buffer is full the oldest data is kept and new
readings are refused with :class:`~ems_edge.errors.BufferFullError`; the
poller turns that into a ``buffer_full`` event: loud, never silent.

The per-point, per-day completeness ledger (count, gaps, digest) is updated in
the same transaction as the readings it counts, so the two never disagree.

Threads: one writer connection behind a lock (the pollers append); each
reading thread (a publisher per data centre) gets its own connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ems_edge.errors import BufferFullError
from ems_edge.ranges import RangeSet
from ems_edge.wire import DigestAccumulator, utc_day

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (no INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY, point_no INTEGER NOT NULL, ts_ms INTEGER NOT NULL, value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acked (
    dc TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, PRIMARY KEY (dc, first)
);
CREATE TABLE IF NOT EXISTS ledger (
    day TEXT NOT NULL, point_id TEXT NOT NULL, count INTEGER NOT NULL, gaps INTEGER NOT NULL,
    digest TEXT NOT NULL, PRIMARY KEY (day, point_id)
);
-- AUTOINCREMENT: numbers must never be reused once the table has been emptied, since
-- each data centre's event cursor is a number.
CREATE TABLE IF NOT EXISTS events (no INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
"""

#: (point_id, ts_ms, value): what a poll hands to the buffer.
NewReading = tuple[str, int, float]
#: (seq, point_id, ts_ms, value): what the publisher reads back.
StoredReading = tuple[int, str, int, float]


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One point's completeness on one UTC day."""

    day: str
    point_id: str
    count: int
    gaps: int
    digest: str


@dataclass(slots=True)
class _LedgerDelta:
    """What one append adds to one ledger row."""

    count: int = 0
    gaps: int = 0
    digest: DigestAccumulator = field(default_factory=lambda: DigestAccumulator())


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with full sync (what is committed survives a power cut)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class Buffer:
    """Readings, acknowledgements, the completeness ledger and pending events, in one file."""

    def __init__(self, path: Path, capacity: int, data_centres: Sequence[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.capacity = capacity
        self.data_centres = tuple(data_centres)
        self._write = connect(path)
        self._write.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._point_nos: dict[str, int] = dict(self._write.execute("SELECT id, no FROM points"))
        self._point_ids = {no: pid for pid, no in self._point_nos.items()}
        self.last_seq = self._load_last_seq()
        self.first_seq = self._load_first_seq()
        self._acked = {dc: self._load_acked(dc) for dc in self.data_centres}

    # -- writing ---------------------------------------------------------------------------

    def append(self, readings: Sequence[NewReading], gaps: Iterable[tuple[str, int]] = ()) -> int:
        """Store ``readings`` durably and count them (and ``gaps``) in the ledger; returns last seq.

        All or nothing: if the batch does not fit, nothing is stored and
        :class:`BufferFullError` says how full the buffer is.
        """
        with self._lock:
            depth = self.last_seq - self.first_seq + 1
            if readings and depth + len(readings) > self.capacity:
                raise BufferFullError(
                    f"buffer full: {depth} of {self.capacity} readings held; "
                    f"{len(readings)} new readings refused, the oldest are kept"
                )
            first = self.last_seq + 1
            rows = [
                (first + i, self._point_no(pid), ts, value)
                for i, (pid, ts, value) in enumerate(readings)
            ]
            ledger = self._ledger_delta(readings, gaps)
            conn = self._write
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", rows)
                self._apply_ledger(conn, ledger)
                if rows:
                    conn.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(rows[-1][0]),)
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if rows:
                self.last_seq = rows[-1][0]
            return self.last_seq

    def _point_no(self, point_id: str) -> int:
        no = self._point_nos.get(point_id)
        if no is None:
            query = "INSERT INTO points (id) VALUES (?) RETURNING no"
            no = int(self._write.execute(query, (point_id,)).fetchone()[0])
            self._point_nos[point_id] = no
            self._point_ids[no] = point_id
        return no

    @staticmethod
    def _ledger_delta(
        readings: Sequence[NewReading], gaps: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, str], _LedgerDelta]:
        delta: dict[tuple[str, str], _LedgerDelta] = defaultdict(_LedgerDelta)
        for pid, ts, value in readings:
            entry = delta[(utc_day(ts), pid)]
            entry.count += 1
            entry.digest.add(ts, value)
        for pid, ts in gaps:
            delta[(utc_day(ts), pid)].gaps += 1
        return delta

    @staticmethod
    def _apply_ledger(conn: sqlite3.Connection, delta: dict[tuple[str, str], _LedgerDelta]) -> None:
        for (day, pid), entry in delta.items():
            count, gaps, digest = entry.count, entry.gaps, entry.digest
            row = conn.execute(
                "SELECT count, gaps, digest FROM ledger WHERE day = ? AND point_id = ?", (day, pid)
            ).fetchone()
            if row is not None:
                digest.merge(DigestAccumulator(row[0], int(row[2], 16)))
                count, gaps = count + row[0], gaps + row[1]
            conn.execute(
                "INSERT OR REPLACE INTO ledger VALUES (?, ?, ?, ?, ?)",
                (day, pid, count, gaps, digest.hexdigest()),
            )

    # -- reading ---------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

    def read(self, from_seq: int, limit: int, to_seq: int | None = None) -> list[StoredReading]:
        """Up to ``limit`` readings with ``from_seq <= seq <= to_seq``, oldest first."""
        upper = self.last_seq if to_seq is None else to_seq
        rows = (
            self._reader()
            .execute(
                "SELECT seq, point_no, ts_ms, value FROM readings WHERE seq BETWEEN ? AND ? "
                "ORDER BY seq LIMIT ?",
                (from_seq, upper, limit),
            )
            .fetchall()
        )
        ids = self._point_ids
        try:
            return [(seq, ids[no], ts, value) for seq, no, ts, value in rows]
        except KeyError:
            self._point_ids = dict(self._reader().execute("SELECT no, id FROM points"))
            ids = self._point_ids
            return [(seq, ids[no], ts, value) for seq, no, ts, value in rows]

    # -- acknowledgements ------------------------------------------------------------------

    def acked(self, dc: str) -> RangeSet:
        """A copy of what data centre ``dc`` has acknowledged."""
        return RangeSet(self._acked[dc])

    def acknowledge(self, dc: str, ranges: Iterable[tuple[int, int]]) -> None:
        """Record that ``dc`` committed ``ranges``; ranges beyond what was written are refused."""
        ranges = list(ranges)
        with self._lock:
            for first, last in ranges:  # all checked before any is recorded
                if first > last or last > self.last_seq:
                    raise ValueError(f"{dc} acknowledged {first}..{last}, beyond {self.last_seq}")
            acked = self._acked[dc]
            for first, last in ranges:
                acked.add(first, last)
            conn = self._write
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM acked WHERE dc = ?", (dc,))
            conn.executemany("INSERT INTO acked VALUES (?, ?, ?)", [(dc, f, t) for f, t in acked])
            conn.execute("COMMIT")

    def pending(self, dc: str) -> int:
        """How many buffered readings ``dc`` has not acknowledged."""
        acked = self._acked[dc]
        missing = self.last_seq - self.first_seq + 1
        for first, last in acked:
            overlap = min(last, self.last_seq) - max(first, self.first_seq) + 1
            missing -= max(0, overlap)
        return missing

    def prune(self, chunk: int = 50_000) -> int:
        """Delete readings every data centre has acknowledged, oldest first; returns how many."""
        floor = min(self._acked[dc].floor(0) for dc in self.data_centres)
        upper = min(floor, self.first_seq + chunk - 1)
        if upper < self.first_seq:
            return 0
        with self._lock:
            conn = self._write
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM readings WHERE seq <= ?", (upper,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('first_seq', ?)", (str(upper + 1),))
            conn.execute("COMMIT")
            removed = upper - self.first_seq + 1
            self.first_seq = upper + 1
            return removed

    # -- ledger and events -----------------------------------------------------------------

    def ledger(self, day: str) -> list[LedgerRow]:
        """The completeness ledger of UTC ``day``."""
        rows = self._reader().execute(
            "SELECT day, point_id, count, gaps, digest FROM ledger WHERE day = ? ORDER BY point_id",
            (day,),
        )
        return [LedgerRow(*row) for row in rows]

    def forget_ledger_before(self, day: str) -> None:
        """Drop ledger days older than ``day`` (they were sent many times over)."""
        with self._lock:
            self._write.execute("DELETE FROM ledger WHERE day < ?", (day,))

    def add_event(self, body: str) -> None:
        """Keep an event (JSON) until it has been published."""
        with self._lock:
            self._write.execute("INSERT INTO events (body) VALUES (?)", (body,))

    def events(self, limit: int = 100) -> list[tuple[int, str]]:
        """The oldest unpublished events."""
        query = "SELECT no, body FROM events ORDER BY no LIMIT ?"
        return list(self._reader().execute(query, (limit,)))

    def drop_events(self, through: int) -> None:
        """Forget events up to number ``through`` (published and acknowledged by the broker)."""
        with self._lock:
            self._write.execute("DELETE FROM events WHERE no <= ?", (through,))

    # -- state -----------------------------------------------------------------------------

    def depth(self) -> int:
        """How many readings are held."""
        return self.last_seq - self.first_seq + 1

    def close(self) -> None:
        """Close the writer connection (reader connections close with their threads)."""
        with self._lock:
            self._write.close()

    def _load_last_seq(self) -> int:
        row = self._write.execute("SELECT max(seq) FROM readings").fetchone()
        meta = self._write.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        return max(row[0] or 0, int(meta[0]) if meta else 0)

    def _load_first_seq(self) -> int:
        row = self._write.execute("SELECT min(seq) FROM readings").fetchone()
        if row[0] is not None:
            return int(row[0])
        return self.last_seq + 1

    def _load_acked(self, dc: str) -> RangeSet:
        rows = self._write.execute("SELECT first, last FROM acked WHERE dc = ?", (dc,)).fetchall()
        # Sequence numbers start at 1; 0 and everything pruned count as acknowledged, and a
        # data centre seen for the first time gets everything still buffered.
        return RangeSet([(0, self.first_seq - 1), *rows])
