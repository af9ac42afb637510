"""Read ahead: the source is read in a background thread while the caller converts and writes.

Drivers decode in C and release the GIL, so on two cores reading overlaps with conforming and
Parquet writing. What is read ahead is bounded in bytes (`engine.byte_budget`), not in batches.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TypeVar

from etl_bigquery.engine.byte_budget import READ_AHEAD_BYTES, ByteBudgetQueue

T = TypeVar("T")
_DONE = object()


def read_ahead(source: Iterator[T], budget: int = READ_AHEAD_BYTES) -> Iterator[T]:
    """Yield the items of `source`, produced by a thread up to `budget` bytes ahead. An exception
    in the thread is raised here; closing this generator stops the thread."""
    items: ByteBudgetQueue[object] = ByteBudgetQueue(budget)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                if not items.put(item, stop):
                    return
            items.put(_DONE, force=True)
        except BaseException as error:  # handed to the consumer, which re-raises it
            items.put(error, force=True)
        finally:
            close = getattr(source, "close", None)
            if close is not None and stop.is_set():
                close()

    thread = threading.Thread(target=produce, name="etl-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        items.clear()  # a producer waiting for room sees `stop` within 0.2 s
        thread.join()
