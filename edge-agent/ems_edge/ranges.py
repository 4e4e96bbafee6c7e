"""Sets of sequence numbers kept as sorted, disjoint, inclusive ranges.

A data centre acknowledges what it committed as ranges of gateway sequence
numbers. Mostly they arrive in order and the set is one range ``[0, n]``;
while a large backlog replays beside the live stream there are two or three.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator


class RangeSet:
    """Inclusive integer ranges, merged on insertion."""

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for first, last in ranges:
            self.add(first, last)

    def add(self, first: int, last: int) -> None:
        """Add ``first..last`` (inclusive), merging with neighbours it touches or overlaps."""
        if last < first:
            raise ValueError(f"empty range {first}..{last}")
        # Every range that overlaps or is adjacent to [first, last] is merged into it.
        lo = bisect.bisect_left(self._ends, first - 1)
        hi = bisect.bisect_right(self._starts, last + 1)
        if lo < hi:
            first = min(first, self._starts[lo])
            last = max(last, self._ends[hi - 1])
        self._starts[lo:hi] = [first]
        self._ends[lo:hi] = [last]

    def __contains__(self, seq: int) -> bool:
        index = bisect.bisect_right(self._starts, seq) - 1
        return index >= 0 and self._ends[index] >= seq

    def next_missing(self, seq: int) -> int:
        """The smallest number ``>= seq`` that is not in the set."""
        index = bisect.bisect_right(self._starts, seq) - 1
        if index >= 0 and self._ends[index] >= seq:
            return self._ends[index] + 1
        return seq

    def missing_end(self, seq: int) -> int | None:
        """For a missing ``seq``: the last number of the gap it starts (None if unbounded)."""
        index = bisect.bisect_right(self._starts, seq)
        return self._starts[index] - 1 if index < len(self._starts) else None

    def floor(self, start: int = 0) -> int:
        """The highest n with all of ``start..n`` in the set (``start - 1`` if there is none)."""
        return self.next_missing(start) - 1

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        return len(self._starts)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)!r})"
