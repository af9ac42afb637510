"""A running job's progress, read from the Prefect API as the console reads it: each stage's
state as it changes, and while extracting the rows read and rows per second (from the run's
progress artifact, which the flow creates once an extraction reports progress).

The same watcher serves `etl run` (the flow runs in this process; a thread watches it) and
`etl job run --wait` (a worker runs it). Nothing here prints: it hands lines to a callback.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)

from etl_bigquery.service.prefect_yaml import FLOW_NAME, JOB_TAG

DRAIN_SECONDS = 10
FINAL = frozenset({"Completed", "Failed", "Crashed", "Cancelled", "Skipped", "Partial"})
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
        """One reading with Prefect's sync client."""
        tasks = client.read_task_runs(task_run_filter=_tasks_of(run_id))
        artifacts = client.read_artifacts(artifact_filter=_progress_of(run_id))
        self.update(
            [t.model_dump(mode="json") for t in tasks],
            [a.model_dump(mode="json") for a in artifacts],
        )

    def update(self, tasks: list[dict[str, Any]], artifacts: list[dict[str, Any]]) -> None:
        """Task runs and progress artifacts as the REST API returns them (JSON objects)."""
        for task in sorted(tasks, key=lambda t: t.get("expected_start_time") or ""):
            stage = str(task.get("name") or "").split("-")[0]
            state = (task.get("state") or {}).get("name") or "Pending"
            if self.states.get(stage) != state:
                self.states[stage] = state
                self.emit(f"  {stage}: {state}")
        for artifact in artifacts:
            description = artifact.get("description") or ""
            found = _ROWS.search(description)
            if found:
                self._rows(int(found.group(1).replace(",", "")), description)

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


def _tasks_of(run_id: uuid.UUID) -> TaskRunFilter:
    return TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id]))


def _progress_of(run_id: uuid.UUID) -> ArtifactFilter:
    return ArtifactFilter(
        flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
        type=ArtifactFilterType(any_=["progress"]),
    )


class _Api:
    """The few REST reads the watcher needs, over plain HTTP: Prefect's own clients are bound to
    the event loop of the thread that runs the flow."""

    def __init__(self) -> None:
        import httpx
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL

        headers = {}
        if PREFECT_API_KEY.value():
            headers["Authorization"] = f"Bearer {PREFECT_API_KEY.value().get_secret_value()}"
        elif PREFECT_API_AUTH_STRING.value():
            import base64

            token = PREFECT_API_AUTH_STRING.value().get_secret_value().encode()
            headers["Authorization"] = f"Basic {base64.b64encode(token).decode()}"
        self.http = httpx.Client(
            base_url=str(PREFECT_API_URL.value()).rstrip("/") + "/", headers=headers, timeout=10
        )

    def post(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.http.post(path, json=body)
        response.raise_for_status()
        found = response.json()
        return found if isinstance(found, list) else []

    def find_run(self, job_name: str, since: dt.datetime) -> str | None:
        runs = self.post("flow_runs/filter", {
            "flows": {"name": {"any_": [FLOW_NAME]}},
            "flow_runs": {"tags": {"all_": [f"{JOB_TAG}{job_name}"]},
                          "start_time": {"after_": since.isoformat()},
                          # Prefect compares a scheduled run's expected start as its start time
                          "state": {"type": {"any_": ["RUNNING", "COMPLETED", "FAILED",
                                                      "CRASHED", "CANCELLED", "CANCELLING"]}}},
            "sort": "START_TIME_DESC", "limit": 1,
        })  # fmt: skip
        return str(runs[0]["id"]) if runs else None

    def poll(self, watcher: Watcher, run_id: str) -> None:
        tasks = self.post("task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
        artifacts = self.post("artifacts/filter", {
            "artifacts": {"flow_run_id": {"any_": [run_id]}, "type": {"any_": ["progress"]}},
        })  # fmt: skip
        watcher.update(tasks, artifacts)

    def close(self) -> None:
        self.http.close()


class InProcessWatch:
    """Watch the run `etl run` is about to start in this process (found by the job's tag and
    its start time), from a thread, until `stop()`; a last poll shows the final states."""

    def __init__(self, job_name: str, emit: Emit, every: float = 1.0) -> None:
        self.job_name = job_name
        self.watcher = Watcher(emit)
        self.every = every
        self.since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        self.done = threading.Event()
        # Read here, in the caller's thread: Prefect's settings may live in its context.
        self.api = _Api()
        self.thread = threading.Thread(target=self._loop, name="etl-progress", daemon=True)

    def __enter__(self) -> InProcessWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        api = self.api
        debug = bool(os.environ.get("ETL_PROGRESS_DEBUG"))
        try:
            if debug:
                self.watcher.emit(f"(watching runs of {self.job_name} since {self.since})")
            run_id = None
            while not self.done.is_set():
                run_id = run_id or api.find_run(self.job_name, self.since)
                if run_id is not None:
                    api.poll(self.watcher, run_id)
                self.done.wait(self.every)
            # The server learns of in-process task runs from events, a moment late: poll until
            # each stage seen has ended, so the last states are shown too.
            deadline = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < deadline:
                run_id = run_id or api.find_run(self.job_name, self.since)
                if run_id is not None:
                    api.poll(self.watcher, run_id)
                    states = self.watcher.states.values()
                    if states and all(s in FINAL for s in states):
                        return
                time.sleep(0.5)
            if debug:
                self.watcher.emit(f"(run {run_id}: stages {self.watcher.states})")
        except Exception as error:  # progress is a courtesy: the run and its summary go on
            if os.environ.get("ETL_PROGRESS_DEBUG"):
                self.watcher.emit(f"(progress unavailable: {error!r})")
        finally:
            api.close()
