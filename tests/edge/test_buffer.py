"""The durable buffer: contiguous sequence numbers, acknowledgements, pruning, capacity,
the completeness ledger, reopening, concurrency, and a writer killed mid-write."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ems_edge.buffer import Buffer, NewReading
from ems_edge.errors import BufferFullError
from ems_edge.wire import DigestAccumulator

#: 2026-11-21 00:00:00 UTC in milliseconds.
DAY_START = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp() * 1000)
CENTRES = ("dc1", "dc2")


def batch(n: int, point: str = "p1", start: int = 0) -> list[NewReading]:
    """``n`` readings of ``point`` one minute apart, values 0.5, 1.5, ... from ``start``."""
    return [(point, DAY_START + (start + i) * 60_000, start + i + 0.5) for i in range(n)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where the buffer file lives (a directory that does not exist yet)."""
    return tmp_path / "state" / "buffer.db"


@pytest.fixture
def buffer(path: Path) -> Iterator[Buffer]:
    """A buffer for 100 readings and two data centres."""
    opened = Buffer(path, 100, CENTRES)
    yield opened
    opened.close()


def seqs(buffer: Buffer) -> list[int]:
    """Every sequence number held, in order."""
    return [row[0] for row in buffer.read(0, 1_000_000)]


def reopen(buffer: Buffer, centres: tuple[str, ...] = CENTRES, capacity: int = 100) -> Buffer:
    """Close ``buffer`` and open its file again."""
    buffer.close()
    return Buffer(buffer.path, capacity, centres)


# -- sequence numbers and reading back -----------------------------------------------------


def test_sequence_numbers_are_contiguous_from_one(buffer: Buffer) -> None:
    assert buffer.last_seq == 0 and buffer.depth() == 0
    assert buffer.append(batch(3)) == 3
    assert buffer.append(batch(2, "p2")) == 5
    assert buffer.append([]) == 5
    assert buffer.read(1, 100) == [
        (1, "p1", DAY_START, 0.5),
        (2, "p1", DAY_START + 60_000, 1.5),
        (3, "p1", DAY_START + 120_000, 2.5),
        (4, "p2", DAY_START, 0.5),
        (5, "p2", DAY_START + 60_000, 1.5),
    ]
    assert (buffer.first_seq, buffer.last_seq, buffer.depth()) == (1, 5, 5)


def test_read_honours_from_limit_and_to(buffer: Buffer) -> None:
    buffer.append(batch(10))
    assert [r[0] for r in buffer.read(4, 3)] == [4, 5, 6]
    assert [r[0] for r in buffer.read(4, 100, to_seq=6)] == [4, 5, 6]
    assert [r[0] for r in buffer.read(9, 100)] == [9, 10]
    assert buffer.read(11, 100) == []
    assert buffer.read(6, 100, to_seq=5) == []


# -- acknowledgements and pruning ----------------------------------------------------------


def test_acknowledgements_are_per_data_centre(buffer: Buffer) -> None:
    buffer.append(batch(10))
    buffer.acknowledge("dc1", [(1, 3), (6, 7)])
    assert buffer.pending("dc1") == 5
    assert buffer.pending("dc2") == 10
    acked = buffer.acked("dc1")
    assert [n for n in range(1, 11) if n in acked] == [1, 2, 3, 6, 7]
    assert all(n not in buffer.acked("dc2") for n in range(1, 11))
    buffer.acknowledge("dc1", [(4, 5)])
    assert buffer.pending("dc1") == 3
    assert buffer.acked("dc1").floor(1) == 7


def test_acked_returns_a_copy(buffer: Buffer) -> None:
    buffer.append(batch(5))
    buffer.acked("dc1").add(1, 5)
    assert buffer.pending("dc1") == 5


@pytest.mark.parametrize("ranges", [[(1, 6)], [(6, 6)], [(3, 2)], [(1, 2), (4, 6)]])
def test_acknowledgement_beyond_last_seq_is_refused_and_records_nothing(
    buffer: Buffer, ranges: list[tuple[int, int]]
) -> None:
    buffer.append(batch(5))
    with pytest.raises(ValueError, match="dc1 acknowledged"):
        buffer.acknowledge("dc1", ranges)
    assert buffer.pending("dc1") == 5
    assert all(n not in buffer.acked("dc1") for n in range(1, 6))
    reopened = reopen(buffer)
    assert reopened.pending("dc1") == 5
    reopened.close()


def test_prune_deletes_only_what_every_data_centre_acknowledged(buffer: Buffer) -> None:
    buffer.append(batch(10))
    buffer.acknowledge("dc1", [(1, 10)])
    assert buffer.prune() == 0, "dc2 has acknowledged nothing"
    buffer.acknowledge("dc2", [(1, 4), (6, 10)])
    assert buffer.prune() == 4
    assert seqs(buffer) == [5, 6, 7, 8, 9, 10]
    assert (buffer.first_seq, buffer.depth()) == (5, 6)
    assert buffer.pending("dc1") == 0 and buffer.pending("dc2") == 1
    assert buffer.prune() == 0
    buffer.acknowledge("dc2", [(5, 5)])
    assert buffer.prune() == 6
    assert seqs(buffer) == [] and buffer.depth() == 0
    assert buffer.append(batch(1)) == 11


def test_prune_works_in_chunks(buffer: Buffer) -> None:
    buffer.append(batch(10))
    for dc in CENTRES:
        buffer.acknowledge(dc, [(1, 10)])
    assert [buffer.prune(chunk=4) for _ in range(4)] == [4, 4, 2, 0]
    assert buffer.depth() == 0


# -- capacity ------------------------------------------------------------------------------


def test_full_buffer_refuses_the_whole_batch_and_keeps_the_oldest(path: Path) -> None:
    small = Buffer(path, 5, CENTRES)
    assert small.append(batch(3)) == 3
    with pytest.raises(BufferFullError, match="buffer full: 3 of 5 readings held"):
        small.append(batch(3, "p2"), gaps=[("p2", DAY_START)])
    assert small.last_seq == 3 and seqs(small) == [1, 2, 3]
    assert [(r.point_id, r.count, r.gaps) for r in small.ledger("2026-11-21")] == [("p1", 3, 0)]
    assert small.append(batch(2, "p1", 3)) == 5
    with pytest.raises(BufferFullError):
        small.append(batch(1, "p1", 5))
    assert [r[3] for r in small.read(1, 10)] == [0.5, 1.5, 2.5, 3.5, 4.5]
    for dc in CENTRES:
        small.acknowledge(dc, [(1, 2)])
    assert small.prune() == 2
    assert small.append(batch(2, "p1", 5)) == 7
    small.close()


def test_batch_larger_than_the_whole_buffer_is_refused(path: Path) -> None:
    small = Buffer(path, 5, CENTRES)
    with pytest.raises(BufferFullError):
        small.append(batch(6))
    assert small.last_seq == 0 and seqs(small) == [] and small.ledger("2026-11-21") == []
    assert small.append(batch(5)) == 5
    small.close()


# -- the completeness ledger ---------------------------------------------------------------


def digest(readings: list[NewReading]) -> str:
    """The digest of ``readings``, computed independently of the buffer."""
    accumulator = DigestAccumulator()
    for _, ts, value in readings:
        accumulator.add(ts, value)
    return accumulator.hexdigest()


def test_ledger_counts_readings_and_gaps_per_point_and_utc_day(buffer: Buffer) -> None:
    # 23:58 and 23:59 UTC on the 21st, 00:00 and 00:01 on the 22nd; 07:30 on the 22nd in
    # Beijing is 23:30 UTC on the 21st.
    late = [("p1", DAY_START + 86_400_000 - 120_000 + i * 60_000, 10.0 + i) for i in range(4)]
    beijing = ("p2", DAY_START + 86_400_000 - 1_800_000, 7.25)
    gaps = [("p1", DAY_START + 3_600_000), ("p2", DAY_START + 86_400_000 + 5_000)]
    buffer.append([*late, beijing], gaps)
    day1, day2 = buffer.ledger("2026-11-21"), buffer.ledger("2026-11-22")
    assert [(r.day, r.point_id, r.count, r.gaps) for r in day1] == [
        ("2026-11-21", "p1", 2, 1),
        ("2026-11-21", "p2", 1, 0),
    ]
    assert [(r.point_id, r.count, r.gaps) for r in day2] == [("p1", 2, 0), ("p2", 0, 1)]
    assert day1[0].digest == digest(late[:2])
    assert day1[1].digest == digest([beijing])
    assert day2[0].digest == digest(late[2:])
    assert day2[1].digest == DigestAccumulator().hexdigest()


def test_ledger_accumulates_over_appends_in_any_order(buffer: Buffer) -> None:
    readings = batch(9)
    buffer.append(readings[6:])
    buffer.append(readings[:3], gaps=[("p1", DAY_START + 9 * 60_000)])
    buffer.append([], gaps=[("p1", DAY_START + 10 * 60_000)])
    buffer.append(readings[3:6])
    (row,) = buffer.ledger("2026-11-21")
    assert (row.count, row.gaps, row.digest) == (9, 2, digest(readings))


def test_ledger_outlives_pruning_and_is_forgotten_by_day(buffer: Buffer) -> None:
    buffer.append(batch(3))
    buffer.append([("p1", DAY_START + 86_400_000, 1.0)])
    for dc in CENTRES:
        buffer.acknowledge(dc, [(1, 4)])
    buffer.prune()
    assert [r.count for r in buffer.ledger("2026-11-21")] == [3]
    buffer.forget_ledger_before("2026-11-22")
    assert buffer.ledger("2026-11-21") == []
    assert [r.count for r in buffer.ledger("2026-11-22")] == [1]


# -- reopening -----------------------------------------------------------------------------


def test_reopening_restores_sequence_numbers_and_acknowledgements(buffer: Buffer) -> None:
    buffer.append(batch(10))
    buffer.acknowledge("dc1", [(1, 10)])
    buffer.acknowledge("dc2", [(1, 3), (5, 6)])
    buffer.prune()
    again = reopen(buffer)
    assert (again.first_seq, again.last_seq) == (4, 10)
    assert again.pending("dc1") == 0 and again.pending("dc2") == 5
    assert seqs(again) == list(range(4, 11))
    assert again.read(4, 1) == [(4, "p1", DAY_START + 3 * 60_000, 3.5)]
    assert again.append(batch(1, "p3")) == 11
    again.close()


def test_sequence_numbers_never_restart_after_everything_was_pruned(buffer: Buffer) -> None:
    buffer.append(batch(7))
    for dc in CENTRES:
        buffer.acknowledge(dc, [(1, 7)])
    assert buffer.prune() == 7
    again = reopen(buffer)
    assert (again.first_seq, again.last_seq, again.depth()) == (8, 7, 0)
    assert again.pending("dc1") == 0 and again.pending("dc2") == 0
    assert again.append(batch(2)) == 9
    assert seqs(again) == [8, 9]
    third = reopen(again)
    assert (third.first_seq, third.last_seq) == (8, 9)
    third.close()


def test_data_centre_added_later_gets_everything_still_buffered(path: Path) -> None:
    alone = Buffer(path, 100, ["dc1"])
    alone.append(batch(10))
    alone.acknowledge("dc1", [(1, 6)])
    assert alone.prune() == 6
    both = reopen(alone, ("dc1", "dc-new"))
    assert both.pending("dc-new") == 4
    assert [n for n in range(7, 11) if n in both.acked("dc-new")] == []
    assert both.pending("dc1") == 4
    both.acknowledge("dc1", [(7, 10)])
    assert both.pending("dc1") == 0
    assert both.prune() == 0, "the new data centre holds back pruning"
    both.acknowledge("dc-new", [(7, 10)])
    assert both.prune() == 4
    both.close()


def test_event_numbers_are_never_reused(buffer: Buffer) -> None:
    for n in range(3):
        buffer.add_event(f'{{"n": {n}}}')
    assert [no for no, _ in buffer.events()] == [1, 2, 3]
    buffer.drop_events(3)
    assert buffer.events() == []
    buffer.add_event('{"n": 3}')
    assert buffer.events() == [(4, '{"n": 3}')]
    buffer.drop_events(4)
    again = reopen(buffer)
    again.add_event('{"n": 4}')
    assert again.events() == [(5, '{"n": 4}')]
    assert again.events(limit=0) == []
    again.close()


# -- concurrency ---------------------------------------------------------------------------


def test_concurrent_appends_get_unique_contiguous_numbers(path: Path) -> None:
    shared = Buffer(path, 10_000, CENTRES)
    returned: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def writer(point: str) -> None:
        start.wait()
        returned[point] = [shared.append(batch(5, point, 5 * i)) for i in range(40)]

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert shared.last_seq == 800
    rows = shared.read(1, 10_000)
    assert [r[0] for r in rows] == list(range(1, 801))
    for point, lasts in returned.items():
        mine = [r for r in rows if r[1] == point]
        assert [r[3] for r in mine] == [i + 0.5 for i in range(200)], "lost or reordered"
        # Each batch is stored as one contiguous run ending at the seq append returned.
        for k, last in enumerate(lasts):
            assert [r[0] for r in mine[5 * k : 5 * k + 5]] == list(range(last - 4, last + 1))
    shared.close()


# -- a writer killed mid-write -------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from ems_edge.buffer import Buffer

buffer = Buffer(Path(sys.argv[1]), 10**9, ["dc1"])
while True:
    first = buffer.last_seq + 1
    # value == seq and ts == base + seq, so the parent can check every row it was promised
    rows = [("p1", 1_795_000_000_000 + first + i, float(first + i)) for i in range(7)]
    print(buffer.append(rows), flush=True)
"""


def _kill_while_writing(path: Path) -> list[int]:
    """Run the writer until it has printed for about 1.5 s, SIGKILL it; what it printed."""
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
    assert process.stdout is not None
    stdout = process.stdout
    printed: list[int] = []

    def read() -> None:
        for line in stdout:
            if line.endswith(b"\n"):  # a line cut by the kill was never fully promised
                printed.append(int(line))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while not printed and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        time.sleep(1.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        reader.join(timeout=10)
        stdout.close()
    assert process.returncode == -signal.SIGKILL, "the writer died on its own"
    assert printed, "the writer never stored anything"
    return printed


def _check_file(path: Path) -> int:
    """Integrity, contiguity and every row's content; returns the last sequence number."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute("SELECT seq, ts_ms, value FROM readings ORDER BY seq").fetchall()
        counted = conn.execute("SELECT sum(count) FROM ledger").fetchone()[0]
    finally:
        conn.close()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert all(ts == 1_795_000_000_000 + seq and value == seq for seq, ts, value in rows)
    assert counted == len(rows), "the ledger disagrees with the readings"
    return len(rows)


def test_readings_survive_sigkill_of_the_writer(path: Path) -> None:
    path.parent.mkdir(parents=True)
    before = 0
    for _ in range(3):
        printed = _kill_while_writing(path)
        assert printed == sorted(printed) and printed[0] > before, "sequence numbers restarted"
        reopened = Buffer(path, 10**9, ["dc1"])
        try:
            assert reopened.last_seq >= printed[-1], "a reading the writer was promised is lost"
            last7 = range(printed[-1] - 6, printed[-1] + 1)
            rows = reopened.read(last7[0], 7, last7[-1])
            assert [(r[0], r[3]) for r in rows] == [(seq, float(seq)) for seq in last7]
            before = reopened.last_seq
        finally:
            reopened.close()
        # Every printed seq is at most last_seq, and 1..last_seq are all there with their rows.
        assert _check_file(path) == before
    assert before > 0
