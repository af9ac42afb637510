"""The job lifecycle on the Prefect server: apply, list, run, pause/resume, edit, delete.

Each function is what one `etl job ...` command does, so the command line and the web console
share it. prefect.yaml (service.prefect_yaml) is written first and the server is made to match
it, so `prefect deploy --all` from the repository always gives back what the server holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.flows.locking import limit_name, record_name
from etl_bigquery.service.job_files import JobDefinition, job_fields, parse_job_definition
from etl_bigquery.service.prefect_yaml import (
    FLOW_NAME,
    JOB_TAG,
    PROCESS_POOL,
    PrefectYaml,
    deployment_entry,
    settings_from_deployment,
)

DEFAULT_PREFECT_YAML = "prefect.yaml"
# What `etl job edit` may not change, and why; the way instead is always a new job.
FROZEN_FIELDS = {
    "connection": "the rows already loaded came from the old source",
    "source": "the rows already loaded came from the old source",
    "load_type": "the table's contents and state depend on how it was loaded",
    "destination": "the job's state is the destination table itself",
    "cursor_column": "the watermark is read from the cursor column of the table",
    "key_columns": "row fingerprints in the table were computed from the old key columns",
}


def project_file(prefect_yaml: str | Path | None = None) -> Path:
    return Path(prefect_yaml or DEFAULT_PREFECT_YAML).resolve()


# --- work pools and registration ---------------------------------------------------------------


def ensure_process_pool(name: str = PROCESS_POOL) -> bool:
    """The local process work pool; True when it was created."""
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def work_pool_type(name: str) -> str | None:
    """The pool's type on the server (process, cloud-run-v2, ...); None when it does not exist
    (yet): such a pool is never assumed to share this machine's folders."""
    with get_client(sync_client=True) as client:
        try:
            return str(client.read_work_pool(name).type)
        except ObjectNotFound:
            return None


def register(name: str, prefect_yaml: str | Path | None = None) -> uuid.UUID:
    """Register one deployment of prefect.yaml with the server, exactly as `prefect deploy` does
    (it is what runs), and return its id."""
    path = project_file(prefect_yaml)
    prefect = str(Path(sys.executable).parent / "prefect")
    result = subprocess.run(
        [prefect, "--no-prompt", "deploy", "--prefect-file", str(path), "--name",
         f"{FLOW_NAME}/{name}"],
        cwd=path.parent, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PREFECT_CLI_PROMPT": "false"},
    )  # fmt: skip
    if result.returncode != 0:
        lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
        raise ConfigurationError(
            f"`prefect deploy --name {FLOW_NAME}/{name}` failed: "
            + (lines[-1].strip() if lines else f"exit {result.returncode}")
        )
    return deployment_id(name)


def deployment_id(name: str) -> uuid.UUID:
    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(f"{FLOW_NAME}/{name}").id
        except ObjectNotFound:
            raise ConfigurationError(
                f"Job '{name}' is not deployed; apply its job file with `etl job apply FILE`."
            ) from None


# --- apply ---------------------------------------------------------------------------------------


@dataclass
class Applied:
    name: str
    prefect_yaml: str
    """created | updated | unchanged (the job's entry in prefect.yaml)"""
    deployment_id: str
    schedule: str
    next_run: str | None
    flow_run_id: str | None = None
    warnings: list[str] = field(default_factory=list)


def validate_and_create_table(definition: JobDefinition, *, dry_run: bool = False) -> Any:
    """Check the job against its source and BigQuery and create (or extend) its table; with
    `dry_run`, only check, and report the table that would be created or extended."""
    from etl_bigquery.blocks.registry import load_connection, load_destination
    from etl_bigquery.engine.pipeline.apply import apply_job
    from etl_bigquery.engine.pipeline.context import RunContext

    job = definition.job
    connection = load_connection(job.connection)
    destination = load_destination(job.destination.block)
    reader = connection.open_reader()
    ctx = RunContext(
        job,
        f"apply-{uuid.uuid4()}",
        dt.datetime.now(dt.UTC),
        reader,
        destination.clients(),
        destination.settings(),
    )
    try:
        return apply_job(ctx, dry_run=dry_run)
    finally:
        ctx.close()


def existing_definition(name: str, prefect_yaml: str | Path | None) -> JobDefinition | None:
    """The job already named `name`, in the project's prefect.yaml or on the server; None when
    the name is free."""
    # A project file that does not exist yet (an installed product applying its first job in an
    # empty folder: `etl job apply` starts the file) holds no job.
    if prefect_yaml is not None and (file := project_file(prefect_yaml)).is_file():
        deployed = PrefectYaml(file).job(name)
        if deployed is not None:
            return deployed.definition
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
        except ObjectNotFound:
            return None
    try:
        return _definition_from_server(deployment)
    except ConfigurationError:
        return None  # a deployment of the flow not made from a job file: not a job


def refuse_taken_name(name: str, prefect_yaml: str | Path | None) -> None:
    """A new job (the console's wizard) never takes the name of an existing one."""
    existing = existing_definition(name, prefect_yaml)
    if existing is not None:
        raise ConfigurationError(
            f"A job named '{name}' already exists ({_identity_text(existing)}); choose another "
            "name, or change that job from its Edit page."
        )


def check_same_job(definition: JobDefinition, prefect_yaml: str | Path | None) -> bool:
    """Refuse, with a sentence, a job whose name is taken by a different job (another source,
    destination or load type) or that changes what `etl job edit` may not change; True when
    the job exists (the apply then updates it, as `etl job edit` does)."""
    name = definition.job.name
    existing = existing_definition(name, prefect_yaml)
    if existing is None:
        return False
    before, after = existing.to_file(), definition.to_file()
    old_identity, new_identity = _identity(existing), _identity(definition)
    differ = [k for k in old_identity if old_identity[k] != new_identity[k]]
    if differ:
        named = [k.replace("_", " ") for k in differ]
        raise ConfigurationError(
            f"A job named '{name}' already exists with another {' and '.join(named)} "
            f"({_identity_text(existing)}); nothing was changed. Choose another name, or delete "
            f"that job first with `etl job delete {name}`."
        )
    for key, reason in FROZEN_FIELDS.items():
        if key in ("connection", "source", "destination", "load_type"):
            continue  # compared above, by what they mean rather than how they are written
        if _normal(after.get(key), key) != _normal(before.get(key), key):
            raise ConfigurationError(
                f"Job '{name}': {key} cannot change on an existing job ({reason}). Create a new "
                f"job with the new {key} (`etl job apply NEW.yaml`), then delete this one."
            )
    return True


def _identity(definition: JobDefinition) -> dict[str, Any]:
    """What makes two definitions the same job: a name is taken by another job when these
    differ (source, destination table, load type)."""
    job = definition.job
    source = _normal(job_fields(job).get("source"), "source")
    return {
        "source": (job.connection, json.dumps(source, sort_keys=True, default=str)),
        "destination": (job.destination.block, job.destination.dataset, job.destination_table),
        "load_type": job.load_type.value,
    }


def _identity_text(definition: JobDefinition) -> str:
    job = definition.job
    return (
        f"{job.connection}: {job.describe_source()} -> {job.destination.block}: "
        f"{job.destination.dataset or '(default)'}.{job.destination_table}, {job.load_type.value}"
    )


def deploy_definition(
    definition: JobDefinition,
    prefect_yaml: str | Path | None = None,
    run_now: bool = False,
    paused: bool | None = None,
) -> Applied:
    """Write the job's deployment into prefect.yaml, register it, and start a run if asked.
    A paused job stays paused (`paused` overrides)."""
    path = project_file(prefect_yaml)
    file = PrefectYaml(path, create=True)
    existing = file.job(definition.job.name)
    keep_paused = existing.paused if existing is not None else False
    if definition.deployment.work_pool == PROCESS_POOL:
        ensure_process_pool()
    pool_type = work_pool_type(definition.deployment.work_pool)
    outcome = file.upsert(
        deployment_entry(
            definition, paused=keep_paused if paused is None else paused, pool_type=pool_type
        )
    )
    before = path.read_text(encoding="utf-8")
    file.save()
    try:
        deployment = register(definition.job.name, path)
    except BaseException:
        path.write_text(before, encoding="utf-8")  # the file never names what the server lacks
        raise
    applied = Applied(
        name=definition.job.name,
        prefect_yaml=outcome,
        deployment_id=str(deployment),
        schedule=definition.deployment.schedule.describe(),
        next_run=_next_run_text(definition),
        warnings=list(definition.warnings),
    )
    if run_now:
        applied.flow_run_id = str(start_run(definition.job.name))
    return applied


def _next_run_text(definition: JobDefinition, paused: bool = False) -> str | None:
    schedule = definition.deployment.schedule
    if paused or schedule.cron is None or definition.deployment.scheduler != "prefect":
        return None
    (when,) = schedule.next_runs(dt.datetime.now(dt.UTC))
    return when.isoformat(timespec="minutes")


# --- list ----------------------------------------------------------------------------------------


@dataclass
class JobStatus:
    name: str
    source: str
    destination: str
    load_type: str
    schedule: str
    timezone: str
    next_run: str | None
    """In the job's time zone; None for manual or paused jobs."""
    state: str
    """Enabled | Paused"""
    last_status: str | None = None
    last_rows: int | None = None
    last_duration_seconds: float | None = None
    last_run_id: str | None = None
    last_run_at: str | None = None
    deployment_id: str = ""
    work_pool: str | None = None
    freshness: dict[str, Any] | None = None
    """Jobs with `freshness`: the last check (status fresh|stale|unknown, reason, when)."""
    verified: dict[str, Any] | None = None
    """The last `etl verify` or verify task: equal, mode, when, differences by kind."""
    connection: str = ""
    schedule_kind: str = "manual"
    """manual | hourly | daily | weekly | monthly | cron"""

    @property
    def health(self) -> str:
        """One mark per job: failed (its last run failed), paused, manual (no schedule), or
        scheduled (runs on its own and the last run did not fail)."""
        if self.last_status in ("Failed", "Crashed", "TimedOut"):
            return "failed"
        if self.state == "Paused":
            return "paused"
        return "manual" if self.schedule_kind == "manual" else "scheduled"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "health": self.health}


def filter_jobs(
    jobs: list[JobStatus],
    *,
    status: str | None = None,
    connection: str | None = None,
    schedule: str | None = None,
    health: str | None = None,
) -> list[JobStatus]:
    """The jobs list's filters, shared by `etl job list` and the console: `status` is the last
    run's (completed, failed, running, cancelled, never) or the job's (enabled, paused);
    `connection` the source connection or destination block; `schedule` manual or scheduled or
    a kind (hourly, daily, weekly, monthly, cron); `health` one of JobStatus.health."""

    def keep(j: JobStatus) -> bool:
        if status:
            wanted = status.lower()
            last = (j.last_status or "never").lower()
            if wanted in ("enabled", "paused"):
                if j.state.lower() != wanted:
                    return False
            elif wanted == "failed":
                if last not in ("failed", "crashed", "timedout"):
                    return False
            elif last != wanted:
                return False
        if connection and connection not in (j.connection, j.destination.split(":", 1)[0]):
            return False
        if schedule:
            wanted = schedule.lower()
            if wanted == "scheduled":
                if j.schedule_kind == "manual":
                    return False
            elif j.schedule_kind != wanted:
                return False
        return not (health and j.health != health.lower())

    return [j for j in jobs if keep(j)]


def _definition_from_server(deployment: Any) -> JobDefinition:
    schedules = [
        {
            "cron": getattr(s.schedule, "cron", None),
            "timezone": getattr(s.schedule, "timezone", None),
        }
        for s in deployment.schedules
    ]
    entry = {
        "tags": deployment.tags,
        "schedules": schedules,
        "description": deployment.description,
        "work_pool": {
            "name": deployment.work_pool_name,
            "job_variables": deployment.job_variables or {},
        },
    }
    where = f"deployment {FLOW_NAME}/{deployment.name}"
    settings = settings_from_deployment(entry, where)
    job = (deployment.parameters or {}).get("job") or {}
    return parse_job_definition({**job, **settings.to_file()}, where)


def _job_deployments(client: Any, names: list[str] | None = None) -> list[Any]:
    deployments = client.read_deployments(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])), limit=200
    )
    if names is not None:
        deployments = [d for d in deployments if d.name in names]
    return sorted(deployments, key=lambda d: d.name)


def _run_rows(client: Any, run_id: uuid.UUID) -> int | None:
    for artifact in client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
    ):
        if artifact.type == "table" and (artifact.key or "").endswith("-load"):
            figures = artifact_figures(artifact.data)
            return int(figures.get("rows loaded", 0) or 0)
    return None


def artifact_figures(data: Any) -> dict[str, Any]:
    """A stage artifact's table ({figure, value} rows) as a dict; {} for anything else."""
    rows = json.loads(data) if isinstance(data, str) else data
    if not isinstance(rows, list):
        return {}
    return {str(r.get("figure")): r.get("value") for r in rows if isinstance(r, dict)}


def list_jobs() -> list[JobStatus]:
    """Every deployed job with its schedule, next run, state and last run."""
    statuses = []
    with get_client(sync_client=True) as client:
        for deployment in _job_deployments(client):
            try:
                definition = _definition_from_server(deployment)
            except ConfigurationError:
                continue  # a deployment of the flow not made from a job file
            job, schedule = definition.job, definition.deployment.schedule
            status = JobStatus(
                name=job.name,
                source=f"{job.connection}: {job.describe_source()}",
                destination=f"{job.destination.block}: "
                f"{job.destination.dataset or '(default)'}.{job.destination_table}",
                load_type=job.load_type.value,
                schedule=schedule.describe(),
                timezone=schedule.timezone,
                next_run=None,
                state="Paused" if deployment.paused else "Enabled",
                deployment_id=str(deployment.id),
                work_pool=deployment.work_pool_name,
                connection=job.connection,
                schedule_kind=schedule.kind,
            )
            status.next_run = _next_scheduled(client, deployment, definition)
            _checks(status, job)
            # By the job's tag, not its deployment: a run of `etl run FILE` (no deployment),
            # of the deployment and of the console all carry etl-job:NAME.
            last = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[f"{JOB_TAG}{job.name}"]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(
                            any_=[
                                StateType.COMPLETED,
                                StateType.FAILED,
                                StateType.CRASHED,
                                StateType.CANCELLED,
                                StateType.RUNNING,
                            ]
                        )
                    ),
                ),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            if last:
                run = last[0]
                status.last_status = run.state.name if run.state else None
                status.last_run_id = str(run.id)
                status.last_run_at = (
                    run.start_time.astimezone(zoneinfo.ZoneInfo(schedule.timezone)).isoformat(
                        timespec="seconds"
                    )
                    if run.start_time
                    else None
                )
                status.last_duration_seconds = (
                    round(run.total_run_time.total_seconds(), 1) if run.total_run_time else None
                )
                status.last_rows = _run_rows(client, run.id)
            statuses.append(status)
    return statuses


def _checks(status: JobStatus, job: Any) -> None:
    """Freshness and the last verification (flows.freshness, flows.verified)."""
    from etl_bigquery.flows.freshness import last_freshness
    from etl_bigquery.flows.verified import last_verification

    if job.freshness:
        status.freshness = {**last_freshness(job.name), "limit": job.freshness}
    status.verified = last_verification(job.name)


def _next_scheduled(client: Any, deployment: Any, definition: JobDefinition) -> str | None:
    if deployment.paused:
        return None
    zone = zoneinfo.ZoneInfo(definition.deployment.schedule.timezone)
    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
        sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
        limit=1,
    )
    if runs and runs[0].next_scheduled_start_time:
        return runs[0].next_scheduled_start_time.astimezone(zone).isoformat(timespec="minutes")
    if not any(s.active for s in deployment.schedules):
        return None
    return _next_run_text(definition)


# --- run -----------------------------------------------------------------------------------------


def start_run(name: str) -> uuid.UUID:
    """Start a run through the job's deployment (a worker of its pool picks it up)."""
    deployment = deployment_id(name)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment, tags=["etl-manual"])
    return run.id


def wait_for_run(
    run_id: uuid.UUID, timeout: float = 3600, poll: float = 2, watcher: Any = None
) -> dict[str, Any]:
    """Wait until the run ends, then return the same report `etl run` prints; a
    `progress.Watcher` is handed each poll (stage states, rows read)."""
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if watcher is not None:
                with contextlib.suppress(Exception):  # progress is a courtesy
                    watcher.poll(client, run_id)
            if run.state is not None and run.state.is_final():
                break
            if time.monotonic() > deadline:
                raise ConfigurationError(
                    f"Flow run {run_id} is still {run.state.name if run.state else 'pending'} "
                    f"after {int(timeout)} s; is a worker of pool '{run.work_pool_name}' "
                    "running? (`prefect worker start --pool ...`)"
                )
            time.sleep(poll)
    return run_report(run_id)


def run_report(run_id: uuid.UUID) -> dict[str, Any]:
    """A finished run's report, rebuilt from its state, tags, artifacts and task runs."""
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id]))
        )
    job = (run.parameters or {}).get("job") or {}
    state = run.state
    name = (state.name if state else None) or "Unknown"
    report: dict[str, Any] = {
        "job": job.get("name"),
        "flow_run_id": str(run.id),
        "load_type": job.get("load_type", "catalog"),
        "state_name": name,
        "status": {"Completed": "completed", "Partial": "partial", "Skipped": "skipped"}.get(
            name, "failed"
        ),
        "rows_extracted": 0,
        "rows_loaded": 0,
        "rows_rejected": 0,
    }
    if report["status"] == "failed":
        message = (state.message if state else "") or ""
        stage = next((t.split(":", 1)[1] for t in run.tags if t.startswith("etl-error:")), None)
        if stage and message.startswith(f"[{stage}] "):
            message = message[len(stage) + 3 :]
        report["error_type"], report["error"] = stage or "unknown", message or name
    elif report["status"] == "skipped":
        report["error"] = state.message if state else None
    for artifact in artifacts:
        figures = artifact_figures(artifact.data) if artifact.type == "table" else {}
        key = artifact.key or ""
        if key.endswith("-extract"):
            report["rows_extracted"] = int(figures.get("rows extracted") or 0)
            report["rows_rejected"] = int(figures.get("rows rejected") or 0)
            report["watermark_before"] = figures.get("watermark before") or None
            report["watermark_after"] = figures.get("watermark after") or None
        elif key.endswith("-load"):
            report["rows_loaded"] = int(figures.get("rows loaded") or 0)
            report["destination"] = figures.get("destination")
    stages = {}
    for task in sorted(tasks, key=lambda t: t.start_time or dt.datetime.max.replace(tzinfo=dt.UTC)):
        stage = task.name.split("-")[0]
        seconds = task.total_run_time.total_seconds() if task.total_run_time else None
        stages[stage] = {"seconds": round(seconds, 3) if seconds is not None else None}
    report["stages"] = stages
    if run.total_run_time:
        report["duration_seconds"] = round(run.total_run_time.total_seconds(), 3)
    return report


# --- pause, resume, edit, delete -----------------------------------------------------------------


def set_paused(name: str, paused: bool, prefect_yaml: str | Path | None = None) -> None:
    """Pause (no scheduled runs; a run started by hand still runs) or resume a job."""
    file = PrefectYaml(project_file(prefect_yaml))
    deployment = deployment_id(name)
    with get_client(sync_client=True) as client:
        if paused:
            client.pause_deployment(deployment)
        else:
            client.resume_deployment(deployment)
    if file.set_paused(name, paused):
        file.save()


@dataclass
class Edited:
    name: str
    changed: list[str]
    columns_added: list[str] = field(default_factory=list)
    applied: Applied | None = None


def deployed_definition(name: str, prefect_yaml: str | Path | None) -> tuple[JobDefinition, bool]:
    """A job's definition and whether it is paused: from prefect.yaml, else from the server."""
    deployed = PrefectYaml(project_file(prefect_yaml)).job(name)
    if deployed is not None:
        return deployed.definition, deployed.paused
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
        except ObjectNotFound:
            raise ConfigurationError(
                f"Job '{name}' does not exist; `etl job list` shows the jobs."
            ) from None
    return _definition_from_server(deployment), bool(deployment.paused)


def edit_job(
    name: str, changes: Mapping[str, Any], prefect_yaml: str | Path | None = None
) -> Edited:
    """Change what may change on a job (schedule, timezone, description, columns and the other
    settings); refuse what may not (source, connection, load type, destination, cursor, keys)
    with the reason and the way instead. Added columns are added to the table as NULLABLE."""
    current, paused = deployed_definition(name, prefect_yaml)
    before = current.to_file()
    if "name" in changes and changes["name"] != name:
        raise ConfigurationError(
            f"Job '{name}' cannot be renamed in place: its name names its deployment, slot and "
            "load jobs. Create a job with the new name (same destination table) and delete this "
            "one with `etl job delete`."
        )
    for key, reason in FROZEN_FIELDS.items():
        if key in changes and _normal(changes[key], key) != _normal(before.get(key), key):
            raise ConfigurationError(
                f"Job '{name}': {key} cannot change on an existing job ({reason}). Create a new "
                f"job with the new {key} (`etl job apply NEW.yaml`), then delete this one."
            )
    merged = {**before, **changes}
    if "schedule" in changes and "timezone" not in changes:
        merged["timezone"] = current.deployment.schedule.timezone
    updated = parse_job_definition(merged, f"job '{name}'")
    changed = sorted(
        k for k in set(before) | set(updated.to_file()) if before.get(k) != updated.to_file().get(k)
    )
    edited = Edited(name=name, changed=changed)
    if not changed:
        return edited
    new_columns = set(updated.job.columns) - set(current.job.columns)
    if updated.job.columns != current.job.columns or "column_types" in changed:
        applied = validate_and_create_table(updated)
        edited.columns_added = [p.name for p in applied.plans if p.source.name in new_columns]
    edited.applied = deploy_definition(updated, prefect_yaml, paused=paused)
    return edited


def _normal(value: Any, key: str) -> Any:
    if key == "source" and isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k != "kind"}
    if key == "destination" and value is None:
        return {}
    return value


@dataclass
class Deleted:
    name: str
    deployment: bool
    prefect_yaml: bool
    concurrency_limit: bool
    table_dropped: str | None = None


def delete_job(
    name: str, prefect_yaml: str | Path | None = None, drop_table: bool = False
) -> Deleted:
    """Remove the job's deployment (with its schedule and scheduled runs), its entry in
    prefect.yaml and its concurrency slot; its BigQuery table stays unless `drop_table`."""
    definition, _paused = deployed_definition(name, prefect_yaml)
    table = None
    if drop_table:
        table = _drop_table(definition)
    deleted = Deleted(name=name, deployment=False, prefect_yaml=False, concurrency_limit=False)
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
            client.delete_deployment(deployment.id)
            deleted.deployment = True
        except ObjectNotFound:
            pass
        try:
            client.delete_global_concurrency_limit_by_name(limit_name(name))
            deleted.concurrency_limit = True
        except ObjectNotFound:
            pass
        with contextlib.suppress(ObjectNotFound):
            client.delete_variable_by_name(record_name(name))
    file = PrefectYaml(project_file(prefect_yaml))
    if file.remove(name):
        file.save()
        deleted.prefect_yaml = True
    deleted.table_dropped = table
    return deleted


def _drop_table(definition: JobDefinition) -> str:
    from etl_bigquery.blocks.registry import load_destination

    job = definition.job
    destination = load_destination(job.destination.block)
    settings = destination.settings()
    dataset = job.destination.dataset or settings.default_dataset
    table = f"{settings.project}.{dataset}.{job.destination_table}"
    clients = destination.clients()
    try:
        clients.bigquery.delete_table(table, not_found_ok=True)
        clients.bigquery.delete_table(f"{table}__rejected", not_found_ok=True)
    finally:
        clients.close()
    return table


def job_file_text(name: str, prefect_yaml: str | Path | None = None) -> dict[str, Any]:
    """The job file that gives this job back (for `etl job edit` and the console)."""
    definition, _ = deployed_definition(name, prefect_yaml)
    return {**job_fields(definition.job), **definition.deployment.to_file()}
