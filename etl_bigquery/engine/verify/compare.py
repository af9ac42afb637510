"""`verify_job`: compare the source and the BigQuery table over the job's scope, read-only.

1. One pass over each side aggregates every row into 4,096 key ranges (`engine.verify.ranges`):
   equal ranges are done.
2. While the differing ranges hold more rows than may be collected, another pass splits just
   those ranges 4,096 ways (bisection by the key digest's next bits), down to ranges small
   enough to collect.
3. A last pass collects the rows of the differing ranges on both sides (key, row digest, values)
   and names each difference by key: missing in BigQuery, extra in BigQuery, duplicated in
   BigQuery, or differing (with the columns that differ, in full mode).

Memory: one batch per side, the range aggregates (24 bytes a range), the keys of merge rows not
loaded yet, and at most `collect_limit` collected rows per side. Each pass re-reads both sides:
a source that changes meanwhile can show a difference in one pass that the next does not.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from etl_bigquery.engine.pipeline.context import RunContext
from etl_bigquery.engine.rowhash import row_digests
from etl_bigquery.engine.sources.base import CursorValue
from etl_bigquery.engine.verify.ranges import (
    FIRST_BITS,
    MAX_BITS,
    STEP_BITS,
    RangeCounter,
    RangeDiff,
    compare,
    in_ranges,
)
from etl_bigquery.engine.verify.result import (
    DIFFERING,
    DUPLICATE,
    EXTRA,
    KINDS,
    MISSING,
    RowDifference,
    VerifyResult,
)
from etl_bigquery.engine.verify.scope import Scope, VerifyMode, plan_scope
from etl_bigquery.engine.verify.sides import BigQuerySide, SourceSide

COLLECT_LIMIT = 100_000
Digest = Callable[[pa.RecordBatch], np.ndarray]


@dataclass
class _Held:
    """One key's rows on one side: row digest → copies, and the first row's values."""

    key: dict[str, Any]
    copies: Counter[bytes] = field(default_factory=Counter)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.copies.values())


class _Verifier:
    def __init__(self, ctx: RunContext, scope: Scope, collect_limit: int) -> None:
        self.scope = scope
        self.collect_limit = collect_limit
        self.source = SourceSide(ctx, scope)
        self.bigquery = BigQuerySide(ctx, scope)
        keys = list(scope.keys)
        content = list(scope.content)
        self.key_digest: Digest = lambda batch: row_digests(batch, keys)
        # Counts mode: the "row digest" is the key's, so a range's sum checks which keys it holds.
        self.row_digest: Digest = (
            (lambda batch: row_digests(batch, content)) if content else self.key_digest
        )
        self.passes = 0

    def _sides(self) -> Iterator[tuple[int, Iterator[pa.RecordBatch]]]:
        self.passes += 1
        yield 0, self.source.batches(self.key_digest)
        # After the source's pass: it found which keys are newer than the watermark.
        yield 1, self.bigquery.batches(self.key_digest, self.source.pending)

    def scan(self, bits: int, suspects: np.ndarray | None) -> RangeDiff:
        counters = (RangeCounter(bits, suspects), RangeCounter(bits, suspects))
        for side, batches in self._sides():
            for batch in batches:
                counters[side].add(self.key_digest(batch), self.row_digest(batch))
        return compare(counters[0].finish(), counters[1].finish())

    def collect(self, bits: int, ranges: np.ndarray) -> tuple[list[dict[bytes, _Held]], bool]:
        held: list[dict[bytes, _Held]] = [{}, {}]
        truncated = False
        for side, batches in self._sides():
            taken = 0
            for batch in batches:
                if taken >= self.collect_limit:
                    truncated = True
                    continue  # drain the side: its figures count every row
                keys = self.key_digest(batch)
                mask = in_ranges(keys, bits, ranges)
                if not mask.any():
                    continue
                rows = batch.filter(pa.array(mask))
                keys = keys[mask]
                prints = self.row_digest(rows)
                for i, row in enumerate(rows.to_pylist()):
                    if taken >= self.collect_limit:
                        truncated = True
                        break
                    taken += 1
                    entry = held[side].get(keys[i].tobytes())
                    if entry is None:
                        entry = _Held({k: row[k] for k in self.scope.keys}, values=row)
                        held[side][keys[i].tobytes()] = entry
                    entry.copies[prints[i].tobytes()] += 1
        return held, truncated


def _classify(
    source: _Held | None, bigquery: _Held | None, content: tuple[str, ...]
) -> RowDifference | None:
    if source is None:
        assert bigquery is not None
        return RowDifference(EXTRA, bigquery.key, 0, bigquery.total)
    if bigquery is None:
        return RowDifference(MISSING, source.key, source.total, 0)
    if source.copies == bigquery.copies:
        return None
    if set(source.copies) == set(bigquery.copies):
        kind = DUPLICATE if bigquery.total > source.total else MISSING
        return RowDifference(kind, source.key, source.total, bigquery.total)
    columns = [c for c in content if source.values.get(c) != bigquery.values.get(c)]
    return RowDifference(DIFFERING, source.key, source.total, bigquery.total, columns)


def _sort_key(diff: RowDifference) -> tuple[Any, ...]:
    return (KINDS.index(diff.kind), [(v is None, str(type(v)), v) for v in diff.key.values()])


def verify_job(
    ctx: RunContext,
    mode: VerifyMode = VerifyMode.FULL,
    *,
    since: CursorValue | str | None = None,
    collect_limit: int = COLLECT_LIMIT,
    first_bits: int = FIRST_BITS,
) -> VerifyResult:
    """Compare the source and the job's table; reads only."""
    started = time.monotonic()
    if mode is VerifyMode.OFF:
        raise ValueError("verify mode 'off' compares nothing")
    scope = plan_scope(ctx, mode, since=since)
    verifier = _Verifier(ctx, scope, collect_limit)
    result = VerifyResult(
        job=ctx.job.name, table=scope.ref.id, mode=mode.value, scope=scope.describe(),
        keys=list(scope.keys), key_source=scope.key_source,
        compared_columns=list(scope.content or scope.keys), notes=list(scope.notes),
        checked_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
    bits = first_bits
    diff = verifier.scan(bits, None)
    result.source_rows = verifier.source.figures.rows
    result.source_rejected = verifier.source.figures.rejected
    result.not_loaded_yet = verifier.source.figures.not_loaded_yet
    result.bigquery_rows = verifier.bigquery.rows
    result.ranges = diff.equal + len(diff.differing)
    result.ranges_equal, result.ranges_differing = diff.equal, len(diff.differing)
    while (
        len(diff.differing)
        and diff.rows_in_differing > collect_limit
        and bits + STEP_BITS <= MAX_BITS
    ):
        bits += STEP_BITS
        diff = verifier.scan(bits, diff.differing)
    if len(diff.differing):
        held, result.truncated = verifier.collect(bits, diff.differing)
        found = []
        for key in held[0].keys() | held[1].keys():
            difference = _classify(held[0].get(key), held[1].get(key), scope.content)
            if difference is not None:
                found.append(difference)
        result.differences = sorted(found, key=_sort_key)
    result.passes = verifier.passes
    result.seconds = round(time.monotonic() - started, 3)
    return result
