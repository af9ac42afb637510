""" "Already loaded?": the one rule that decides which conformed rows a transactional run loads,
used by the standard path and the Beam path alike.

For every batch: rows before the read's lower bound, or without a cursor value, are dropped; each
remaining row gets its fingerprint (`engine.fingerprint`); a row can only be held by BigQuery
already when its cursor is at or below the watermark W AND its fingerprint is among the window's
(`maybe_held`). Only those candidates are matched against the window's multiset of fingerprints:
k identical rows held cancel exactly k identical source rows.

The two paths differ only in where the claim happens: the standard path claims batch by batch
(`IncrementClaim`, one process sees every row in order); a Beam unit cannot see the others, so
it stages the rows that cannot be held and sends the candidates to a global group by fingerprint
(`engine.beam.worker.ClaimKnown`), which claims with the same counts.

Plain Arrow and numpy, picklable: Beam workers carry an `IncrementFilter` to every unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl_bigquery.engine.clock_rule import take_future
from etl_bigquery.engine.conform import RejectedRow
from etl_bigquery.engine.conform.batch import keep_rows_at_or_after, keep_rows_at_or_before
from etl_bigquery.engine.fingerprint import ROW_HASH, Identity, KnownRows, digests, to_hex

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.base import UpperBound

ROW_HASH_FIELD = pa.field(ROW_HASH, pa.string())


@dataclass(frozen=True)
class IncrementFilter:
    """A transactional run's filter: cursor bound, identity, watermark, and the window's
    fingerprints (sorted unique keys and their counts, as `KnownRows` holds them)."""

    cursor: str
    identity: Identity
    lower: object | None
    watermark: object | None
    known_keys: np.ndarray
    known_counts: np.ndarray
    upper: UpperBound | None = None
    """The read's settled upper bound: rows above it are not read this run (a reader applies
    it in the source; this drops any it returned anyway)."""
    not_after: object | None = None
    """The clock rule's bound (`engine.clock_rule`): rows with a later cursor are rejected as
    'cursor is in the future' and load in a later run."""

    @classmethod
    def from_known(
        cls,
        cursor: str,
        identity: Identity,
        lower: object | None,
        watermark: object | None,
        known: KnownRows,
        upper: UpperBound | None = None,
        not_after: object | None = None,
    ) -> IncrementFilter:
        return cls(
            cursor, identity, lower, watermark, known.keys, known.remaining.copy(), upper,
            not_after,
        )  # fmt: skip

    def known(self) -> KnownRows:
        """A fresh multiset to claim from (every extraction attempt starts from the full set)."""
        known = KnownRows.empty()
        known.keys, known.remaining = self.known_keys, self.known_counts.copy()
        return known

    def in_window(
        self, batch: pa.RecordBatch
    ) -> tuple[pa.RecordBatch, np.ndarray, list[RejectedRow]]:
        """The rows this run may load at all (inside the read's bound, with a cursor value,
        not in the future), their fingerprints, and the rows whose cursor is in the future."""
        if self.lower is not None:
            batch = keep_rows_at_or_after(batch, self.cursor, self.lower)
        else:
            batch = batch.filter(pc.is_valid(batch.column(self.cursor)))
        if self.upper is not None:
            batch = keep_rows_at_or_before(batch, self.cursor, self.upper.value)
        batch, future = take_future(batch, self.cursor, self.not_after)
        return batch, digests(batch, self.identity), future

    def maybe_held(self, batch: pa.RecordBatch, prints: np.ndarray) -> np.ndarray:
        """Rows BigQuery may hold already: cursor <= W and a fingerprint among the window's."""
        if not len(self.known_keys) or not batch.num_rows or self.watermark is None:
            return np.zeros(batch.num_rows, dtype=bool)
        values = batch.column(self.cursor)
        below = pc.fill_null(pc.less_equal(values, pa.scalar(self.watermark, values.type)), False)
        below_mask = np.asarray(below.to_numpy(zero_copy_only=False), dtype=bool)
        position = np.searchsorted(self.known_keys, prints)
        position[position == len(self.known_keys)] = 0
        return below_mask & (self.known_keys[position] == prints)

    def split(
        self, batch: pa.RecordBatch
    ) -> tuple[pa.RecordBatch, pa.RecordBatch, list[RejectedRow]]:
        """(rows that cannot be held, rows that may be, rows in the future), the first two
        carrying their fingerprint column: what a Beam unit stages, what it sends to the global
        claim, and what it rejects."""
        batch, prints, future = self.in_window(batch)
        held = self.maybe_held(batch, prints)
        hashed = batch.append_column(ROW_HASH_FIELD, to_hex(prints))
        if not held.any():
            return hashed, hashed.slice(0, 0), future
        return hashed.filter(pa.array(~held)), hashed.filter(pa.array(held)), future


class IncrementClaim:
    """The standard path: one process sees every row, so it claims batch by batch."""

    def __init__(self, spec: IncrementFilter) -> None:
        self.spec = spec
        self.cursor = spec.cursor
        self._known = spec.known()
        self.future = 0
        self._rejected: list[RejectedRow] = []

    @property
    def claimed(self) -> int:
        return self._known.claimed

    def take_rejected(self) -> list[RejectedRow]:
        """Rows this filter refused since the last call (cursor in the future)."""
        rejected, self._rejected = self._rejected, []
        return rejected

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        batch, prints, future = self.spec.in_window(batch)
        self.future += len(future)
        self._rejected.extend(future)
        keep = self._known.claim(prints, self.spec.maybe_held(batch, prints))
        if not keep.all():
            batch = batch.filter(pa.array(keep))
            prints = prints[keep]
        return batch.append_column(ROW_HASH_FIELD, to_hex(prints))
