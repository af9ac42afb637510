"""Read-ahead bounded in bytes: the one queue between the source's reader threads and the
extraction loop, sized by what it holds rather than by how many batches.

A count of batches bounds nothing: a batch is whatever the driver returns (8 MiB by default
for PostgreSQL and MySQL, `sources.base.DEFAULT_BATCH_BYTES`; more for wide rows), and a
parallel read with more threads queued more of them (2 per thread before). Here every producer
waits while the queue holds `budget` bytes or more (Arrow's `nbytes` of each batch), however
many threads read; one item always passes into an empty queue, so a single batch larger than
the budget still flows (one at a time).

What the extraction of a run holds at most, by design (`engine.pipeline.extract`):
    READ_AHEAD_BYTES queued
    + one batch per reader thread (the one it is handing over)
    + the batch being conformed, its conformed copy and the Parquet row group being written
    + the upload buffers (`engine.staging`: UPLOAD_THREADS x UPLOAD_CHUNK_BYTES)
so memory does not grow with the table: the figures are in `make bench` (peak RSS per size).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

READ_AHEAD_BYTES = 16 * 1024 * 1024
"""Bytes of batches read ahead of the extraction loop, all reader threads together (two
default batches: enough to keep two cores busy, measured at 1M rows with two readers)."""


def size_of(item: object) -> int:
    """An Arrow batch's buffer bytes; 0 for anything else (markers, errors)."""
    nbytes = getattr(item, "nbytes", 0)
    return nbytes if isinstance(nbytes, int) else 0


class ByteBudgetQueue(Generic[T]):
    """A FIFO whose producers wait while it holds `budget` bytes or more."""

    def __init__(self, budget: int = READ_AHEAD_BYTES) -> None:
        self.budget = budget
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._changed = threading.Condition()
        self.peak_bytes = 0
        """The most bytes it held at once (reported by the benchmark)."""

    def put(self, item: T, stop: threading.Event | None = None, *, force: bool = False) -> bool:
        """Queue `item` once there is room; False (not queued) when `stop` is set first.
        `force` queues at once whatever is held (end markers and errors, which hold nothing)."""
        size = size_of(item)
        with self._changed:
            while not force and self._items and self._bytes + size > self.budget:
                if stop is not None and stop.is_set():
                    return False
                self._changed.wait(0.2)
            if stop is not None and stop.is_set() and not force:
                return False
            self._items.append((item, size))
            self._bytes += size
            self.peak_bytes = max(self.peak_bytes, self._bytes)
            self._changed.notify_all()
        return True

    def get(self) -> T:
        """The oldest item, waiting for one."""
        with self._changed:
            while not self._items:
                self._changed.wait()
            item, size = self._items.popleft()
            self._bytes -= size
            self._changed.notify_all()
        return item

    def clear(self) -> None:
        """Drop everything queued (a consumer that stops early frees its producers' memory)."""
        with self._changed:
            self._items.clear()
            self._bytes = 0
            self._changed.notify_all()
