"""Runs as the console shows them, and the figures computed over them.

Pure functions over plain dataclasses: the Prefect API is read elsewhere (`prefect_data`), so the
KPI arithmetic is unit-tested without a server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

STAGES = ("init", "validate", "extract", "load")
# error_type (the flow's Stage values) -> the task that failed
ERROR_STAGE = {"init": "init", "validation": "validate", "extraction": "extract", "load": "load"}


@dataclass
class RunView:
    id: str
    job: str
    state_type: str
    """Prefect's state type: COMPLETED, FAILED, CRASHED, RUNNING, CANCELLED, ..."""
    state_name: str
    """Completed, Partial, Skipped, Failed, Running, ..."""
    start_time: dt.datetime | None
    duration_seconds: float | None
    connection: str | None = None
    deployment_id: str | None = None
    rows_loaded: int | None = None
    bytes_processed: int | None = None
    error_type: str | None = None
    error: str | None = None
    stages: dict[str, str] = field(default_factory=dict)
    """stage -> completed | failed | running | not-reached"""

    @property
    def status(self) -> str:
        """completed | partial | skipped | failed | running | cancelled | pending"""
        if self.state_type == "COMPLETED":
            return {"Partial": "partial", "Skipped": "skipped"}.get(self.state_name, "completed")
        if self.state_type in ("FAILED", "CRASHED"):
            return "failed"
        if self.state_type in ("RUNNING", "CANCELLING"):
            return "running"
        if self.state_type == "CANCELLED":
            return "cancelled"
        return "pending"

    @property
    def succeeded(self) -> bool:
        return self.status in ("completed", "partial")

    @property
    def live(self) -> bool:
        return self.status == "running"


def stage_bar(
    task_states: dict[str, str], run_status: str, error_type: str | None
) -> dict[str, str]:
    """The four-segment bar: each stage completed, failed, running or not reached, from the
    run's task runs (stage name -> Prefect state type). A failed run without a failed task (the
    flow catches the error) is placed by its `error_type`."""
    failed_stage = ERROR_STAGE.get(error_type or "")
    bar = {}
    for stage in STAGES:
        state = task_states.get(stage)
        if stage == failed_stage or state in ("FAILED", "CRASHED"):
            bar[stage] = "failed"
        elif state == "COMPLETED":
            bar[stage] = "completed"
        elif state in ("RUNNING", "PENDING") and run_status == "running":
            bar[stage] = "running"
        else:
            bar[stage] = "not-reached"
    if run_status == "failed" and "failed" not in bar.values():
        # Crashed before the flow could say where: the first stage that did not complete.
        first = next((s for s in STAGES if bar[s] != "completed"), None)
        if first:
            bar[first] = "failed"
    return bar


@dataclass(frozen=True)
class Kpis:
    total: int
    successful: int
    failed: int
    success_rate: float | None
    """Percent with one decimal; None when there were no runs."""
    rows_migrated: int
    avg_duration_seconds: float | None

    @property
    def band(self) -> str:
        return success_band(self.success_rate)


def compute_kpis(runs: Iterable[RunView]) -> Kpis:
    """Total: every run that started (any state); successful: Completed or Partial (Skipped,
    the second trigger of a busy job, is neither); failed: Failed or Crashed; rows migrated and
    average duration over successful runs."""
    runs = list(runs)
    ok = [r for r in runs if r.succeeded]
    failed = sum(1 for r in runs if r.status == "failed")
    durations = [r.duration_seconds for r in ok if r.duration_seconds is not None]
    return Kpis(
        total=len(runs),
        successful=len(ok),
        failed=failed,
        success_rate=round(100.0 * len(ok) / len(runs), 1) if runs else None,
        rows_migrated=sum(r.rows_loaded or 0 for r in ok),
        avg_duration_seconds=round(sum(durations) / len(durations), 1) if durations else None,
    )


def success_band(rate: float | None) -> str:
    """SPEC §6: ≥95 % green, 80-95 % yellow, below 80 % red."""
    if rate is None:
        return "none"
    if rate >= 95:
        return "green"
    if rate >= 80:
        return "yellow"
    return "red"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{round(seconds)}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def filter_runs(
    runs: Sequence[RunView],
    query: str = "",
    status: str | Collection[str] = "",
    connection: str = "",
) -> list[RunView]:
    """The dashboard's filters: job name contains `query`, status is one of `status` (one or
    several; none means any), connection equals."""
    query = query.strip().lower()
    statuses = {status} if isinstance(status, str) else set(status)
    statuses.discard("")
    return [
        r
        for r in runs
        if (not query or query in r.job.lower())
        and (not statuses or r.status in statuses)
        and (not connection or r.connection == connection)
    ]


def active_jobs(runs: Iterable[RunView]) -> set[str]:
    """Jobs with a run in progress: Rerun is not offered for them (the run would be skipped)."""
    return {r.job for r in runs if r.live or (r.status == "pending" and r.start_time is not None)}


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    schedule: str
    next_run: str | None
    state: str
    deployment_id: str


def order_scheduled(jobs: Iterable[ScheduledJob]) -> list[ScheduledJob]:
    """Enabled jobs first by next run (soonest first, manual ones last), then paused by name."""
    jobs = list(jobs)
    enabled = [j for j in jobs if j.state != "Paused"]
    paused = [j for j in jobs if j.state == "Paused"]

    def when(job: ScheduledJob) -> tuple[int, dt.datetime]:
        if not job.next_run:
            return (1, dt.datetime.max.replace(tzinfo=dt.UTC))
        return (0, dt.datetime.fromisoformat(job.next_run).astimezone(dt.UTC))

    return sorted(enabled, key=when) + sorted(paused, key=lambda j: j.name.lower())
