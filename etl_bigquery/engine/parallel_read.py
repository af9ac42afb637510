"""Parallel reads in standard mode: the read's units, read at once in one process.

The units are the ones the Beam path reads (`engine.beam.units.split_read`: ranges of the
cursor, or of an integer primary key for a read without a cursor bound; the streams of one
BigQuery read session), or one unit per file of a file source (runs of row groups of a large
Parquet file), each read on a reader of its own (a connection per unit) by a thread. Drivers
decode in C and release the GIL (ADBC, ConnectorX, pyarrow), so the reads overlap each other and
the conforming and Parquet writing of the one consumer, which is the extraction loop as before:
one conformer, one increment claim, one stager under the run's prefix, one load job.
Exactly-once is therefore the standard path's own: a unit adds nothing that one stream would not
have read, in another order. Memory is bounded by the queue's byte budget, shared by all threads
(`engine.byte_budget`), plus one batch in flight per thread.

Hash buckets are never read in parallel here: each bucket scans the whole table, so on one
machine they cost more than they give; such a read stays one stream.

Where the source can export a snapshot (PostgreSQL's `pg_export_snapshot()`), every unit reads
that one snapshot (`in_one_snapshot`).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pyarrow as pa

from etl_bigquery.engine.beam.units import split_read, unit_count
from etl_bigquery.engine.byte_budget import READ_AHEAD_BYTES, ByteBudgetQueue
from etl_bigquery.engine.conform import RejectedRow
from etl_bigquery.engine.jobs.model import FilesSource
from etl_bigquery.engine.sources.abilities import (
    CanSplit,
    ListsFiles,
    ReadsInStreams,
    RejectsRecords,
    SharesSnapshot,
)
from etl_bigquery.engine.sources.base import CursorRange, ReadPlan, ReadStream, SourceReader

MAX_DEFAULT_PARALLELISM = 4
MIN_ROWS_PER_UNIT = 50_000
"""Below this, a unit's own query and connection cost more than its share of the read."""


def default_parallelism() -> int:
    """The machine's cores, at most 4 (more readers than cores only queue for the consumer)."""
    return max(1, min(MAX_DEFAULT_PARALLELISM, os.cpu_count() or 1))


def parallel_units(
    reader: SourceReader,
    plan: ReadPlan,
    estimated_rows: int | None,
    parallelism: int,
    key_columns: list[str] | None,
) -> list[ReadPlan]:
    """The units to read at once, or [] when the read stays one stream (parallelism 1, a small
    or unknown estimate, a source that cannot split, or a split into hash buckets). Files: one
    unit per file, whatever the estimate (a file source has none), when there are several."""
    if parallelism <= 1:
        return []
    # The rule of `engine.beam.units.unit_count`, with parallelism as the ceiling.
    wanted = unit_count(estimated_rows, MIN_ROWS_PER_UNIT, max_units=parallelism)
    if isinstance(reader, ListsFiles) and isinstance(plan.source, FilesSource):
        units = split_read(reader, plan, max(wanted, parallelism), key_columns)
        return units if len(units) > 1 else []
    if wanted <= 1 or not isinstance(reader, CanSplit | ReadsInStreams):
        return []
    units = split_read(reader, plan, wanted, key_columns)
    # Ranges and streams read disjoint parts; hash buckets would each scan the whole source.
    if len(units) <= 1 or not all(isinstance(u.unit, CursorRange | ReadStream) for u in units):
        return []
    return units


_WORKER_DONE = object()


@dataclass
class _Failed:
    error: BaseException


def in_one_snapshot(reader: SourceReader, parallel: ParallelRead) -> Iterator[pa.RecordBatch]:
    """The units' batches, all read from one snapshot of the source where the reader can export
    one (`SharesSnapshot`): a catalog read split in units is then one consistent image, as one
    stream would be. The exporting transaction stays open until the last unit is read."""
    if not isinstance(reader, SharesSnapshot):
        yield from parallel
        return
    with reader.exported_snapshot() as snapshot:
        parallel.snapshot = snapshot
        yield from parallel


class ParallelRead:
    """Batches of every unit, read by `workers` threads; `take_rejected` as a file reader's
    (records the units' readers could not read). Iterate once."""

    def __init__(
        self,
        open_reader: Callable[[], SourceReader],
        units: list[ReadPlan],
        workers: int,
        budget: int = READ_AHEAD_BYTES,
    ) -> None:
        self.units = units
        self.workers = max(1, min(workers, len(units)))
        self._open_reader = open_reader
        self._todo: queue.SimpleQueue[ReadPlan] = queue.SimpleQueue()
        for unit in units:
            self._todo.put(unit)
        self._items: ByteBudgetQueue[object] = ByteBudgetQueue(budget)
        self._stop = threading.Event()
        self._rejected: list[RejectedRow] = []
        self._lock = threading.Lock()
        self.snapshot: str | None = None
        """Set before iterating: every unit reads this exported snapshot (`SharesSnapshot`)."""

    def take_rejected(self) -> list[RejectedRow]:
        with self._lock:
            rejected, self._rejected = self._rejected, []
        return rejected

    def _put(self, item: object) -> bool:
        return self._items.put(item, self._stop)

    def _keep_rejected(self, reader: SourceReader) -> None:
        if isinstance(reader, RejectsRecords) and (bad := reader.take_rejected()):
            with self._lock:
                self._rejected.extend(bad)

    def _work(self) -> None:
        try:
            reader = self._open_reader()
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._items.put(_Failed(error), force=True)
            return
        try:
            while not self._stop.is_set():
                try:
                    unit = self._todo.get_nowait()
                except queue.Empty:
                    break
                if self.snapshot is not None:
                    unit = replace(unit, snapshot=self.snapshot)
                batches = reader.read(unit)
                try:
                    for batch in batches:
                        self._keep_rejected(reader)
                        if not self._put(batch):
                            return
                finally:
                    close = getattr(batches, "close", None)
                    if close is not None:
                        close()  # a stopped read closes its cursor before the reader
                self._keep_rejected(reader)
        except BaseException as error:
            self._items.put(_Failed(error), force=True)
            return
        finally:
            reader.close()
        self._items.put(_WORKER_DONE, force=True)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        threads = [
            threading.Thread(target=self._work, name=f"etl-read-unit-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        finished = 0
        try:
            while finished < len(threads):
                item = self._items.get()
                if item is _WORKER_DONE:
                    finished += 1
                elif isinstance(item, _Failed):
                    raise item.error
                else:
                    yield item
        finally:
            self._stop.set()
            self._items.clear()  # producers waiting for room see `stop` within 0.2 s
            for thread in threads:
                thread.join()
