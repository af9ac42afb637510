"""Read ahead: the source is read in a background thread while the caller converts and writes.

Drivers decode in C and release the GIL, so on two cores reading overlaps with conforming and
Parquet writing. The queue holds at most `depth` batches, which bounds the memory it adds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield the items of `source`, produced by a thread up to `depth` items ahead. An exception
    in the thread is raised here; closing this generator stops the thread."""
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as error:  # handed to the consumer, which re-raises it
            items.put(error)
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
        # Unblock a producer waiting on a full queue, then let it finish.
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.2)
