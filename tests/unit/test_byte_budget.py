"""Read-ahead bounded in bytes (engine.byte_budget, engine.prefetch): producers wait while the
queue holds its budget, whatever the number of threads; a batch larger than the budget still
flows alone; errors and early stops behave as before."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pytest

from etl_bigquery.engine.byte_budget import ByteBudgetQueue, size_of
from etl_bigquery.engine.prefetch import read_ahead


def _batch(rows: int, start: int = 0) -> pa.RecordBatch:
    return pa.record_batch({"v": np.arange(start, start + rows, dtype=np.int64)})  # 8 B a row


def test_many_producers_never_queue_more_than_the_budget():
    queue: ByteBudgetQueue[object] = ByteBudgetQueue(budget=8 * 1000 * 3)  # three batches
    done = object()

    def produce(first: int) -> None:
        for i in range(20):
            queue.put(_batch(1000, first + 1000 * i))
        queue.put(done, force=True)

    threads = [threading.Thread(target=produce, args=(k * 100_000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    rows, finished = 0, 0
    while finished < len(threads):
        item = queue.get()
        if item is done:
            finished += 1
        else:
            rows += item.num_rows
    for thread in threads:
        thread.join()
    assert rows == 4 * 20 * 1000
    assert queue.peak_bytes <= queue.budget


def test_a_batch_larger_than_the_budget_passes_alone():
    queue: ByteBudgetQueue[object] = ByteBudgetQueue(budget=100)
    big = _batch(1000)
    assert queue.put(big) and queue.peak_bytes == size_of(big) == 8000
    stop = threading.Event()
    stop.set()
    assert not queue.put(_batch(10), stop)  # no room, and asked to stop: not queued
    assert queue.get() is big


def test_read_ahead_yields_everything_in_order_and_raises_the_readers_error():
    batches = [_batch(100, 100 * i) for i in range(50)]
    out = list(read_ahead(iter(batches), budget=2000))
    assert [b.column(0)[0].as_py() for b in out] == [100 * i for i in range(50)]

    def failing():
        yield _batch(10)
        raise ValueError("the source broke")

    with pytest.raises(ValueError, match="the source broke"):
        list(read_ahead(failing(), budget=10))


def test_closing_the_read_early_stops_and_closes_the_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield _batch(100, i)
                i += 100
        finally:
            closed.set()

    reading = read_ahead(endless(), budget=1000)
    assert next(reading).num_rows == 100
    reading.close()  # joins the producer thread, which closes the source
    assert closed.is_set()
