"""Job and connection files: YAML, with `${VAR}` taken from the environment.

Where `${VAR}` is expanded: everywhere in a connection file (credentials, hosts: what it is for),
and in a job file only in the fields that name where things are (JOB_ENVIRONMENT_FIELDS). A job's
fields become the flow's parameters and are written into prefect.yaml, so a variable expanded in
`query:` (or any other field) would copy its value, possibly a secret, into the SQL, prefect.yaml
and every flow run's parameters: it is refused there with a sentence.

Errors name the file and the field, in one sentence each, so a user knows what to fix.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import JobSpec
from etl_bigquery.service.schedule import DEFAULT_TIMEZONE, Schedule, ScheduleError, parse_schedule

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_environment(value: Any, where: str) -> Any:
    """Replace `${NAME}` in every string with the environment variable NAME."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigurationError(f"{where}: environment variable {name} is not set.")
            return os.environ[name]

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {key: expand_environment(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_environment(item, where) for item in value]
    return value


# Job-file fields (dotted paths) in which `${VAR}` is expanded: names of blocks and pools, and
# where the cloud side lives, which differ between environments. Nothing here is secret.
JOB_ENVIRONMENT_FIELDS = frozenset({
    "connection", "destination.block", "destination.dataset", "work_pool",
    "dataflow.region", "dataflow.service_account", "dataflow.temp_location",
    "dataflow.subnetwork",
})  # fmt: skip


def expand_job_environment(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A job file's fields with `${VAR}` expanded in JOB_ENVIRONMENT_FIELDS; a `${VAR}` anywhere
    else is refused with one sentence (it would be copied into prefect.yaml and parameters)."""

    def walk(value: Any, path: str) -> Any:
        if path in JOB_ENVIRONMENT_FIELDS:
            return expand_environment(value, where)
        if isinstance(value, dict):
            return {key: walk(item, f"{path}.{key}" if path else str(key))
                    for key, item in value.items()}  # fmt: skip
        if isinstance(value, list):
            return [walk(item, path) for item in value]
        if isinstance(value, str) and (found := _VARIABLE.search(value)):
            allowed = ", ".join(sorted(JOB_ENVIRONMENT_FIELDS))
            raise ConfigurationError(
                f"{where}: {path} holds ${{{found.group(1)}}}, but environment variables are "
                f"expanded in a job file only in {allowed} (a value in {path} would be copied "
                "into prefect.yaml and the flow-run parameters); write the value itself."
            )
        return value

    return walk(data, "")


def read_yaml_documents(path: str | Path) -> list[dict[str, Any]]:
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"File {file} does not exist.")
    try:
        documents = [doc for doc in yaml.safe_load_all(file.read_text()) if doc is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigurationError(f"{file} is not valid YAML{line}.") from None
    for document in documents:
        if not isinstance(document, dict):
            raise ConfigurationError(f"{file}: each document must be a mapping of fields.")
    return documents


def describe_validation_error(error: pydantic.ValidationError, where: str) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"] if not isinstance(part, int))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "missing":
            message = "is required"
        problems.append(f"{location} {message}" if location else message)
    return f"{where}: " + "; ".join(problems) + "."


def parse_job(data: dict[str, Any], where: str) -> JobSpec:
    try:
        return JobSpec.model_validate(data)
    except pydantic.ValidationError as error:
        raise ConfigurationError(describe_validation_error(error, where)) from None


def load_job_file(path: str | Path) -> JobSpec:
    """The job (the flow's parameter) of a job file; its deployment fields are checked too."""
    return load_job_definition(path).job


# A job file holds the job (the flow's only parameter) and, beside it, how its deployment runs.
# These fields never reach the flow: they configure the deployment in prefect.yaml.
DEPLOYMENT_FIELDS = (
    "schedule",
    "timezone",
    "description",
    "work_pool",
    "job_variables",
    "max_duration",
    "scheduler",
)
DEFAULT_WORK_POOL = "etl-local"
DEFAULT_MAX_DURATION = dt.timedelta(hours=2)
SCHEDULERS = ("prefect", "cloud-scheduler")
_DURATION_TEXT = re.compile(r"^(\d+)\s*(s|m|h|d)?$")
_SECONDS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class DeploymentSettings:
    """How a job's deployment runs: when, where, and when a run counts as stuck."""

    schedule: Schedule = field(default_factory=Schedule)
    description: str | None = None
    work_pool: str = DEFAULT_WORK_POOL
    job_variables: dict[str, Any] = field(default_factory=dict)
    max_duration: dt.timedelta = DEFAULT_MAX_DURATION
    """A run Running longer than this raises the stuck-run alert."""
    scheduler: str = "prefect"
    """prefect: Prefect's scheduler starts the runs; cloud-scheduler: Cloud Scheduler does
    (infra/terraform), and the Prefect schedule is kept inactive so runs never start twice."""

    def to_file(self) -> dict[str, Any]:
        """The job file fields that give these settings back (defaults left out)."""
        fields: dict[str, Any] = {"schedule": self.schedule.to_file()}
        if self.schedule.timezone != DEFAULT_TIMEZONE:
            fields["timezone"] = self.schedule.timezone
        if self.description:
            fields["description"] = self.description
        if self.work_pool != DEFAULT_WORK_POOL:
            fields["work_pool"] = self.work_pool
        if self.job_variables:
            fields["job_variables"] = dict(self.job_variables)
        if self.max_duration != DEFAULT_MAX_DURATION:
            fields["max_duration"] = format_duration(self.max_duration)
        if self.scheduler != "prefect":
            fields["scheduler"] = self.scheduler
        return fields


@dataclass(frozen=True)
class JobDefinition:
    """A whole job file: the job and its deployment settings."""

    job: JobSpec
    deployment: DeploymentSettings
    warnings: tuple[str, ...] = ()

    def to_file(self) -> dict[str, Any]:
        """The job file's content: job fields (defaults left out), then deployment fields."""
        return {**job_fields(self.job), **self.deployment.to_file()}


def job_fields(job: JobSpec) -> dict[str, Any]:
    """The job as it is written in files and in the deployment's parameters: defaults left out,
    except the load type, which a reader should never have to guess."""
    fields = job.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    fields.setdefault("load_type", job.load_type.value)
    return fields


def format_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(value: Any, where: str) -> dt.timedelta:
    text = str(value).strip().lower() if isinstance(value, int | str) else ""
    match = _DURATION_TEXT.match(text) if not isinstance(value, bool) else None
    if not match or int(match.group(1)) == 0:
        raise ConfigurationError(
            f"{where}: max_duration {value!r} is not a duration such as 90m, 2h or 1d."
        )
    return dt.timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])


def parse_deployment_settings(data: dict[str, Any], where: str) -> DeploymentSettings:
    try:
        schedule = parse_schedule(data.get("schedule"), data.get("timezone"))
    except ScheduleError as error:
        raise ConfigurationError(f"{where}: {error.message}") from None
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigurationError(f"{where}: description must be text.")
    pool = data.get("work_pool", DEFAULT_WORK_POOL)
    if not isinstance(pool, str) or not _POOL_NAME.match(pool):
        raise ConfigurationError(f"{where}: work_pool must be the name of a Prefect work pool.")
    variables = data.get("job_variables") or {}
    if not isinstance(variables, dict):
        raise ConfigurationError(
            f"{where}: job_variables must be a mapping, e.g. {{cpu: 2000, memory: 4096}}."
        )
    max_duration = DEFAULT_MAX_DURATION
    if data.get("max_duration") is not None:
        max_duration = parse_duration(data["max_duration"], where)
    scheduler = data.get("scheduler", "prefect")
    if scheduler not in SCHEDULERS:
        raise ConfigurationError(
            f"{where}: scheduler {scheduler!r} is not one of {', '.join(SCHEDULERS)}."
        )
    if scheduler == "cloud-scheduler" and schedule.cron is None:
        raise ConfigurationError(
            f"{where}: scheduler cloud-scheduler needs a schedule other than manual."
        )
    return DeploymentSettings(
        schedule=schedule,
        description=description,
        work_pool=pool,
        job_variables=dict(variables),
        max_duration=max_duration,
        scheduler=scheduler,
    )


def parse_job_definition(data: dict[str, Any], where: str) -> JobDefinition:
    """Split a job file's fields into the job and its deployment settings; validate both."""
    job_data = {k: v for k, v in data.items() if k not in DEPLOYMENT_FIELDS}
    settings = parse_deployment_settings(data, where)
    job = parse_job(job_data, where)
    return JobDefinition(job, settings, settings.schedule.warnings)


def load_job_definition(path: str | Path) -> JobDefinition:
    documents = read_yaml_documents(path)
    if len(documents) != 1:
        raise ConfigurationError(f"{path}: a job file holds exactly one job.")
    return parse_job_definition(expand_job_environment(documents[0], str(path)), str(path))
