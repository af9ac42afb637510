"""Progress of a Beam extraction while it runs: units done of the total, and rows read.

A Beam pipeline tells the process that started it nothing until it ends (the DirectRunner's
`run` even blocks until then), and its metrics are not live on every runner. So each unit, once
it succeeded, leaves an empty *marker* in the staging location whose name carries its figures
(`progress/unit-00003-rows-120000`), and the driver lists that folder every few seconds from a
thread of its own, while the pipeline runs: one listing call per look, on the DirectRunner
(worker threads or processes) as on Dataflow (workers write to the same bucket). A unit retried
by the runner writes the same name again, so a unit is counted once. The last report comes from
the pipeline's manifest, exact.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl_bigquery.engine.beam.worker import StagingSpec

log = logging.getLogger(__name__)

UnitProgress = Callable[[int, int, int], None]
"""(units done, units in all, rows read so far)."""

FOLDER = "progress"
EVERY_SECONDS = 5.0
_MARKER = re.compile(r"^unit-(\d+)-rows-(\d+)$")


def progress_marker(run_path: str, unit: int, figures: dict[str, Any]) -> str:
    return f"{run_path}/{FOLDER}/unit-{unit:05d}-rows-{int(figures['rows_read'])}"


def units_done(names: list[str]) -> tuple[int, int]:
    """(units done, rows they read) from the markers' names."""
    rows: dict[int, int] = {}
    for name in names:
        found = _MARKER.match(name)
        if found:
            rows[int(found[1])] = int(found[2])
    return len(rows), sum(rows.values())


class ProgressWatch:
    """Reports the markers of a running pipeline to `report`, from a daemon thread, in the
    caller's context (a Prefect artifact is published in the flow run that started it). A
    failed look is logged and tried again at the next one: progress never fails a run."""

    def __init__(
        self,
        staging: StagingSpec,
        run_path: str,
        total: int,
        report: UnitProgress,
        storage: Any = None,
        every: float = EVERY_SECONDS,
    ) -> None:
        self.staging = staging
        self.prefix = f"{run_path}/{FOLDER}"
        self.total = total
        self.report = report
        self.storage = storage
        self.every = every
        self._stop = threading.Event()
        self._context = contextvars.copy_context()
        self._thread = threading.Thread(target=self._watch, name="etl-beam-progress", daemon=True)
        self._last: tuple[int, int] | None = None
        self._lock = threading.Lock()  # one report at a time (a context is entered by one)

    def __enter__(self) -> ProgressWatch:
        self._send(0, 0)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def finish(self, done: int, rows: int) -> None:
        """The exact figures once the pipeline ended (from its manifest)."""
        self._send(done, rows)

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            try:
                names = self.staging.list_names(self.prefix, self.storage)
            except Exception as error:  # a look that failed: the next one may not
                log.warning("Looking at the Beam progress failed (%s).", type(error).__name__)
                continue
            self._send(*units_done(names))

    def _send(self, done: int, rows: int) -> None:
        with self._lock:
            if (done, rows) == self._last:
                return
            self._last = (done, rows)
            try:
                self._context.run(self.report, done, self.total, rows)
            except Exception as error:
                log.warning("Publishing the Beam progress failed (%s).", type(error).__name__)
