"""Which extracted rows a merge or history run stages: the versions that win against the table.

Per conformed batch, vectorised, the same on the standard path (`KeyedClaim`) and in Beam
workers (`KeyedFilter.decide` per unit; the decision is per row, so no global step is needed):

1. a row whose cursor or a key value is NULL is rejected with the reason (never dropped
   silently: it would be missing from the table with nothing to say why);
2. rows before the read's lower bound are dropped (a reader's filter may be coarser);
3. each row's key hash and row hash are computed (`engine.merge.hashes`) and its key looked up
   in the window (`engine.merge.window`):

- the table has no version of the key in the window (a new key, or its version is older than
  the window) → stage;
- its version is deleted (soft, or closed by a delete) → stage: the key came back;
- its version has an older cursor → stage: a newer version;
- same cursor, other content → stage: an update that kept its cursor;
- same cursor, same content → drop: already held;
- a newer cursor → drop, counted and warned about: the writer moved its cursor back, and
  BigQuery keeps the version with the later cursor.

Every staged row therefore wins against the table, so every non-empty MERGE changes the state
(its token), which is what lets the next run tell a landed MERGE from a failed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl_bigquery.engine.clock_rule import take_future
from etl_bigquery.engine.conform import RejectedRow
from etl_bigquery.engine.conform.batch import keep_rows_at_or_after
from etl_bigquery.engine.merge.hashes import KEY_HASH, ROW_HASH, key_digests, row_digests, to_hex
from etl_bigquery.engine.merge.window import KeyedWindow

HASH_FIELDS = (pa.field(KEY_HASH, pa.string()), pa.field(ROW_HASH, pa.string()))
_METADATA_PREFIX = "_etl_"


def staged_schema(schema: pa.Schema) -> pa.Schema:
    """The conformed schema plus the two hash columns (what the staging table holds)."""
    for hash_field in HASH_FIELDS:
        schema = schema.append(hash_field)
    return schema


@dataclass
class Decision:
    staged: pa.RecordBatch
    rejected: list[RejectedRow] = field(default_factory=list)
    future: int = 0
    """Rows rejected because their cursor is in the future (`engine.clock_rule`)."""
    held: int = 0
    went_back: int = 0
    went_back_example: dict[str, object] | None = None


def _record(batch: pa.RecordBatch, index: int) -> dict[str, object]:
    row = batch.slice(index, 1).to_pylist()[0]
    return {k: v for k, v in row.items() if not k.startswith(_METADATA_PREFIX)}


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class KeyedFilter:
    """A merge/history run's filter: plain values and arrays, picklable (Beam units carry it)."""

    cursor: str
    keys: tuple[str, ...]
    content: tuple[str, ...]
    """The loaded columns, whose hash is the row's version."""
    lower: object | None
    window: KeyedWindow
    not_after: object | None = None
    """The clock rule's bound (`engine.clock_rule`): later rows are rejected, loaded later."""

    def _reject_nulls(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[RejectedRow]]:
        bad: dict[int, str] = {}
        for name in (self.cursor, *self.keys):
            what = "cursor" if name == self.cursor else "key"
            for index in np.flatnonzero(~_mask(pc.is_valid(batch.column(name)))):
                bad.setdefault(int(index), f"{what} column '{name}' is NULL")
        if not bad:
            return batch, []
        rejected = [RejectedRow(_record(batch, i), reason) for i, reason in sorted(bad.items())]
        keep = np.ones(batch.num_rows, dtype=bool)
        keep[list(bad)] = False
        return batch.filter(pa.array(keep)), rejected

    def decide(self, batch: pa.RecordBatch) -> Decision:
        batch, rejected = self._reject_nulls(batch)
        if self.lower is not None and batch.num_rows:
            batch = keep_rows_at_or_after(batch, self.cursor, self.lower)
        batch, future = take_future(batch, self.cursor, self.not_after)
        keys = key_digests(batch, self.keys)
        rows = row_digests(batch, self.content)
        decision = Decision(batch.slice(0, 0), [*rejected, *future], future=len(future))
        keep = np.ones(batch.num_rows, dtype=bool)
        window = self.window
        if len(window) and batch.num_rows:
            position = np.searchsorted(window.keys, keys)
            position[position == len(window)] = 0
            found = np.flatnonzero(window.keys[position] == keys)
            if len(found):
                at = position[found]
                source = batch.column(self.cursor).take(pa.array(found))
                held_cursor = window.cursors.take(pa.array(at))
                newer = _mask(pc.greater(source, held_cursor))
                same = _mask(pc.equal(source, held_cursor))
                deleted = window.deleted[at]
                same_row = window.rows[at] == rows[found]
                stage = deleted | newer | (same & ~same_row)
                keep[found] = stage
                decision.held = int((~deleted & same & same_row).sum())
                back = found[~stage & ~(same & same_row)]
                decision.went_back = len(back)
                if len(back):
                    decision.went_back_example = {
                        k: batch.column(k)[int(back[0])].as_py() for k in self.keys
                    }
        if not keep.all():
            batch, keys, rows = batch.filter(pa.array(keep)), keys[keep], rows[keep]
        decision.staged = batch.append_column(HASH_FIELDS[0], to_hex(keys)).append_column(
            HASH_FIELDS[1], to_hex(rows)
        )
        return decision


class KeyedClaim:
    """The standard path's use of a `KeyedFilter`, with the run's counters (the interface the
    extraction loop uses for any row filter: `apply`, `cursor`, `claimed`)."""

    def __init__(self, spec: KeyedFilter) -> None:
        self.spec = spec
        self.cursor = spec.cursor
        self.claimed = 0
        self.future = 0
        self.went_back = 0
        self.went_back_example: dict[str, object] | None = None
        self._rejected: list[RejectedRow] = []

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        decision = self.spec.decide(batch)
        self.claimed += decision.held
        self.future += decision.future
        self.went_back += decision.went_back
        if self.went_back_example is None:
            self.went_back_example = decision.went_back_example
        self._rejected.extend(decision.rejected)
        return decision.staged

    def take_rejected(self) -> list[RejectedRow]:
        rejected, self._rejected = self._rejected, []
        return rejected


def went_back_warning(count: int, example: dict[str, object] | None, cursor: str) -> str | None:
    if not count:
        return None
    key = ", ".join(f"{k}={v!r}" for k, v in (example or {}).items())
    return (
        f"{count:,} row(s) read with a {cursor} older than the version BigQuery holds (e.g. "
        f"{key}): the writer moved its cursor back; BigQuery keeps the version with the later "
        f"{cursor}"
    )
