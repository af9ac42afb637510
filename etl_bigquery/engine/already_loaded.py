""" "Already loaded?": the one rule that decides which conformed rows a transactional run loads,
used by the standard path and the Beam path alike.

A row is already loaded when its **(identity, version)** pair is held in the window: the
identity (`engine.fingerprint`, e.g. the primary key plus the cursor) says which entity it is,
the version (`engine.row_version`, a content digest of every loaded column) which content. So an
update that kept its cursor value is a new version and loads; identical rows stay
interchangeable and multisets stay exact (k identical rows held cancel exactly k identical
source rows).

For every batch: rows before the read's lower bound, or without a cursor value, are dropped;
rows whose cursor is in the future are rejected (`engine.clock_rule`); each remaining row gets
its identity and version; a row can only be held by BigQuery already when its cursor is at or
below the watermark W AND its identity is among the window's (`maybe_held`). Only those
candidates are matched against the window's multiset of pairs: first by (identity, version),
then, for rows still unmatched, against rows loaded before versions existed, held as (identity,
no version) and matched by identity alone, as before.

The two paths differ only in where the claim happens: the standard path claims batch by batch
(`IncrementClaim`, one process sees every row in order); a Beam unit cannot see the others, so
it stages the rows that cannot be held and sends the candidates to a global group by identity
(`engine.beam.worker.ClaimKnown`), which claims with the same counts and the same order.

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
from etl_bigquery.engine.row_version import (
    ROW_VERSION,
    VersionColumns,
    identities_of,
    pair_keys,
)

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.base import UpperBound

ROW_HASH_FIELD = pa.field(ROW_HASH, pa.string())
ROW_VERSION_FIELD = pa.field(ROW_VERSION, pa.string())
FINGERPRINT_FIELDS = (ROW_HASH_FIELD, ROW_VERSION_FIELD)


def with_fingerprints(schema: pa.Schema) -> pa.Schema:
    """The conformed schema plus the identity and version columns a transactional row carries."""
    for item in FINGERPRINT_FIELDS:
        schema = schema.append(item)
    return schema


@dataclass(frozen=True)
class Matched:
    """One batch, inside the window: its rows, identities, versions, and the future rows."""

    batch: pa.RecordBatch
    identities: np.ndarray
    versions: np.ndarray
    future: list[RejectedRow]

    def stamped(self) -> pa.RecordBatch:
        return self.batch.append_column(ROW_HASH_FIELD, to_hex(self.identities)).append_column(
            ROW_VERSION_FIELD, to_hex(self.versions)
        )


@dataclass(frozen=True)
class IncrementFilter:
    """A transactional run's filter: cursor bound, identity and version columns, watermark,
    and the window's (identity, version) pairs (sorted unique 32-byte keys and their counts,
    as `KnownRows` holds them)."""

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
    version: VersionColumns | None = None
    """The columns of a row's version (None: the identity's columns, which then are every
    loaded column)."""
    known_identities: np.ndarray | None = None
    """Sorted unique identities of the window (derived from `known_keys`)."""

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
        version: VersionColumns | None = None,
    ) -> IncrementFilter:
        return cls(
            cursor, identity, lower, watermark, known.keys, known.remaining.copy(), upper,
            not_after, version, identities_of(known.keys),
        )  # fmt: skip

    def known(self) -> KnownRows:
        """A fresh multiset to claim from (every extraction attempt starts from the full set)."""
        known = KnownRows.empty()
        known.keys, known.remaining = self.known_keys, self.known_counts.copy()
        return known

    def versions(self, batch: pa.RecordBatch, identities: np.ndarray) -> np.ndarray:
        version = self.version or VersionColumns(self.identity.columns)
        if self.identity.is_row_digest_of(version.columns):
            return identities  # identity is every loaded column: the same digest, computed once
        return version.digests(batch)

    def in_window(self, batch: pa.RecordBatch) -> Matched:
        """The rows this run may load at all (inside the read's bound, with a cursor value,
        not in the future) with their identities and versions, and the rows in the future."""
        if self.lower is not None:
            batch = keep_rows_at_or_after(batch, self.cursor, self.lower)
        else:
            batch = batch.filter(pc.is_valid(batch.column(self.cursor)))
        if self.upper is not None:
            batch = keep_rows_at_or_before(batch, self.cursor, self.upper.value)
        batch, future = take_future(batch, self.cursor, self.not_after)
        identities = digests(batch, self.identity)
        return Matched(batch, identities, self.versions(batch, identities), future)

    def maybe_held(self, batch: pa.RecordBatch, identities: np.ndarray) -> np.ndarray:
        """Rows BigQuery may hold already: cursor <= W and an identity among the window's."""
        held_ids = self.known_identities
        if held_ids is None:
            held_ids = identities_of(self.known_keys)
        if not len(held_ids) or not batch.num_rows or self.watermark is None:
            return np.zeros(batch.num_rows, dtype=bool)
        values = batch.column(self.cursor)
        below = pc.fill_null(pc.less_equal(values, pa.scalar(self.watermark, values.type)), False)
        below_mask = np.asarray(below.to_numpy(zero_copy_only=False), dtype=bool)
        position = np.searchsorted(held_ids, identities)
        position[position == len(held_ids)] = 0
        return below_mask & (held_ids[position] == identities)

    def split(
        self, batch: pa.RecordBatch
    ) -> tuple[pa.RecordBatch, pa.RecordBatch, list[RejectedRow]]:
        """(rows that cannot be held, rows that may be, rows in the future), the first two
        carrying their identity and version columns: what a Beam unit stages, what it sends to
        the global claim, and what it rejects."""
        matched = self.in_window(batch)
        held = self.maybe_held(matched.batch, matched.identities)
        stamped = matched.stamped()
        if not held.any():
            return stamped, stamped.slice(0, 0), matched.future
        return stamped.filter(pa.array(~held)), stamped.filter(pa.array(held)), matched.future


def claim_pairs(
    known: KnownRows, identities: np.ndarray, versions: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """Mask of the rows to keep: candidates whose (identity, version) is held are claimed, then
    the rest against rows held without a version (loaded before versions existed)."""
    keep = known.claim(pair_keys(identities, versions), candidates)
    rest = candidates & keep
    if rest.any():
        keep &= known.claim(pair_keys(identities, None), rest)
    return keep


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
        matched = self.spec.in_window(batch)
        self.future += len(matched.future)
        self._rejected.extend(matched.future)
        held = self.spec.maybe_held(matched.batch, matched.identities)
        keep = claim_pairs(self._known, matched.identities, matched.versions, held)
        if not keep.all():
            matched = Matched(
                matched.batch.filter(pa.array(keep)),
                matched.identities[keep],
                matched.versions[keep],
                matched.future,
            )
        return matched.stamped()
