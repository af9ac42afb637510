"""What the console reads from the Prefect API: etl-job flow runs with their task runs, summary
artifacts and logs. Read-only; every figure comes from the server, nothing is stored here."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterStartTime,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.sorting import FlowRunSort, LogSort

from etl_bigquery.service.jobs import artifact_figures
from etl_bigquery.ui_extension.runs import RunView, stage_bar

FLOW_NAME = "etl-job"
PAGE = 200
MAX_LOGS = 1000  # the Prefect UI has the rest
MAX_RUNS = 2000  # the KPIs and charts of a window holding more count the newest (they say so)
_REPORT_JSON = re.compile(r"```json\n(.*?)\n```", re.S)


def report_from_markdown(markdown: str) -> dict[str, Any] | None:
    """The run report the flow embeds as JSON in its summary artifact (flows/artifacts.py)."""
    found = _REPORT_JSON.search(markdown or "")
    if not found:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _view(run: Any, artifacts: list[Any], tasks: list[Any]) -> RunView:
    job = (run.parameters or {}).get("job") or {}
    state = run.state
    view = RunView(
        id=str(run.id),
        job=str(job.get("name") or run.name),
        state_type=state.type.value if state else "PENDING",
        state_name=(state.name if state else None) or "Pending",
        start_time=run.start_time,
        duration_seconds=run.total_run_time.total_seconds() if run.start_time else None,
        connection=job.get("connection"),
        deployment_id=str(run.deployment_id) if run.deployment_id else None,
    )
    report = None
    for artifact in artifacts:
        key = artifact.key or ""
        if artifact.type == "markdown" and key.endswith("-summary"):
            report = report_from_markdown(str(artifact.data)) or report
        elif artifact.type == "table" and key.endswith("-load"):
            view.rows_loaded = _int(artifact_figures(artifact.data).get("rows loaded"))
        elif artifact.type == "table" and key.endswith("-extract"):
            view.bytes_processed = _int(artifact_figures(artifact.data).get("bytes staged"))
    if report:
        view.rows_loaded = _int(report.get("rows_loaded"))
        view.bytes_processed = _int(report.get("bytes_processed"))
        view.error_type = report.get("error_type")
        view.error = report.get("error")
    if view.status == "failed" and not view.error:
        view.error = (state.message if state else None) or view.state_name
        tag = next((t for t in run.tags if t.startswith("etl-error:")), None)
        view.error_type = tag.split(":", 1)[1] if tag else view.error_type
    if view.error and view.error_type and view.error.startswith(f"[{view.error_type}] "):
        view.error = view.error[len(view.error_type) + 3 :]
    # The latest attempt of each task (retries create no new task runs, but be safe).
    states: dict[str, str] = {}
    for task in sorted(tasks, key=lambda t: t.expected_start_time or t.created or dt.datetime.min):
        stage = task.name.split("-")[0]
        states[stage] = task.state.type.value if task.state else "PENDING"
    view.stages = stage_bar(states, view.status, view.error_type)
    return view


async def _details(client: Any, runs: list[Any]) -> list[RunView]:
    ids = [run.id for run in runs]
    artifacts: dict[uuid.UUID, list[Any]] = {i: [] for i in ids}
    tasks: dict[uuid.UUID, list[Any]] = {i: [] for i in ids}
    for start in range(0, len(ids), 50):
        chunk = ids[start : start + 50]
        offset = 0
        while True:
            page = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=chunk)),
                limit=PAGE,
                offset=offset,
            )
            for artifact in page:
                artifacts[artifact.flow_run_id].append(artifact)
            if len(page) < PAGE:
                break
            offset += PAGE
        offset = 0
        while True:
            page = await client.read_task_runs(
                task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=chunk)),
                limit=PAGE,
                offset=offset,
            )
            for task in page:
                tasks[task.flow_run_id].append(task)
            if len(page) < PAGE:
                break
            offset += PAGE
    return [_view(run, artifacts[run.id], tasks[run.id]) for run in runs]


async def read_runs(since: dt.datetime | None) -> list[RunView]:
    """The etl-job flow runs that started after `since` (all when None), newest first, at most
    MAX_RUNS of them (the KPIs and charts; the history pages through all: read_run_history)."""
    flow_run_filter = _started_after(since)
    runs: list[Any] = []
    async with get_client() as client:
        while len(runs) < MAX_RUNS:
            page = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                flow_run_filter=flow_run_filter,
                sort=FlowRunSort.START_TIME_DESC,
                limit=PAGE,
                offset=len(runs),
            )
            runs += page
            if len(page) < PAGE:
                break
        return await _details(client, runs)


@dataclass
class RunHistory:
    """One page of the run history, and how many runs match over all of it."""

    runs: list[RunView]
    matching: int
    page: int
    pages: int


async def read_run_history(
    since: dt.datetime | None,
    keep: Callable[[RunView], bool],
    page: int,
    per_page: int,
    api_page: int = PAGE,
) -> RunHistory:
    """Page `page` (1-based, clamped to the last) of the etl-job runs started after `since` (all
    history when None) that `keep` accepts, newest first, with no cap: the flow runs are read
    from the Prefect API `api_page` at a time (offset/limit), judged by their parameters and
    state alone, and only the shown page's runs get their artifacts and task runs read."""
    matched: list[uuid.UUID] = []
    async with get_client() as client:
        offset = 0
        while True:
            chunk = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                flow_run_filter=_started_after(since),
                sort=FlowRunSort.START_TIME_DESC,
                limit=api_page,
                offset=offset,
            )
            matched += [run.id for run in chunk if keep(_view(run, [], []))]
            if len(chunk) < api_page:
                break
            offset += api_page
        pages = max(1, -(-len(matched) // per_page))
        page = min(max(1, page), pages)
        shown = matched[(page - 1) * per_page : page * per_page]
        runs = (
            await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=shown)),
                sort=FlowRunSort.START_TIME_DESC,
                limit=len(shown),
            )
            if shown
            else []
        )
        return RunHistory(await _details(client, runs), len(matched), page, pages)


def _started_after(since: dt.datetime | None) -> FlowRunFilter:
    return FlowRunFilter(
        # Prefect's stub says its own DateTime; pydantic takes any aware datetime.
        start_time=FlowRunFilterStartTime(after_=since, is_null_=False)  # type: ignore[arg-type]
        if since
        else FlowRunFilterStartTime(is_null_=False)
    )


@dataclass
class RunDetail:
    view: RunView
    report: dict[str, Any] | None
    tasks: list[Any]
    logs: list[Any]
    parameters: dict[str, Any]


async def read_run(run_id: str) -> RunDetail:
    async with get_client() as client:
        run = await client.read_flow_run(uuid.UUID(run_id))
        (view,) = await _details(client, [run])
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
        tasks = await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]))
        )
        logs: list[Any] = []
        while len(logs) < MAX_LOGS:
            page = await client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])),
                limit=PAGE,
                offset=len(logs),
                sort=LogSort.TIMESTAMP_ASC,
            )
            logs += page
            if len(page) < PAGE:
                break
    report = next(
        (
            report_from_markdown(str(a.data))
            for a in artifacts
            if a.type == "markdown" and (a.key or "").endswith("-summary")
        ),
        None,
    )
    tasks.sort(
        key=lambda t: (
            t.start_time or t.expected_start_time or dt.datetime.max.replace(tzinfo=dt.UTC)
        )
    )
    return RunDetail(view, report, tasks, logs, dict(run.parameters or {}))


async def server_ok() -> bool:
    async with get_client() as client:
        # Prefect returns the exception instead of raising it.
        return await client.api_healthcheck() is None


async def job_is_active(job: str) -> bool:
    """Whether a run of `job` is pending or running (any way it was started: by its tag)."""
    from prefect.client.schemas.filters import (
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[f"etl-job:{job}"]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING])),
            ),
            limit=1,
        )  # fmt: skip
    return bool(runs)
