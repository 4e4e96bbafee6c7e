"""Interval consumption and samples from raw readings of one point.

Every expected value is worked out by hand in the test (as arithmetic a
reviewer can check), never copied from a run of the code.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ems.telemetry.calendar import Grain, bucket_start, buckets_between, parent
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

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
NONE = Flag(0)
SPEC = CounterSpec(rollover_max=None, max_gap=timedelta(minutes=30), fill_gaps=False)
FILL = CounterSpec(rollover_max=None, max_gap=timedelta(minutes=30), fill_gaps=True)


def at(minutes: float) -> datetime:
    """T0 plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


def readings(*pairs: tuple[float, float]) -> list[Reading]:
    """Valid readings from (minutes after T0, value) pairs."""
    return [Reading(at(minutes), value, Quality.VALID) for minutes, value in pairs]


def table(intervals: Sequence[Interval]) -> list[tuple[datetime, float, int, Flag]]:
    return [(i.start, i.consumption, i.count, i.flags) for i in intervals]


def rollup(intervals: Sequence[Interval], grain: Grain, tz: ZoneInfo) -> dict[datetime, Interval]:
    """Quarter hours combined into the ``grain`` buckets of ``tz`` holding them."""
    groups: dict[datetime, list[Interval]] = defaultdict(list)
    for interval in intervals:
        groups[bucket_start(interval.start, grain, tz)].append(interval)
    return {start: combine_intervals(children, start) for start, children in groups.items()}


# --- plain steps -----------------------------------------------------------------


def test_steady_counter_every_bucket_is_the_difference() -> None:
    rows = readings((0, 100.0), (15, 102.5), (30, 105.0), (45, 107.5), (60, 110.0))
    assert table(cumulative_intervals(rows, SPEC)) == [
        (at(0), 2.5, 1, NONE),  # 102.5 - 100.0
        (at(15), 2.5, 1, NONE),  # 105.0 - 102.5
        (at(30), 2.5, 1, NONE),
        (at(45), 2.5, 1, NONE),
        (at(60), 0.0, 1, NONE),  # the last reading's bucket: no step starts there yet
    ]


def test_misaligned_readings_split_in_proportion_to_time() -> None:
    rows = readings((10, 100.0), (20, 106.0), (35, 109.0), (50, 112.0))
    result = cumulative_intervals(rows, SPEC)
    # 00:10-00:20, step 6: 5/10 to 00:00, 5/10 to 00:15        -> 3 and 3
    # 00:20-00:35, step 3: 10/15 to 00:15, 5/15 to 00:30       -> 2 and 1
    # 00:35-00:50, step 3: 10/15 to 00:30, 5/15 to 00:45       -> 2 and 1
    assert [i.start for i in result] == [at(0), at(15), at(30), at(45)]
    assert [i.consumption for i in result] == pytest.approx([3.0, 3 + 2.0, 1 + 2.0, 1.0])
    assert [i.count for i in result] == [1, 1, 1, 1]
    assert math.fsum(i.consumption for i in result) == pytest.approx(112.0 - 100.0, rel=1e-12)


def test_step_on_bucket_boundaries_belongs_to_the_earlier_bucket_only() -> None:
    result = cumulative_intervals(readings((0, 1.0), (15, 4.0)), SPEC)
    assert table(result) == [(at(0), 3.0, 1, NONE), (at(15), 0.0, 1, NONE)]


def test_rollover() -> None:
    spec = CounterSpec(rollover_max=100000.0, max_gap=timedelta(minutes=30), fill_gaps=False)
    rows = readings((0, 99980.0), (15, 99990.0), (30, 15.0), (45, 40.0))
    assert table(cumulative_intervals(rows, spec)) == [
        (at(0), 10.0, 1, NONE),  # 99990 - 99980
        (at(15), 25.0, 1, Flag.ROLLOVER),  # 100000 - 99990 + 15
        (at(30), 25.0, 1, NONE),  # 40 - 15
        (at(45), 0.0, 1, NONE),
    ]


def test_drop_from_the_lower_half_is_not_a_rollover() -> None:
    # 40000 < 0.5 * 100000: a register near its top does not fall from there.
    spec = CounterSpec(rollover_max=100000.0, max_gap=timedelta(minutes=30), fill_gaps=False)
    result = cumulative_intervals(readings((0, 40000.0), (15, 30000.0)), spec)
    assert result[0].consumption == 0.0
    assert result[0].flags == Flag.NEGATIVE


def test_replacement_from_the_ledger() -> None:
    start = datetime(2026, 3, 2, 9, 45, tzinfo=UTC)
    rows = [
        Reading(start, 1498.0, Quality.VALID),
        Reading(start + timedelta(minutes=15), 1500.0, Quality.VALID),  # 10:00, old meter
        Reading(start + timedelta(minutes=30), 3.0, Quality.VALID),  # 10:15, new meter
        Reading(start + timedelta(minutes=45), 4.0, Quality.VALID),  # 10:30
    ]
    swap = Replacement(start + timedelta(minutes=20), old_final=1502.5, new_initial=0.0)
    result = cumulative_intervals(rows, SPEC, [swap])
    assert table(result) == [
        (start, 2.0, 1, NONE),  # 1500 - 1498
        (start + timedelta(minutes=15), 2.5 + 3.0, 1, Flag.REPLACEMENT),  # (1502.5-1500)+(3-0)
        (start + timedelta(minutes=30), 1.0, 1, NONE),  # 4 - 3
        (start + timedelta(minutes=45), 0.0, 1, NONE),
    ]
    # Old meter 1498 -> 1502.5, new meter 0 -> 4: 4.5 + 4.0.
    assert math.fsum(i.consumption for i in result) == pytest.approx(8.5, rel=1e-12)


def test_replacement_applies_even_when_the_raw_difference_is_positive() -> None:
    # New meter with a base (50) above the old reading (10): the raw difference
    # 52 - 10 = 42 would invent energy; the ledger gives (11 - 10) + (52 - 50) = 3.
    swap = Replacement(at(5), old_final=11.0, new_initial=50.0)
    result = cumulative_intervals(readings((0, 10.0), (15, 52.0)), SPEC, [swap])
    assert table(result)[0] == (at(0), 3.0, 1, Flag.REPLACEMENT)


def test_replacement_at_a_reading_belongs_to_the_step_ending_there() -> None:
    # Replacement recorded at 00:15, the new meter's first reading is at 00:15.
    swap = Replacement(at(15), old_final=105.0, new_initial=0.0)
    rows = readings((0, 100.0), (15, 0.0), (30, 2.0))
    assert [(i.consumption, i.flags) for i in cumulative_intervals(rows, SPEC, [swap])] == [
        (5.0, Flag.REPLACEMENT),  # (105 - 100) + (0 - 0)
        (2.0, NONE),  # 2 - 0
        (0.0, NONE),
    ]


def test_negative_step_counts_zero_and_the_counter_continues_from_the_new_value() -> None:
    rows = readings((0, 500.0), (15, 510.0), (30, 20.0), (45, 35.0), (60, 50.0))
    assert table(cumulative_intervals(rows, SPEC)) == [
        (at(0), 10.0, 1, NONE),  # 510 - 500
        (at(15), 0.0, 1, Flag.NEGATIVE),  # 510 -> 20: a reset, nothing is guessed
        (at(30), 15.0, 1, NONE),  # 35 - 20
        (at(45), 15.0, 1, NONE),  # 50 - 35
        (at(60), 0.0, 1, NONE),
    ]


# --- gaps ------------------------------------------------------------------------

GAP_ROWS = ((0, 100.0), (15, 104.0), (75, 116.0), (90, 118.0))  # 00:15 -> 01:15 is 60 min


def test_gap_without_fill_books_the_step_at_the_later_reading() -> None:
    result = cumulative_intervals(readings(*GAP_ROWS), SPEC)
    assert table(result) == [
        (at(0), 4.0, 1, NONE),  # 104 - 100
        (at(15), 0.0, 1, Flag.GAP),  # the hole 00:15-01:15 shows as GAP zeros
        (at(30), 0.0, 0, Flag.GAP),
        (at(45), 0.0, 0, Flag.GAP),
        (at(60), 0.0, 0, Flag.GAP),
        (at(75), 12.0 + 2.0, 1, Flag.GAP),  # (116 - 104) booked here, plus 118 - 116
        (at(90), 0.0, 1, NONE),
    ]
    assert math.fsum(i.consumption for i in result) == pytest.approx(118.0 - 100.0, rel=1e-12)


def test_gap_with_fill_spreads_linearly_and_flags_estimated() -> None:
    result = cumulative_intervals(readings(*GAP_ROWS), FILL)
    estimated = Flag.GAP | Flag.ESTIMATED
    # 12 over the four quarter hours 00:15, 00:30, 00:45, 01:00: 12 / 4 = 3 each.
    assert table(result) == [
        (at(0), 4.0, 1, NONE),
        (at(15), 3.0, 1, estimated),
        (at(30), 3.0, 0, estimated),
        (at(45), 3.0, 0, estimated),
        (at(60), 3.0, 0, estimated),
        (at(75), 2.0, 1, NONE),  # 118 - 116, a normal step
        (at(90), 0.0, 1, NONE),
    ]


def test_misaligned_gap_flags_every_bucket_it_touches() -> None:
    # 00:10 -> 01:10 (60 min): touches 00:00 (its last 5 min), 00:15, 00:30, 00:45, 01:00.
    rows = readings((0, 0.0), (10, 10.0), (70, 22.0))
    filled = cumulative_intervals(rows, FILL)
    # 12 over 60 min = 0.2 per minute: 5 min -> 1, 15 min -> 3, 10 min -> 2.
    assert [i.consumption for i in filled] == pytest.approx([10 + 1.0, 3.0, 3.0, 3.0, 2.0])
    assert all(Flag.GAP | Flag.ESTIMATED in i.flags for i in filled)
    unfilled = cumulative_intervals(rows, SPEC)
    assert [i.consumption for i in unfilled] == [10.0, 0.0, 0.0, 0.0, 12.0]
    assert all(Flag.GAP in i.flags for i in unfilled)
    assert not any(Flag.ESTIMATED in i.flags for i in unfilled)


def test_spacing_equal_to_max_gap_is_not_a_gap() -> None:
    result = cumulative_intervals(readings((0, 0.0), (30, 6.0)), SPEC)
    assert table(result) == [
        (at(0), 3.0, 1, NONE),  # 6 * 15/30
        (at(15), 3.0, 0, NONE),
        (at(30), 0.0, 1, NONE),
    ]


# --- quality, order, late data -----------------------------------------------------


def test_suspect_and_estimated_readings_flag_the_buckets_of_their_steps() -> None:
    rows = [
        Reading(at(0), 0.0, Quality.VALID),
        Reading(at(15), 1.0, Quality.SUSPECT),
        Reading(at(30), 2.0, Quality.VALID),
        Reading(at(45), 3.0, Quality.ESTIMATED),
        Reading(at(60), 4.0, Quality.MANUAL),
    ]
    assert [i.flags for i in cumulative_intervals(rows, SPEC)] == [
        Flag.SUSPECT,  # step 00:00 -> 00:15 ends at the suspect reading
        Flag.SUSPECT,  # step 00:15 -> 00:30 starts at it
        Flag.ESTIMATED,
        # Manual readings are trusted (neither suspect nor estimated) but stay marked manual.
        Flag.ESTIMATED | Flag.MANUAL,  # step 00:45 -> 01:00 ends at the manual reading
        NONE,  # the quarter of the last reading: no step reaches into it
    ]


def test_out_of_order_input_equals_sorted_input() -> None:
    ordered = readings((0, 100.0), (10, 101.0), (25, 104.0), (40, 104.5), (60, 109.0))
    shuffled = [ordered[3], ordered[0], ordered[4], ordered[2], ordered[1], ordered[3]]
    assert cumulative_intervals(shuffled, SPEC) == cumulative_intervals(ordered, SPEC)


def test_different_values_for_one_timestamp_are_refused() -> None:
    with pytest.raises(ValueError, match="two different values"):
        cumulative_intervals(readings((0, 1.0), (15, 2.0), (15, 3.0)), SPEC)


def test_late_reading_changes_only_the_buckets_between_its_neighbours() -> None:
    before = readings((0, 100.0), (15, 103.0), (45, 109.0), (60, 112.0), (75, 115.0))
    # 00:15 -> 00:45 (30 min, not a gap): 6 split 3 / 3 over 00:15 and 00:30.
    first = cumulative_intervals(before, SPEC)
    assert [i.consumption for i in first] == [3.0, 3.0, 3.0, 3.0, 3.0, 0.0]
    late = Reading(at(30), 107.0, Quality.VALID)
    second = cumulative_intervals([*before, late], SPEC)
    # Now 00:15 -> 00:30 is 107 - 103 = 4 and 00:30 -> 00:45 is 109 - 107 = 2.
    assert table(second)[1] == (at(15), 4.0, 1, NONE)
    assert table(second)[2] == (at(30), 2.0, 1, NONE)
    unchanged = [0, 3, 4, 5]
    assert [second[k] for k in unchanged] == [first[k] for k in unchanged]


def test_late_data_across_a_local_day_boundary_in_shanghai() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")

    def local(day: int, hour: int, minute: int) -> datetime:
        return datetime(2026, 3, day, hour, minute, tzinfo=shanghai)

    on_time = [
        Reading(local(1, 23, 30), 1000.0, Quality.VALID),
        Reading(local(1, 23, 45), 1001.0, Quality.VALID),
        Reading(local(2, 0, 30), 1005.5, Quality.VALID),
    ]
    late = Reading(local(2, 0, 15), 1004.0, Quality.VALID)
    # Local day 2026-03-01 starts 2026-02-28 16:00 UTC, 2026-03-02 at 2026-03-01 16:00 UTC.
    march_1, march_2 = datetime(2026, 2, 28, 16, tzinfo=UTC), datetime(2026, 3, 1, 16, tzinfo=UTC)

    # Before the late reading: 23:45 -> 00:30 is 45 min > 30 min, a gap, all 4.5 booked
    # in the 00:30 quarter (2 March).
    days = rollup(cumulative_intervals(on_time, SPEC), Grain.D1, shanghai)
    assert days[march_1].consumption == pytest.approx(1001.0 - 1000.0)
    assert days[march_2].consumption == pytest.approx(1005.5 - 1001.0)

    # With it (delivered last): 23:45 -> 00:15 gives 3.0, half before local midnight.
    days = rollup(cumulative_intervals([*on_time, late], SPEC), Grain.D1, shanghai)
    assert sorted(days) == [march_1, march_2]
    assert days[march_1].consumption == pytest.approx((1001.0 - 1000.0) + 3.0 / 2)  # 2.5
    assert days[march_2].consumption == pytest.approx(3.0 / 2 + (1005.5 - 1004.0))  # 3.0
    assert days[march_1].count == 2 and days[march_2].count == 2
    assert days[march_1].flags == NONE and days[march_2].flags == NONE


# --- DST days and half-hour zones -------------------------------------------------------


def steady_day(start: datetime, end: datetime) -> list[Reading]:
    """A reading every 15 min from ``start`` to ``end`` inclusive, 0.25 kWh per quarter."""
    count = (end - start) // timedelta(minutes=15)
    return [
        Reading(start + k * timedelta(minutes=15), 1000.0 + 0.25 * k, Quality.VALID)
        for k in range(count + 1)
    ]


@pytest.mark.parametrize(
    ("zone", "local_day", "utc_start", "utc_end", "hours"),
    [
        # 00:00 CET = 23:00 UTC the day before; 00:00 CEST of the 30th = 22:00 UTC.
        ("Europe/Berlin", (2026, 3, 29), (2026, 3, 28, 23), (2026, 3, 29, 22), 23),
        # 00:00 CEST = 22:00 UTC the day before; 00:00 CET of the 26th = 23:00 UTC.
        ("Europe/Berlin", (2026, 10, 25), (2026, 10, 24, 22), (2026, 10, 25, 23), 25),
        # 00:00 EDT = 04:00 UTC; 00:00 EST of the 2nd = 05:00 UTC.
        ("America/New_York", (2026, 11, 1), (2026, 11, 1, 4), (2026, 11, 2, 5), 25),
    ],
)
def test_dst_day_hour_buckets_and_total(
    zone: str,
    local_day: tuple[int, int, int],
    utc_start: tuple[int, int, int, int],
    utc_end: tuple[int, int, int, int],
    hours: int,
) -> None:
    tz = ZoneInfo(zone)
    start, end = datetime(*utc_start, tzinfo=UTC), datetime(*utc_end, tzinfo=UTC)
    assert bucket_start(datetime(*local_day, 12, tzinfo=tz), Grain.D1, tz) == start
    quarters = cumulative_intervals(steady_day(start, end), SPEC, window=(start, end))
    assert len(quarters) == hours * 4
    # Hours through the calendar's parent chain: each has 4 quarters of 0.25 = 1.0.
    by_hour: dict[datetime, list[Interval]] = defaultdict(list)
    for quarter in quarters:
        link = parent(quarter.start, Grain.M15, tz)
        assert link is not None
        by_hour[link[1]].append(quarter)
    assert sorted(by_hour) == buckets_between(start, end, Grain.H1, tz)
    assert len(by_hour) == hours
    assert all(combine_intervals(q, h).consumption == 1.0 for h, q in by_hour.items())
    day = rollup(quarters, Grain.D1, tz)
    assert list(day) == [start]
    assert day[start].consumption == pytest.approx(hours * 1.0, rel=1e-12)
    assert day[start].count == hours * 4


def test_kolkata_hours_start_at_utc_half_past() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    start, end = datetime(2026, 3, 2, 4, tzinfo=UTC), datetime(2026, 3, 2, 6, tzinfo=UTC)
    hours = rollup(cumulative_intervals(steady_day(start, end), SPEC), Grain.H1, kolkata)
    # 04:00-06:00 UTC in 15-min quarters of 0.25: the hour 03:30 UTC (09:00 IST) holds
    # 04:00 and 04:15, the hour 04:30 holds four quarters, 05:30 holds 05:30, 05:45 (and
    # the empty 06:00 of the last reading).
    assert {h: i.consumption for h, i in hours.items()} == {
        datetime(2026, 3, 2, 3, 30, tzinfo=UTC): 2 * 0.25,
        datetime(2026, 3, 2, 4, 30, tzinfo=UTC): 4 * 0.25,
        datetime(2026, 3, 2, 5, 30, tzinfo=UTC): 2 * 0.25,
    }


# --- window, totals ------------------------------------------------------------


def test_window_keeps_buckets_starting_inside_it() -> None:
    rows = readings((0, 0.0), (15, 1.0), (30, 3.0), (45, 6.0), (60, 10.0))
    result = cumulative_intervals(rows, SPEC, window=(at(15), at(45)))
    assert table(result) == [(at(15), 2.0, 1, NONE), (at(30), 3.0, 1, NONE)]
    assert cumulative_intervals(rows, SPEC, window=(at(15), at(15))) == []
    assert cumulative_intervals([], SPEC) == []


@pytest.mark.parametrize("spec", [SPEC, FILL])
def test_totals_equal_the_counter_difference(spec: CounterSpec) -> None:
    # Irregular spacing (7 to 70 minutes, including gaps) and awkward decimal values.
    minutes, value, pairs = 3.0, 12345.678, []
    for k in range(400):
        pairs.append((minutes, value))
        minutes += 7 + (k * 37) % 64
        value += 0.1 * ((k * 13) % 17) + 0.01
    result = cumulative_intervals(readings(*pairs), spec)
    assert math.fsum(i.consumption for i in result) == pytest.approx(
        pairs[-1][1] - pairs[0][1], rel=1e-12
    )
    assert sum(i.count for i in result) == len(pairs)
    starts = [i.start for i in result]
    assert starts == [starts[0] + k * timedelta(minutes=15) for k in range(len(starts))]


# --- instantaneous samples and combining ---------------------------------------------


def test_instantaneous_samples() -> None:
    rows = [
        Reading(at(1), 10.0, Quality.VALID),
        Reading(at(14), 12.0, Quality.SUSPECT),
        Reading(at(5), 14.0, Quality.VALID),
        Reading(at(16), 20.0, Quality.ESTIMATED),
        Reading(at(61), -3.0, Quality.MANUAL),
    ]
    assert instantaneous_samples(rows) == [
        Sample(at(0), 10.0, 14.0, (10.0 + 14.0 + 12.0) / 3, 3, Flag.SUSPECT),
        Sample(at(15), 20.0, 20.0, 20.0, 1, Flag.ESTIMATED),
        Sample(at(60), -3.0, -3.0, -3.0, 1, Flag.MANUAL),  # empty quarters are not samples
    ]
    assert instantaneous_samples(rows, window=(at(15), at(60))) == [
        Sample(at(15), 20.0, 20.0, 20.0, 1, Flag.ESTIMATED)
    ]


def test_combine_samples_weights_the_mean_by_count() -> None:
    children = [
        Sample(at(0), 10.0, 14.0, 12.0, 3, Flag.SUSPECT),
        Sample(at(15), 20.0, 20.0, 20.0, 1, Flag.ESTIMATED),
    ]
    # (12 * 3 + 20 * 1) / 4 = 56 / 4 = 14
    assert combine_samples(children, at(0)) == Sample(
        at(0), 10.0, 20.0, 14.0, 4, Flag.SUSPECT | Flag.ESTIMATED
    )
    with pytest.raises(ValueError, match="at least one"):
        combine_samples([], at(0))


def test_combine_intervals_sums_and_ors() -> None:
    children = [
        Interval(at(0), 1.5, 1, NONE),
        Interval(at(15), 2.25, 2, Flag.GAP),
        Interval(at(30), 0.0, 0, Flag.NEGATIVE),
    ]
    assert combine_intervals(children, at(0)) == Interval(
        at(0), 1.5 + 2.25, 3, Flag.GAP | Flag.NEGATIVE
    )
    assert combine_intervals([], at(0)) == Interval(at(0), 0.0, 0, NONE)


# --- bad input -------------------------------------------------------------------

NAIVE = datetime(2026, 3, 2, 0, 0)  # noqa: DTZ001 - the point of these tests


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Reading\.ts"):
        Reading(NAIVE, 1.0, Quality.VALID)
    with pytest.raises(ValueError, match=r"Replacement\.at"):
        Replacement(NAIVE, 1.0, 0.0)
    with pytest.raises(ValueError, match="window start"):
        cumulative_intervals(readings((0, 1.0)), SPEC, window=(NAIVE, at(15)))
    with pytest.raises(ValueError, match="window end"):
        instantaneous_samples(readings((0, 1.0)), window=(at(0), NAIVE))
    with pytest.raises(ValueError, match="start"):
        combine_intervals([], NAIVE)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"Reading\.value must be a finite number"):
        Reading(at(0), bad, Quality.VALID)
    with pytest.raises(ValueError, match=r"Replacement\.old_final"):
        Replacement(at(0), bad, 0.0)
    with pytest.raises(ValueError, match=r"Replacement\.new_initial"):
        Replacement(at(0), 0.0, bad)
    with pytest.raises(ValueError, match=r"CounterSpec\.rollover_max"):
        CounterSpec(rollover_max=bad, max_gap=timedelta(minutes=30), fill_gaps=False)


def test_other_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Reading\.quality"):
        Reading(at(0), 1.0, 7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Reading\.value must be a number"):
        Reading(at(0), "lots", Quality.VALID)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"CounterSpec\.rollover_max must be positive"):
        CounterSpec(rollover_max=0.0, max_gap=timedelta(minutes=30), fill_gaps=False)
    with pytest.raises(ValueError, match=r"CounterSpec\.max_gap"):
        CounterSpec(rollover_max=None, max_gap=timedelta(0), fill_gaps=False)
    with pytest.raises(ValueError, match="must not be before"):
        cumulative_intervals(readings((0, 1.0)), SPEC, window=(at(15), at(0)))


def test_readings_are_normalised_to_utc() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    reading = Reading(datetime(2026, 3, 2, 8, 0, tzinfo=shanghai), 1.0, Quality.VALID)
    assert reading.ts == T0 and reading.ts.tzinfo is UTC
    assert Reading(T0, 1, 2).quality is Quality.SUSPECT  # type: ignore[arg-type]
