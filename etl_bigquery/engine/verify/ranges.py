"""Key ranges and their aggregates: the arithmetic of `etl verify`, plain numpy.

Every row in scope, on either side, becomes two digests (`engine.rowhash`, encoding v2, the one
the loads use): its key digest (which entity) and its row digest (which content). Ranges are
ranges of the key digest's first 64 bits: `bits` leading bits name a range, so 4,096 ranges at
the first level, each split 4,096 ways at the next. Hashing the key spreads rows evenly over the
ranges whatever the key's type or skew, and both sides compute the same range of a row without
agreeing on a sort order (PostgreSQL, MariaDB and BigQuery collate text differently).

A range's aggregate is (rows, sum of lane a, sum of lane b) of its rows' digests, sums modulo
2**64: a sum, not a XOR, so a row held twice never cancels out, and the count catches it anyway.
Two sides whose aggregates of a range agree hold the same multiset of rows in it, but for a
collision of about 2**-64 per range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIRST_BITS = 12
STEP_BITS = 12
MAX_BITS = 60
_U64 = np.dtype("<u8")


def key_prefix(key_digests: np.ndarray) -> np.ndarray:
    """The first 64 bits of each key digest, big-endian, as uint64: range `r` at `bits` bits is
    every digest whose prefix >> (64 - bits) == r."""
    raw = np.ascontiguousarray(key_digests).view(np.uint8).reshape(-1, 16)[:, :8]
    return np.ascontiguousarray(raw).view(">u8").reshape(-1).astype(_U64)


def lanes(row_digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    words = np.ascontiguousarray(row_digests).view(_U64).reshape(-1, 2)
    return words[:, 0], words[:, 1]


@dataclass
class Aggregates:
    """Per range: its id, rows, and the two lane sums (sorted by range id)."""

    ranges: np.ndarray
    rows: np.ndarray
    sum_a: np.ndarray
    sum_b: np.ndarray

    @classmethod
    def empty(cls) -> Aggregates:
        return cls(np.empty(0, _U64), np.empty(0, np.int64), np.empty(0, _U64), np.empty(0, _U64))

    @classmethod
    def of(cls, ranges: np.ndarray, a: np.ndarray, b: np.ndarray) -> Aggregates:
        if not len(ranges):
            return cls.empty()
        order = np.argsort(ranges, kind="stable")
        ranges, a, b = ranges[order], a[order], b[order]
        unique, starts, counts = np.unique(ranges, return_index=True, return_counts=True)
        return cls(
            unique,
            counts.astype(np.int64),
            np.add.reduceat(a, starts).astype(_U64),
            np.add.reduceat(b, starts).astype(_U64),
        )

    def merge(self, other: Aggregates) -> Aggregates:
        if not len(other.ranges):
            return self
        if not len(self.ranges):
            return other
        ranges = np.concatenate([self.ranges, other.ranges])
        order = np.argsort(ranges, kind="stable")
        ranges = ranges[order]
        unique, starts = np.unique(ranges, return_index=True)
        rows = np.concatenate([self.rows, other.rows])[order]
        a = np.concatenate([self.sum_a, other.sum_a])[order]
        b = np.concatenate([self.sum_b, other.sum_b])[order]
        return Aggregates(
            unique,
            np.add.reduceat(rows, starts),
            np.add.reduceat(a, starts).astype(_U64),
            np.add.reduceat(b, starts).astype(_U64),
        )

    @property
    def total_rows(self) -> int:
        return int(self.rows.sum())


class RangeCounter:
    """Accumulates the aggregates of one side at `bits`, over the ranges under `suspects` (the
    differing ranges of the level above, at `bits - STEP_BITS`; None: every range). Memory: one
    entry per range that holds a row, at most 4,096 per suspect."""

    def __init__(self, bits: int, suspects: np.ndarray | None = None) -> None:
        self.bits = bits
        self.suspects = suspects
        self.result = Aggregates.empty()
        self._pending: list[Aggregates] = []
        self._pending_rows = 0

    def selected(self, prefixes: np.ndarray) -> np.ndarray | None:
        """The mask of rows inside the suspects (None: all rows)."""
        if self.suspects is None:
            return None
        parent = prefixes >> np.uint64(64 - self.bits + STEP_BITS)
        return np.isin(parent, self.suspects)

    def add(self, key_digests: np.ndarray, row_digests: np.ndarray) -> None:
        prefixes = key_prefix(key_digests)
        a, b = lanes(row_digests)
        mask = self.selected(prefixes)
        if mask is not None:
            prefixes, a, b = prefixes[mask], a[mask], b[mask]
        ranges = prefixes >> np.uint64(64 - self.bits)
        self._pending.append(Aggregates.of(ranges, a, b))
        self._pending_rows += len(ranges)
        if len(self._pending) >= 64:
            self._fold()

    def _fold(self) -> None:
        for part in self._pending:
            self.result = self.result.merge(part)
        self._pending = []

    def finish(self) -> Aggregates:
        self._fold()
        return self.result


@dataclass
class RangeDiff:
    equal: int
    """Ranges holding rows on either side whose aggregates agree."""
    differing: np.ndarray
    """Ids of the ranges that differ."""
    rows_in_differing: int
    """The larger side's rows in those ranges: what collecting them would hold."""


def compare(source: Aggregates, bigquery: Aggregates) -> RangeDiff:
    ranges = np.union1d(source.ranges, bigquery.ranges)

    def spread(agg: Aggregates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.zeros(len(ranges), np.int64)
        a = np.zeros(len(ranges), _U64)
        b = np.zeros(len(ranges), _U64)
        at = np.searchsorted(ranges, agg.ranges)
        rows[at], a[at], b[at] = agg.rows, agg.sum_a, agg.sum_b
        return rows, a, b

    s_rows, s_a, s_b = spread(source)
    b_rows, b_a, b_b = spread(bigquery)
    differs = (s_rows != b_rows) | (s_a != b_a) | (s_b != b_b)
    return RangeDiff(
        equal=int((~differs).sum()),
        differing=ranges[differs],
        rows_in_differing=int(np.maximum(s_rows, b_rows)[differs].sum()),
    )


def in_ranges(key_digests: np.ndarray, bits: int, ranges: np.ndarray) -> np.ndarray:
    """Mask of the rows whose key falls in one of `ranges` at `bits`."""
    return np.isin(key_prefix(key_digests) >> np.uint64(64 - bits), ranges)
