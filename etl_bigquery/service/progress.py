"""A running job's progress, read from the Prefect API as the console reads it: each stage's
state as it changes, and while extracting the rows read and rows per second (from the run's
progress artifact, which the flow creates once an extraction reports progress).

The same watcher serves `etl run` (the flow runs in this process; a thread watches it) and
`etl job run --wait` (a worker runs it). Nothing here prints: it hands lines to a callback.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterStartTime,
    FlowRunFilterTags,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.sorting import FlowRunSort

from etl_bigquery.service.prefect_yaml import FLOW_NAME, JOB_TAG

_ROWS = re.compile(r"([\d,]+) rows read")
Emit = Callable[[str], None]


@dataclass
class Watcher:
    """Turns what the server holds about one flow run into lines, each change once."""

    emit: Emit
    states: dict[str, str] = field(default_factory=dict)
    rows: tuple[float, int] | None = None
    """(monotonic seconds, rows read) at the last reading."""

    def poll(self, client: Any, run_id: uuid.UUID) -> None:
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id]))
        )
        never = dt.datetime.max.replace(tzinfo=dt.UTC)
        for task in sorted(tasks, key=lambda t: t.expected_start_time or t.created or never):
            stage = task.name.split("-")[0]
            state = task.state.name if task.state else "Pending"
            if self.states.get(stage) != state:
                self.states[stage] = state
                self.emit(f"  {stage}: {state}")
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
                type=ArtifactFilterType(any_=["progress"]),
            )
        )
        for artifact in artifacts:
            found = _ROWS.search(artifact.description or "")
            if found:
                self._rows(int(found.group(1).replace(",", "")), artifact.description or "")

    def _rows(self, rows: int, description: str) -> None:
        now = time.monotonic()
        if self.rows is not None and rows == self.rows[1]:
            return
        rate = ""
        if self.rows is not None and now > self.rows[0]:
            rate = f", {(rows - self.rows[1]) / (now - self.rows[0]):,.0f} rows/s"
        self.rows = (now, rows)
        about = description.split(" of about ", 1)
        total = f" of about {about[1]}" if len(about) == 2 else ""
        self.emit(f"  extract: {rows:,} rows read{total}{rate}")


def _find_run(client: Any, job_name: str, since: dt.datetime) -> uuid.UUID | None:
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[f"{JOB_TAG}{job_name}"]),
            # Prefect's stub says its own DateTime; pydantic takes any aware datetime.
            start_time=FlowRunFilterStartTime(after_=since),  # type: ignore[arg-type]
        ),
        sort=FlowRunSort.START_TIME_DESC,
        limit=1,
    )
    return runs[0].id if runs else None


class InProcessWatch:
    """Watch the run `etl run` is about to start in this process (found by the job's tag and
    its start time), from a thread, until `stop()`; a last poll shows the final states."""

    def __init__(self, job_name: str, emit: Emit, every: float = 1.0) -> None:
        self.job_name = job_name
        self.watcher = Watcher(emit)
        self.every = every
        self.since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="etl-progress", daemon=True)

    def __enter__(self) -> InProcessWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        try:
            with get_client(sync_client=True) as client:
                run_id = None
                while True:
                    finished = self.done.is_set()
                    run_id = run_id or _find_run(client, self.job_name, self.since)
                    if run_id is not None:
                        self.watcher.poll(client, run_id)
                    if finished:
                        return
                    self.done.wait(self.every)
        except Exception:  # progress is a courtesy: the run and its summary go on without it
            return
