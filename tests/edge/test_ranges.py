"""RangeSet against the obvious model: a Python set of the integers it holds."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems_edge.ranges import RangeSet

LOW, HIGH = -5, 120
#: Probe a little beyond the numbers ranges are drawn from, so both ends are checked.
PROBES = range(LOW - 3, HIGH + 4)

ranges = st.lists(
    st.tuples(st.integers(LOW, HIGH), st.integers(0, 25)).map(lambda r: (r[0], r[0] + r[1])),
    max_size=12,
)


def model_of(added: list[tuple[int, int]]) -> set[int]:
    """Every integer the ranges cover."""
    return {n for first, last in added for n in range(first, last + 1)}


def build(added: list[tuple[int, int]]) -> RangeSet:
    """A RangeSet built by adding ``added`` one by one."""
    result = RangeSet()
    for first, last in added:
        result.add(first, last)
    return result


def next_missing(model: set[int], seq: int) -> int:
    while seq in model:
        seq += 1
    return seq


@settings(max_examples=300, deadline=None)
@given(ranges)
def test_ranges_are_sorted_disjoint_and_cover_exactly_the_model(
    added: list[tuple[int, int]],
) -> None:
    result, model = build(added), model_of(added)
    spans = list(result)
    assert len(result) == len(spans)
    for first, last in spans:
        assert first <= last
    for (_, last), (first, _) in itertools.pairwise(spans):
        # Touching ranges are merged: between two ranges there is at least one missing number.
        assert first > last + 1
    assert model_of(spans) == model


@settings(max_examples=300, deadline=None)
@given(ranges)
def test_contains_matches_the_model(added: list[tuple[int, int]]) -> None:
    result, model = build(added), model_of(added)
    for seq in PROBES:
        assert (seq in result) == (seq in model), seq


@settings(max_examples=300, deadline=None)
@given(ranges)
def test_next_missing_and_floor_match_the_model(added: list[tuple[int, int]]) -> None:
    result, model = build(added), model_of(added)
    for seq in PROBES:
        missing = next_missing(model, seq)
        assert result.next_missing(seq) == missing, seq
        # floor: the highest n with seq..n all present, seq - 1 if seq itself is missing
        assert result.floor(seq) == missing - 1, seq


@settings(max_examples=300, deadline=None)
@given(ranges)
def test_missing_end_is_the_last_number_of_the_gap(added: list[tuple[int, int]]) -> None:
    result, model = build(added), model_of(added)
    for seq in PROBES:
        if seq in model:
            continue
        above = [n for n in model if n > seq]
        expected = min(above) - 1 if above else None
        assert result.missing_end(seq) == expected, seq


@settings(max_examples=300, deadline=None)
@given(ranges, ranges)
def test_constructor_and_copy_match_adding_one_by_one(
    added: list[tuple[int, int]], more: list[tuple[int, int]]
) -> None:
    built = build(added)
    assert list(RangeSet(added)) == list(built)
    copy = RangeSet(built)
    for first, last in more:
        copy.add(first, last)
    assert list(built) == list(build(added)), "the copy shares state with the original"
    assert model_of(list(copy)) == model_of(added + more)


@settings(max_examples=300, deadline=None)
@given(ranges)
def test_order_of_adding_does_not_matter(added: list[tuple[int, int]]) -> None:
    assert list(build(added)) == list(build(list(reversed(added)))) == list(build(sorted(added)))


def test_adjacent_ranges_merge_into_one() -> None:
    result = RangeSet([(5, 7), (1, 2), (3, 4)])
    assert list(result) == [(1, 7)]
    result.add(9, 9)
    assert list(result) == [(1, 7), (9, 9)]
    result.add(8, 8)
    assert list(result) == [(1, 9)]


def test_empty_set_answers_from_the_probe() -> None:
    empty = RangeSet()
    assert len(empty) == 0 and 0 not in empty
    assert empty.next_missing(7) == 7
    assert empty.floor(7) == 6
    assert empty.missing_end(7) is None


@pytest.mark.parametrize(("first", "last"), [(5, 4), (0, -1), (100, 0)])
def test_empty_range_is_refused(first: int, last: int) -> None:
    result = RangeSet([(0, 3)])
    with pytest.raises(ValueError, match=f"empty range {first}..{last}"):
        result.add(first, last)
    assert list(result) == [(0, 3)]
