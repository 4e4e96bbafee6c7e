"""Calendar buckets in the tenant's time zone: quarter hours, hours, days, months.

Expected instants are written out by hand from the zone rules: Europe/Berlin is
UTC+1 (CET) / UTC+2 (CEST, from the last Sunday of March 01:00 UTC to the last
Sunday of October 01:00 UTC), America/New_York UTC-4 / UTC-5 (EDT ends on the
first Sunday of November at 06:00 UTC), Asia/Kolkata UTC+5:30, Asia/Shanghai UTC+8.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ems.telemetry.calendar import Grain, bucket_end, bucket_start, buckets_between, parent

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
SHANGHAI = ZoneInfo("Asia/Shanghai")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_grain_values() -> None:
    assert [g.value for g in Grain] == ["15m", "1h", "1d", "1mo"]
    assert Grain("1h") is Grain.H1


def test_quarter_hours_are_utc_quarter_hours() -> None:
    # Kathmandu is +05:45: local 16:07:30 is 10:22:30 UTC, in the 10:15 UTC quarter
    # (= 16:00 local, also a local quarter hour).
    instant = datetime(2026, 3, 2, 16, 7, 30, tzinfo=KATHMANDU)
    assert bucket_start(instant, Grain.M15, KATHMANDU) == utc(2026, 3, 2, 10, 15)
    assert bucket_end(instant, Grain.M15, KATHMANDU) == utc(2026, 3, 2, 10, 30)
    assert bucket_start(utc(2026, 3, 2, 10, 15), Grain.M15, BERLIN) == utc(2026, 3, 2, 10, 15)


def test_kolkata_hours_start_at_utc_half_past() -> None:
    # 10:50 IST = 05:20 UTC; its hour 10:00 IST = 04:30 UTC.
    instant = datetime(2026, 3, 1, 10, 50, tzinfo=KOLKATA)
    assert bucket_start(instant, Grain.H1, KOLKATA) == utc(2026, 3, 1, 4, 30)
    assert bucket_end(instant, Grain.H1, KOLKATA) == utc(2026, 3, 1, 5, 30)
    hours = buckets_between(utc(2026, 3, 1, 0), utc(2026, 3, 1, 3), Grain.H1, KOLKATA)
    # [00:00, 03:00) UTC overlaps the hours starting 23:30 (prev. day), 00:30, 01:30, 02:30.
    assert hours == [
        utc(2026, 2, 28, 23, 30),
        utc(2026, 3, 1, 0, 30),
        utc(2026, 3, 1, 1, 30),
        utc(2026, 3, 1, 2, 30),
    ]
    # The local day 2026-03-01 is [2026-02-28 18:30, 2026-03-01 18:30) UTC.
    assert bucket_start(instant, Grain.D1, KOLKATA) == utc(2026, 2, 28, 18, 30)


def test_berlin_spring_forward_day_has_23_hours() -> None:
    day = bucket_start(datetime(2026, 3, 29, 12, tzinfo=BERLIN), Grain.D1, BERLIN)
    assert day == utc(2026, 3, 28, 23)  # 00:00 CET
    end = bucket_end(day, Grain.D1, BERLIN)
    assert end == utc(2026, 3, 29, 22)  # 00:00 CEST of the 30th
    hours = buckets_between(day, end, Grain.H1, BERLIN)
    assert len(hours) == 23  # 24 - the skipped 02:00
    assert [h.astimezone(BERLIN).hour for h in hours[:4]] == [0, 1, 3, 4]
    assert hours[2] == utc(2026, 3, 29, 1)  # 03:00 CEST


def test_berlin_fall_back_day_has_25_hours_and_two_2am_buckets() -> None:
    day = bucket_start(datetime(2026, 10, 25, 12, tzinfo=BERLIN), Grain.D1, BERLIN)
    assert day == utc(2026, 10, 24, 22)  # 00:00 CEST
    end = bucket_end(day, Grain.D1, BERLIN)
    assert end == utc(2026, 10, 25, 23)  # 00:00 CET of the 26th
    hours = buckets_between(day, end, Grain.H1, BERLIN)
    assert len(hours) == 25
    # 02:00 CEST = 00:00 UTC and 02:00 CET = 01:00 UTC are two buckets.
    twos = [h for h in hours if h.astimezone(BERLIN).hour == 2]
    assert twos == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)]
    assert bucket_start(utc(2026, 10, 25, 0, 30), Grain.H1, BERLIN) == utc(2026, 10, 25, 0)
    assert bucket_start(utc(2026, 10, 25, 1, 30), Grain.H1, BERLIN) == utc(2026, 10, 25, 1)
    assert bucket_end(utc(2026, 10, 25, 0), Grain.H1, BERLIN) == utc(2026, 10, 25, 1)
    # The same wall time with fold=1 is the second 02:30.
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    assert bucket_start(second, Grain.H1, BERLIN) == utc(2026, 10, 25, 1)


def test_new_york_fall_back_day() -> None:
    day = bucket_start(datetime(2026, 11, 1, 12, tzinfo=NEW_YORK), Grain.D1, NEW_YORK)
    assert day == utc(2026, 11, 1, 4)  # 00:00 EDT
    end = bucket_end(day, Grain.D1, NEW_YORK)
    assert end == utc(2026, 11, 2, 5)  # 00:00 EST
    hours = buckets_between(day, end, Grain.H1, NEW_YORK)
    assert len(hours) == 25
    ones = [h for h in hours if h.astimezone(NEW_YORK).hour == 1]
    assert ones == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)]


def test_months() -> None:
    # March 2026 in Berlin: 00:00 CET on the 1st to 00:00 CEST on April 1st.
    march = bucket_start(utc(2026, 3, 15), Grain.MO1, BERLIN)
    assert march == utc(2026, 2, 28, 23)
    assert bucket_end(march, Grain.MO1, BERLIN) == utc(2026, 3, 31, 22)
    # December rolls over into the next year.
    december = bucket_start(utc(2026, 12, 10), Grain.MO1, SHANGHAI)
    assert december == utc(2026, 11, 30, 16)
    assert bucket_end(december, Grain.MO1, SHANGHAI) == utc(2026, 12, 31, 16)
    months = buckets_between(utc(2026, 1, 10), utc(2026, 4, 1), Grain.MO1, SHANGHAI)
    # Jan, Feb, Mar; April starts 2026-03-31 16:00 UTC, so [.., 04-01 00:00) touches it too.
    assert months == [
        utc(2025, 12, 31, 16),
        utc(2026, 1, 31, 16),
        utc(2026, 2, 28, 16),
        utc(2026, 3, 31, 16),
    ]


def test_buckets_between_overlap_and_empty() -> None:
    starts = buckets_between(utc(2026, 3, 2, 10, 7), utc(2026, 3, 2, 10, 38), Grain.M15, BERLIN)
    assert starts == [utc(2026, 3, 2, 10, 0), utc(2026, 3, 2, 10, 15), utc(2026, 3, 2, 10, 30)]
    # An end on a boundary does not pull in the bucket starting there.
    starts = buckets_between(utc(2026, 3, 2, 10), utc(2026, 3, 2, 10, 30), Grain.M15, BERLIN)
    assert starts == [utc(2026, 3, 2, 10, 0), utc(2026, 3, 2, 10, 15)]
    assert buckets_between(utc(2026, 3, 2), utc(2026, 3, 2), Grain.H1, BERLIN) == []
    with pytest.raises(ValueError, match="end_utc"):
        buckets_between(utc(2026, 3, 2), utc(2026, 3, 1), Grain.H1, BERLIN)


def test_parent_chain() -> None:
    # 05:15 UTC = 10:45 IST.
    assert parent(utc(2026, 3, 1, 5, 15), Grain.M15, KOLKATA) == (
        Grain.H1,
        utc(2026, 3, 1, 4, 30),
    )
    assert parent(utc(2026, 3, 1, 4, 30), Grain.H1, KOLKATA) == (
        Grain.D1,
        utc(2026, 2, 28, 18, 30),
    )
    assert parent(utc(2026, 2, 28, 18, 30), Grain.D1, KOLKATA) == (
        Grain.MO1,
        utc(2026, 2, 28, 18, 30),
    )
    assert parent(utc(2026, 2, 28, 18, 30), Grain.MO1, KOLKATA) is None


def test_every_quarter_hour_of_a_dst_day_has_one_hour_parent() -> None:
    day, end = utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)
    quarters = buckets_between(day, end, Grain.M15, BERLIN)
    assert len(quarters) == 25 * 4
    hours = {parent(q, Grain.M15, BERLIN) for q in quarters}
    assert len(hours) == 25


def test_naive_datetimes_are_refused_by_name() -> None:
    naive = datetime(2026, 3, 1, 12)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="instant"):
        bucket_start(naive, Grain.H1, BERLIN)
    with pytest.raises(ValueError, match="start_utc"):
        bucket_end(naive, Grain.D1, BERLIN)
    with pytest.raises(ValueError, match="start_utc"):
        buckets_between(naive, utc(2026, 3, 2), Grain.D1, BERLIN)
    with pytest.raises(ValueError, match="end_utc"):
        buckets_between(utc(2026, 3, 2), naive, Grain.D1, BERLIN)
    with pytest.raises(ValueError, match="start_utc"):
        parent(naive, Grain.D1, BERLIN)


def test_unknown_grain_is_refused() -> None:
    with pytest.raises(ValueError, match="grain"):
        bucket_start(utc(2026, 3, 1), "1w", BERLIN)  # type: ignore[arg-type]


def test_non_utc_aware_input_is_accepted() -> None:
    local = datetime(2026, 3, 1, 0, 10, tzinfo=SHANGHAI)  # 2026-02-28 16:10 UTC
    assert bucket_start(local, Grain.M15, SHANGHAI) == utc(2026, 2, 28, 16, 0)
    assert bucket_start(local, Grain.D1, SHANGHAI) == utc(2026, 2, 28, 16, 0)
    assert bucket_start(local, Grain.D1, SHANGHAI).tzinfo is UTC
    assert bucket_end(local, Grain.D1, SHANGHAI) - timedelta(days=1) == utc(2026, 2, 28, 16)
